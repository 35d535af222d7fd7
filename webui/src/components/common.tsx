/** Small pieces that several views share. */

import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";
import { STATUSES, type StatusCounts, type TimerStatus } from "../api";
import type { LiveState } from "../live";
import { formatTime, relativeTime } from "../time";

export function StatusBadge({ status }: { status: TimerStatus }) {
  return <span class={`badge status-${status}`}>{status}</span>;
}

/** A time as local text, its UTC value in the markup and on hover. */
export function Time({
  iso,
  relative = false,
}: {
  iso: string | null;
  relative?: boolean;
}) {
  if (!iso) {
    return <span class="none">—</span>;
  }

  return (
    <time dateTime={iso} title={iso}>
      {formatTime(iso)}
      {relative ? <span class="relative"> ({relativeTime(iso)})</span> : null}
    </time>
  );
}

export function CountsBar({ counts, label }: { counts: StatusCounts; label: string }) {
  return (
    <ul class="counts" aria-label={label}>
      {STATUSES.map((status) => (
        <li key={status} class={`count status-${status}`} data-status={status}>
          <span class="count-value">{counts[status]}</span> <span>{status}</span>
        </li>
      ))}
    </ul>
  );
}

const LIVE_TEXT: Record<LiveState, string> = {
  connecting: "Connecting to live updates…",
  live: "Live: changes appear by themselves",
  reconnecting: "Live updates lost; reconnecting…",
  refused: "No live updates: the API key does not cover this namespace",
};

export function LiveIndicator({ state }: { state: LiveState }) {
  return (
    <p class={`live live-${state}`} data-live={state} role="status">
      <span class="dot" aria-hidden="true" />
      {LIVE_TEXT[state]}
    </p>
  );
}

interface ConfirmProps {
  open: boolean;
  title: string;
  confirmLabel: string;
  cancelLabel: string;
  busy?: boolean;
  children: ComponentChildren;
  onConfirm(): void;
  onClose(): void;
}

/** A modal `dialog`: Escape and the cancel button close it. */
export function ConfirmDialog(props: ConfirmProps) {
  const dialog = useRef<HTMLDialogElement>(null);

  useEffect(() => {
    const element = dialog.current;
    if (!element) {
      return;
    }

    if (props.open && !element.open) {
      element.showModal();
    } else if (!props.open && element.open) {
      element.close();
    }
  }, [props.open]);

  return (
    <dialog
      ref={dialog}
      class="confirm"
      aria-labelledby="confirm-title"
      onClose={props.onClose}
    >
      <form
        method="dialog"
        onSubmit={(event) => {
          event.preventDefault();
          props.onConfirm();
        }}
      >
        <h2 id="confirm-title">{props.title}</h2>
        {props.children}
        <div class="actions">
          <button type="button" class="secondary" autofocus onClick={props.onClose}>
            {props.cancelLabel}
          </button>
          <button type="submit" class="danger" disabled={props.busy}>
            {props.confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}
