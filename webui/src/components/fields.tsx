/** Form controls with a label, a hint and the reason the server gave. */

import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { localInputOf, localZone } from "../time";

export type FieldErrors = Record<string, string>;

interface FieldProps {
  id: string;
  label: string;
  hint?: ComponentChildren;
  error?: string | undefined;
  children: ComponentChildren;
}

/** The control itself is the child; it must carry `id` and `describedBy(...)`. */
export function Field({ id, label, hint, error, children }: FieldProps) {
  return (
    <div class={error ? "field invalid" : "field"}>
      <label for={id}>{label}</label>
      {children}
      {hint ? (
        <p class="hint" id={`${id}-hint`}>
          {hint}
        </p>
      ) : null}
      <FieldError id={id} error={error} />
    </div>
  );
}

export function FieldError({ id, error }: { id: string; error?: string | undefined }) {
  return error ? (
    <p class="field-error" id={`${id}-error`}>
      {error}
    </p>
  ) : null;
}

/** The ids of the hint and the error of `id`, for `aria-describedby`. */
export function describedBy(id: string, hint: boolean, error: string | undefined) {
  const ids = [hint ? `${id}-hint` : "", error ? `${id}-error` : ""].filter(Boolean);
  return ids.length ? ids.join(" ") : undefined;
}

const SHORTCUT_MINUTES = [1, 5, 15, 60] as const;

interface FireTimeProps {
  id: string;
  label: string;
  value: string;
  error?: string | undefined;
  onChange(value: string): void;
}

/** A local date and time, the zone named, with "in N minutes" shortcuts. */
export function FireTimeField({ id, label, value, error, onChange }: FireTimeProps) {
  const [zone] = useState(() => localZone());

  return (
    <div class={error ? "field invalid" : "field"}>
      <label for={id}>{label}</label>
      <input
        id={id}
        name={id}
        type="datetime-local"
        step={1}
        value={value}
        aria-invalid={error ? "true" : undefined}
        aria-describedby={describedBy(id, true, error)}
        onInput={(event) => onChange(event.currentTarget.value)}
      />
      <p class="hint" id={`${id}-hint`}>
        Local time, <span data-zone>{zone}</span>
      </p>
      <fieldset class="shortcuts">
        <legend class="visually-hidden">Set the {label.toLowerCase()} from now</legend>
        {SHORTCUT_MINUTES.map((minutes) => (
          <button
            key={minutes}
            type="button"
            class="small"
            onClick={() =>
              onChange(localInputOf(new Date(Date.now() + minutes * 60_000)))
            }
          >
            in {minutes} min
          </button>
        ))}
      </fieldset>
      <FieldError id={id} error={error} />
    </div>
  );
}

/** The JSON in `text`, or why it is not JSON; empty text is no value. */
export function parseJsonText(
  text: string,
): { ok: true; value: unknown; empty: boolean } | { ok: false; error: string } {
  if (!text.trim()) {
    return { ok: true, value: null, empty: true };
  }

  try {
    return { ok: true, value: JSON.parse(text), empty: false };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { ok: false, error: `Not valid JSON: ${reason}` };
  }
}

interface JsonFieldProps {
  id: string;
  label: string;
  value: string;
  /** The server's reason, shown when the text itself parses. */
  error?: string | undefined;
  onChange(value: string): void;
}

/** A JSON text area that says at each keystroke whether the text parses. */
export function JsonField({ id, label, value, error, onChange }: JsonFieldProps) {
  const parsed = parseJsonText(value);
  const shown = parsed.ok ? error : parsed.error;

  return (
    <Field id={id} label={label} hint="Any JSON value; empty means null." error={shown}>
      <textarea
        id={id}
        name={id}
        rows={6}
        spellcheck={false}
        class="code"
        value={value}
        aria-invalid={shown ? "true" : undefined}
        aria-describedby={describedBy(id, true, shown)}
        onInput={(event) => onChange(event.currentTarget.value)}
      />
    </Field>
  );
}
