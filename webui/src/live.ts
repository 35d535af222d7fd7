/** Live changes of one namespace's timers, from the server-sent events. */

import { useEffect, useRef, useState } from "preact/hooks";
import { eventsUrl, type Timer } from "./api";

export const EVENT_KINDS = [
  "created",
  "updated",
  "deleted",
  "delivered",
  "rescheduled",
  "retrying",
  "failed",
] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

export interface TimerEvent {
  kind: EventKind;
  timer: Timer;
}

export type LiveState = "connecting" | "live" | "reconnecting";

export interface LiveHandlers {
  onEvent(event: TimerEvent): void;
  /**
   * The subscription is live: after a reconnect changes may have been
   * missed, so what the view shows must be loaded again.
   */
  onReady(reconnected: boolean): void;
}

// EventSource reconnects by itself after a dropped stream, but gives up for
// good on an HTTP error; then the page tries again at this pace.
const REOPEN_DELAY_MS = 5000;

export function useLiveEvents(namespace: string, handlers: LiveHandlers): LiveState {
  const [state, setState] = useState<LiveState>("connecting");
  const latest = useRef(handlers);
  latest.current = handlers;

  useEffect(() => {
    let source: EventSource | undefined;
    let reopen: ReturnType<typeof setTimeout> | undefined;
    let readyBefore = false;
    setState("connecting");

    const open = () => {
      source = new EventSource(eventsUrl(namespace));
      source.addEventListener("ready", () => {
        setState("live");
        latest.current.onReady(readyBefore);
        readyBefore = true;
      });

      for (const kind of EVENT_KINDS) {
        source.addEventListener(kind, (message) => {
          const event = parseEvent(kind, (message as MessageEvent<string>).data);
          if (event) {
            latest.current.onEvent(event);
          }
        });
      }

      source.addEventListener("error", () => {
        setState("reconnecting");
        if (source?.readyState === EventSource.CLOSED) {
          source.close();
          reopen = setTimeout(open, REOPEN_DELAY_MS);
        }
      });
    };

    open();
    return () => {
      clearTimeout(reopen);
      source?.close();
    };
  }, [namespace]);

  return state;
}

function parseEvent(kind: EventKind, data: string): TimerEvent | undefined {
  try {
    const parsed = JSON.parse(data) as { timer?: Timer };
    return parsed.timer ? { kind, timer: parsed.timer } : undefined;
  } catch {
    return undefined;
  }
}

/** Call `action` at most once per `delayMs`, after the first request. */
export function useThrottled(action: () => void, delayMs: number): () => void {
  const latest = useRef(action);
  latest.current = action;
  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  useEffect(() => () => clearTimeout(pending.current), []);

  const request = useRef(() => {
    if (pending.current !== undefined) {
      return;
    }

    pending.current = setTimeout(() => {
      pending.current = undefined;
      latest.current();
    }, delayMs);
  });
  return request.current;
}
