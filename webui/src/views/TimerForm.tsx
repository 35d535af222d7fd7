/** The form that creates a timer in one namespace. */

import { useEffect, useRef, useState } from "preact/hooks";
import {
  ApiError,
  CALLBACK_TIMEOUT_DEFAULT,
  createTimer,
  describeError,
  RETRY_DEFAULTS,
  type Timer,
} from "../api";
import {
  describedBy,
  Field,
  FieldError,
  type FieldErrors,
  FireTimeField,
  JsonField,
  parseJsonText,
} from "../components/fields";
import { setFlash } from "../flash";
import { formatRoute, listOf, navigate } from "../route";
import { fromLocalInput } from "../time";

interface HeaderRow {
  key: number;
  name: string;
  value: string;
}

interface RetryField {
  name: keyof typeof RETRY_DEFAULTS;
  id: string;
  label: string;
  placeholder: string;
  hint: string;
}

const RETRY_FIELDS: RetryField[] = [
  {
    name: "max_attempts",
    id: "retry-max-attempts",
    label: "Max attempts",
    placeholder: String(RETRY_DEFAULTS.max_attempts),
    hint: "Attempts in all, the first included; 0 is unlimited.",
  },
  {
    name: "initial_interval_seconds",
    id: "retry-initial-interval",
    label: "Initial interval (s)",
    placeholder: String(RETRY_DEFAULTS.initial_interval_seconds),
    hint: "Wait before the second attempt.",
  },
  {
    name: "backoff_coefficient",
    id: "retry-backoff",
    label: "Backoff coefficient",
    placeholder: RETRY_DEFAULTS.backoff_coefficient.toFixed(1),
    hint: "Each wait grows by this factor; at least 1.",
  },
  {
    name: "max_interval_seconds",
    id: "retry-max-interval",
    label: "Max interval (s)",
    placeholder: String(RETRY_DEFAULTS.max_interval_seconds),
    hint: "Cap on one wait.",
  },
  {
    name: "max_duration_seconds",
    id: "retry-max-duration",
    label: "Max duration (s)",
    placeholder: "none",
    hint: "Give up this long after the first attempt; empty is never.",
  },
];

/** The inputs that an API field path points at, for the server's reasons. */
const FIELD_INPUTS: Record<string, string> = {
  id: "timer-id",
  fire_at: "fire-at",
  delay_seconds: "fire-at",
  callback: "callback-url",
  "callback.url": "callback-url",
  "callback.timeout_seconds": "callback-timeout",
  "callback.headers": "headers",
  payload: "payload",
  retry_policy: "retry-policy",
  ...Object.fromEntries(
    RETRY_FIELDS.map((field) => [`retry_policy.${field.name}`, field.id]),
  ),
};

export function inputForField(field: string, headers: HeaderRow[]): string | undefined {
  const direct = FIELD_INPUTS[field];
  if (direct) {
    return direct;
  }

  const prefix = "callback.headers.";
  if (field.startsWith(prefix)) {
    const name = field.slice(prefix.length);
    const row = headers.find((header) => header.name.trim() === name);
    return row ? `header-name-${row.key}` : "headers";
  }

  return undefined;
}

interface Message {
  tone: "error" | "info";
  text: string;
  existing?: Timer;
  unplaced?: { field: string; reason: string }[];
}

export function TimerForm({ namespace }: { namespace: string }) {
  const [id, setId] = useState("");
  const [fireAt, setFireAt] = useState("");
  const [url, setUrl] = useState("");
  const [timeout, setTimeoutText] = useState("");
  const [headers, setHeaders] = useState<HeaderRow[]>([]);
  const [payload, setPayload] = useState("");
  const [retry, setRetry] = useState<Record<string, string>>({});
  const [errors, setErrors] = useState<FieldErrors>({});
  const [message, setMessage] = useState<Message | undefined>();
  const [busy, setBusy] = useState(false);
  const nextKey = useRef(1);
  const form = useRef<HTMLFormElement>(null);
  const focusAfterErrors = useRef(false);

  useEffect(() => {
    document.title = `New timer in ${namespace} · Timers`;
  }, [namespace]);

  // After the errors render, move to the first named field, in form order.
  useEffect(() => {
    if (!focusAfterErrors.current) {
      return;
    }

    focusAfterErrors.current = false;
    const invalid = form.current?.querySelector<HTMLElement>("[aria-invalid='true']");
    invalid?.focus();
  }, [errors]);

  const clearError = (inputId: string) => {
    if (errors[inputId]) {
      const { [inputId]: _, ...rest } = errors;
      setErrors(rest);
    }
  };

  const addHeader = () => {
    const key = nextKey.current++;
    setHeaders([...headers, { key, name: "", value: "" }]);
    // The new row's name is the next thing to type.
    requestAnimationFrame(() => document.getElementById(`header-name-${key}`)?.focus());
  };

  const updateHeader = (key: number, change: Partial<HeaderRow>) => {
    setHeaders(headers.map((row) => (row.key === key ? { ...row, ...change } : row)));
    clearError(`header-name-${key}`);
  };

  const removeHeader = (key: number) => {
    setHeaders(headers.filter((row) => row.key !== key));
    document.getElementById("add-header")?.focus();
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    setMessage(undefined);

    const { body, problems } = buildBody();
    if (Object.keys(problems).length > 0) {
      focusAfterErrors.current = true;
      setErrors(problems);
      return;
    }

    setBusy(true);
    try {
      const { timer, created } = await createTimer(namespace, body);
      setFlash(
        created
          ? `Timer ${timer.id} created.`
          : `A timer ${timer.id} with the same definition already existed; nothing changed.`,
      );
      navigate({ name: "details", namespace, id: timer.id });
    } catch (error) {
      showFailure(error);
    } finally {
      setBusy(false);
    }
  };

  function buildBody(): { body: Record<string, unknown>; problems: FieldErrors } {
    const problems: FieldErrors = {};
    const body: Record<string, unknown> = { id: id.trim() };

    const fireAtIso = fromLocalInput(fireAt);
    if (fireAtIso) {
      body.fire_at = fireAtIso;
    }

    const callback: Record<string, unknown> = { url: url.trim() };
    readNumber(timeout, "callback-timeout", problems, (value) => {
      callback.timeout_seconds = value;
    });

    const headerObject: Record<string, string> = {};
    for (const row of headers) {
      const name = row.name.trim();
      if (!name && !row.value) {
        continue;
      }

      if (name in headerObject) {
        problems[`header-name-${row.key}`] = `${name} is given twice`;
      }

      headerObject[name] = row.value;
    }

    if (Object.keys(headerObject).length > 0) {
      callback.headers = headerObject;
    }

    body.callback = callback;

    const parsed = parseJsonText(payload);
    if (!parsed.ok) {
      problems.payload = parsed.error;
    } else if (!parsed.empty) {
      body.payload = parsed.value;
    }

    const policy: Record<string, unknown> = {};
    for (const field of RETRY_FIELDS) {
      readNumber(retry[field.name] ?? "", field.id, problems, (value) => {
        policy[field.name] = value;
      });
    }

    if (Object.keys(policy).length > 0) {
      body.retry_policy = policy;
    }

    return { body, problems };
  }

  function showFailure(error: unknown) {
    if (error instanceof ApiError && error.status === 400 && error.fields.length > 0) {
      const placed: FieldErrors = {};
      const unplaced: { field: string; reason: string }[] = [];
      for (const problem of error.fields) {
        const input = inputForField(problem.field, headers);
        if (input) {
          placed[input] = placed[input]
            ? `${placed[input]}; ${problem.reason}`
            : problem.reason;
        } else {
          unplaced.push(problem);
        }
      }

      focusAfterErrors.current = true;
      setErrors(placed);
      setMessage({
        tone: "error",
        text: "The server did not take the timer: see the marked fields.",
        unplaced,
      });
      return;
    }

    if (error instanceof ApiError && error.status === 409) {
      const existing = error.details.existing as Timer | undefined;
      setErrors({ "timer-id": "A different timer already has this id." });
      setMessage({
        tone: "error",
        text: `A different timer with the id ${id.trim()} already exists in ${namespace}.`,
        ...(existing ? { existing } : {}),
      });
      return;
    }

    if (
      error instanceof ApiError &&
      error.status === 413 &&
      error.details.field === "payload"
    ) {
      setErrors({ payload: error.message });
      return;
    }

    setMessage({ tone: "error", text: describeError(error) });
  }

  return (
    <section aria-labelledby="form-title">
      <nav class="breadcrumbs" aria-label="Breadcrumbs">
        <a href={formatRoute(listOf(namespace))}>Timers in {namespace}</a>
      </nav>
      <h1 id="form-title">New timer in {namespace}</h1>

      <form ref={form} class="timer-form" noValidate onSubmit={submit}>
        <fieldset>
          <legend>When and what</legend>
          <Field
            id="timer-id"
            label="Timer id"
            hint="Letters, digits and . _ : @ -; unique in the namespace."
            error={errors["timer-id"]}
          >
            <input
              id="timer-id"
              name="id"
              type="text"
              autocomplete="off"
              required
              value={id}
              aria-invalid={errors["timer-id"] ? "true" : undefined}
              aria-describedby={describedBy("timer-id", true, errors["timer-id"])}
              onInput={(event) => {
                setId(event.currentTarget.value);
                clearError("timer-id");
              }}
            />
          </Field>
          <FireTimeField
            id="fire-at"
            label="Fire time"
            value={fireAt}
            error={errors["fire-at"]}
            onChange={(value) => {
              setFireAt(value);
              clearError("fire-at");
            }}
          />
          <JsonField
            id="payload"
            label="Payload (JSON)"
            value={payload}
            error={errors.payload}
            onChange={(value) => {
              setPayload(value);
              clearError("payload");
            }}
          />
        </fieldset>

        <fieldset>
          <legend>Callback</legend>
          <Field
            id="callback-url"
            label="Callback URL"
            hint="An absolute http or https URL, POSTed at the fire time."
            error={errors["callback-url"]}
          >
            <input
              id="callback-url"
              name="callback_url"
              type="url"
              inputMode="url"
              autocomplete="url"
              required
              value={url}
              aria-invalid={errors["callback-url"] ? "true" : undefined}
              aria-describedby={describedBy(
                "callback-url",
                true,
                errors["callback-url"],
              )}
              onInput={(event) => {
                setUrl(event.currentTarget.value);
                clearError("callback-url");
              }}
            />
          </Field>
          <Field
            id="callback-timeout"
            label="Timeout (s)"
            hint="Per attempt, 0.1 to 300."
            error={errors["callback-timeout"]}
          >
            <input
              id="callback-timeout"
              name="callback_timeout"
              type="text"
              inputMode="decimal"
              placeholder={String(CALLBACK_TIMEOUT_DEFAULT)}
              value={timeout}
              aria-invalid={errors["callback-timeout"] ? "true" : undefined}
              aria-describedby={describedBy(
                "callback-timeout",
                true,
                errors["callback-timeout"],
              )}
              onInput={(event) => {
                setTimeoutText(event.currentTarget.value);
                clearError("callback-timeout");
              }}
            />
          </Field>

          <fieldset
            class={errors.headers ? "headers invalid" : "headers"}
            aria-describedby={describedBy("headers", false, errors.headers)}
            id="headers"
            tabIndex={-1}
            aria-invalid={errors.headers ? "true" : undefined}
          >
            <legend>Headers</legend>
            {headers.length === 0 ? <p class="hint">No extra headers.</p> : null}
            {headers.map((row, index) => {
              const nameId = `header-name-${row.key}`;
              const valueId = `header-value-${row.key}`;
              return (
                <div class="header-row" key={row.key}>
                  <div class={errors[nameId] ? "field invalid" : "field"}>
                    <label for={nameId}>Header {index + 1} name</label>
                    <input
                      id={nameId}
                      type="text"
                      autocomplete="off"
                      spellcheck={false}
                      value={row.name}
                      aria-invalid={errors[nameId] ? "true" : undefined}
                      aria-describedby={describedBy(nameId, false, errors[nameId])}
                      onInput={(event) =>
                        updateHeader(row.key, { name: event.currentTarget.value })
                      }
                    />
                    <FieldError id={nameId} error={errors[nameId]} />
                  </div>
                  <div class="field">
                    <label for={valueId}>Header {index + 1} value</label>
                    <input
                      id={valueId}
                      type="text"
                      autocomplete="off"
                      spellcheck={false}
                      value={row.value}
                      onInput={(event) =>
                        updateHeader(row.key, { value: event.currentTarget.value })
                      }
                    />
                  </div>
                  <button
                    type="button"
                    class="small secondary"
                    aria-label={`Remove header ${index + 1}`}
                    onClick={() => removeHeader(row.key)}
                  >
                    Remove
                  </button>
                </div>
              );
            })}
            <FieldError id="headers" error={errors.headers} />
            <button
              id="add-header"
              type="button"
              class="small secondary"
              onClick={addHeader}
            >
              Add header
            </button>
          </fieldset>
        </fieldset>

        <fieldset
          id="retry-policy"
          tabIndex={-1}
          aria-invalid={errors["retry-policy"] ? "true" : undefined}
          aria-describedby={describedBy("retry-policy", false, errors["retry-policy"])}
        >
          <legend>Retry policy</legend>
          <p class="hint">Empty fields take the defaults shown.</p>
          <div class="retry-grid">
            {RETRY_FIELDS.map((field) => (
              <Field
                key={field.id}
                id={field.id}
                label={field.label}
                hint={field.hint}
                error={errors[field.id]}
              >
                <input
                  id={field.id}
                  name={field.name}
                  type="text"
                  inputMode={field.name === "max_attempts" ? "numeric" : "decimal"}
                  placeholder={field.placeholder}
                  value={retry[field.name] ?? ""}
                  aria-invalid={errors[field.id] ? "true" : undefined}
                  aria-describedby={describedBy(field.id, true, errors[field.id])}
                  onInput={(event) => {
                    setRetry({ ...retry, [field.name]: event.currentTarget.value });
                    clearError(field.id);
                  }}
                />
              </Field>
            ))}
          </div>
          <FieldError id="retry-policy" error={errors["retry-policy"]} />
        </fieldset>

        <div class="messages" role="alert" id="form-message">
          {message ? (
            <div class={`message ${message.tone}`}>
              <p>{message.text}</p>
              {message.existing ? (
                <p>
                  <a
                    href={formatRoute({
                      name: "details",
                      namespace,
                      id: message.existing.id,
                    })}
                  >
                    Open the existing timer
                  </a>
                </p>
              ) : null}
              {message.unplaced?.length ? (
                <ul>
                  {message.unplaced.map((problem) => (
                    <li key={problem.field}>
                      <code>{problem.field}</code>: {problem.reason}
                    </li>
                  ))}
                </ul>
              ) : null}
            </div>
          ) : null}
        </div>

        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            {busy ? "Creating…" : "Create timer"}
          </button>
          <a class="button secondary" href={formatRoute(listOf(namespace))}>
            Back to the list
          </a>
        </div>
      </form>
    </section>
  );
}

/** Put a number typed in `text` into the body; text that is no number is a problem. */
function readNumber(
  text: string,
  inputId: string,
  problems: FieldErrors,
  put: (value: number) => void,
): void {
  const trimmed = text.trim();
  if (!trimmed) {
    return;
  }

  const value = Number(trimmed);
  if (Number.isFinite(value)) {
    put(value);
  } else {
    problems[inputId] = "must be a number";
  }
}
