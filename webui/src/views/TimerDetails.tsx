/** One timer: everything the API says of it, its attempts, edit and cancel. */

import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import {
  ApiError,
  type Attempt,
  deleteTimer,
  describeError,
  getTimer,
  listAttempts,
  type Timer,
  updateTimer,
} from "../api";
import { ConfirmDialog, LiveIndicator, StatusBadge, Time } from "../components/common";
import {
  type FieldErrors,
  FireTimeField,
  JsonField,
  parseJsonText,
} from "../components/fields";
import { setFlash, takeFlash } from "../flash";
import { useLiveEvents } from "../live";
import { formatRoute, listOf, navigate } from "../route";
import { fromLocalInput, toLocalInput } from "../time";

interface Props {
  namespace: string;
  id: string;
  reloadNamespaces(): void;
}

type Notice = { tone: "info" | "error"; text: string; reload?: boolean };

export function TimerDetails({ namespace, id, reloadNamespaces }: Props) {
  const [timer, setTimer] = useState<Timer | undefined>();
  const [attempts, setAttempts] = useState<Attempt[] | undefined>();
  const [loadError, setLoadError] = useState<string | undefined>();
  const [missing, setMissing] = useState(false);
  const [gone, setGone] = useState(false);
  const [notice, setNotice] = useState<Notice | undefined>(() => {
    const text = takeFlash();
    return text ? { tone: "info", text } : undefined;
  });
  const [editing, setEditing] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const shown = useRef<Timer | undefined>(undefined);
  shown.current = timer;

  useEffect(() => {
    document.title = `${id} in ${namespace} · Timers`;
  }, [namespace, id]);

  const loadAttempts = useCallback(async () => {
    try {
      setAttempts(await listAttempts(namespace, id));
    } catch (error) {
      // The timer's own 404 says more than the attempts' one.
      if (!(error instanceof ApiError && error.status === 404)) {
        setLoadError(describeError(error));
      }
    }
  }, [namespace, id]);

  const load = useCallback(async () => {
    try {
      const loaded = await getTimer(namespace, id);
      setTimer(loaded);
      setMissing(false);
      setGone(false);
      setLoadError(undefined);
      await loadAttempts();
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        setMissing(true);
      } else {
        setLoadError(describeError(error));
      }
    }
  }, [namespace, id, loadAttempts]);

  useEffect(() => {
    setTimer(undefined);
    setAttempts(undefined);
    setEditing(false);
    void load();
  }, [load]);

  const live = useLiveEvents(namespace, {
    onEvent(event) {
      if (event.timer.id !== id) {
        return;
      }

      if (event.kind === "deleted") {
        setGone(true);
        return;
      }

      const before = shown.current;
      if (!before || event.timer.version >= before.version) {
        setTimer(event.timer);
        setGone(false);
        setMissing(false);
      }

      if (event.kind !== "created" && event.kind !== "updated") {
        void loadAttempts();
      }
    },
    onReady(reconnected) {
      if (reconnected) {
        void load();
      }
    },
  });

  const confirmDelete = async () => {
    setDeleting(true);
    try {
      await deleteTimer(namespace, id);
      setFlash(`Timer ${id} cancelled: it will not fire.`);
      reloadNamespaces();
      navigate(listOf(namespace));
    } catch (error) {
      setConfirming(false);
      setNotice({
        tone: "error",
        text:
          error instanceof ApiError && error.status === 404
            ? "The timer no longer exists."
            : `Could not cancel the timer: ${describeError(error)}`,
      });
    } finally {
      setDeleting(false);
    }
  };

  const reload = () => {
    setNotice(undefined);
    setEditing(false);
    void load();
  };

  return (
    <section aria-labelledby="details-title" class="details">
      <nav class="breadcrumbs" aria-label="Breadcrumbs">
        <a href={formatRoute(listOf(namespace))}>Timers in {namespace}</a>
      </nav>
      <div class="title-row">
        <h1 id="details-title" class="timer-title">
          {id}
        </h1>
        {timer ? <StatusBadge status={timer.status} /> : null}
      </div>
      <LiveIndicator state={live} />

      <div role="alert" class="messages">
        {notice?.tone === "error" ? (
          <div class="message error" data-notice>
            <p>{notice.text}</p>
            {notice.reload ? (
              <button type="button" class="primary" onClick={reload}>
                Reload the timer
              </button>
            ) : null}
          </div>
        ) : null}
        {loadError ? (
          <div class="message error">
            <p>Could not load the timer: {loadError}</p>
            <button type="button" onClick={reload}>
              Try again
            </button>
          </div>
        ) : null}
        {missing ? (
          <div class="message error">
            <p>
              There is no timer {id} in {namespace}: it was deleted, or its retention
              ran out.
            </p>
          </div>
        ) : null}
        {gone ? (
          <div class="message error">
            <p>This timer was deleted: it will not fire.</p>
          </div>
        ) : null}
      </div>
      {notice?.tone === "info" ? (
        <div class="message info" role="status">
          <p>{notice.text}</p>
        </div>
      ) : null}

      {timer ? (
        <>
          <div class="actions">
            <button
              type="button"
              onClick={() => setEditing(!editing)}
              aria-expanded={editing ? "true" : "false"}
              aria-controls="edit-timer"
              disabled={gone}
            >
              {editing ? "Close the editor" : "Change fire time or payload"}
            </button>
            <button
              type="button"
              class="danger"
              onClick={() => setConfirming(true)}
              disabled={gone}
            >
              Cancel timer…
            </button>
          </div>

          {editing ? (
            <EditTimer
              timer={timer}
              onSaved={(saved) => {
                setTimer(saved);
                setEditing(false);
                setNotice({
                  tone: "info",
                  text: `Saved: the timer is now at version ${saved.version}.`,
                });
              }}
              onConflict={() =>
                setNotice({
                  tone: "error",
                  text: "This timer was changed by someone else since you opened it; reload to see the new version.",
                  reload: true,
                })
              }
              onFailure={(text) => setNotice({ tone: "error", text })}
            />
          ) : null}

          <TimerFacts timer={timer} />
          <AttemptsTable attempts={attempts} />
        </>
      ) : null}

      <ConfirmDialog
        open={confirming}
        title="Cancel this timer?"
        confirmLabel="Yes, cancel the timer"
        cancelLabel="Keep it"
        busy={deleting}
        onConfirm={() => void confirmDelete()}
        onClose={() => setConfirming(false)}
      >
        <p>
          The timer <strong>{id}</strong> will be deleted and will not fire. A delivery
          already under way may still arrive once.
        </p>
      </ConfirmDialog>
    </section>
  );
}

function TimerFacts({ timer }: { timer: Timer }) {
  const { callback, retry_policy: policy } = timer;
  const headers = Object.entries(callback.headers);

  return (
    <>
      <div class="facts-grid">
        <section aria-labelledby="state-title">
          <h2 id="state-title">State</h2>
          <dl class="facts">
            <dt>Namespace</dt>
            <dd>{timer.namespace}</dd>
            <dt>Status</dt>
            <dd data-field="status">
              <StatusBadge status={timer.status} />
            </dd>
            <dt>Fire time</dt>
            <dd data-field="fire_at">
              <Time iso={timer.fire_at} relative />
            </dd>
            <dt>Attempts</dt>
            <dd data-field="attempts">{timer.attempts}</dd>
            <dt>Next attempt</dt>
            <dd data-field="next_attempt_at">
              <Time iso={timer.next_attempt_at} relative />
            </dd>
            <dt>Last error</dt>
            <dd data-field="last_error">
              {timer.last_error ? (
                <>
                  <code>{timer.last_error.kind}</code>
                  {timer.last_error.status_code !== null
                    ? ` (HTTP ${timer.last_error.status_code})`
                    : ""}
                  : {timer.last_error.message} at <Time iso={timer.last_error.at} />
                </>
              ) : (
                <span class="none">none</span>
              )}
            </dd>
            <dt>Executed at</dt>
            <dd data-field="executed_at">
              <Time iso={timer.executed_at} />
            </dd>
            <dt>Created at</dt>
            <dd data-field="created_at">
              <Time iso={timer.created_at} />
            </dd>
            <dt>Updated at</dt>
            <dd data-field="updated_at">
              <Time iso={timer.updated_at} />
            </dd>
            <dt>Version</dt>
            <dd data-field="version">{timer.version}</dd>
          </dl>
        </section>

        <section aria-labelledby="callback-title">
          <h2 id="callback-title">Callback</h2>
          <dl class="facts">
            <dt>URL</dt>
            <dd data-field="callback.url" class="url">
              {callback.url}
            </dd>
            <dt>Timeout</dt>
            <dd data-field="callback.timeout_seconds">{callback.timeout_seconds} s</dd>
            <dt>Headers</dt>
            <dd data-field="callback.headers">
              {headers.length === 0 ? (
                <span class="none">none</span>
              ) : (
                <ul class="plain">
                  {headers.map(([name, value]) => (
                    <li key={name}>
                      <code>{name}</code>: {value}
                    </li>
                  ))}
                </ul>
              )}
            </dd>
          </dl>

          <h2 id="retry-title">Retry policy</h2>
          <dl class="facts" aria-labelledby="retry-title">
            <dt>Max attempts</dt>
            <dd data-field="retry_policy.max_attempts">
              {policy.max_attempts === 0 ? "unlimited" : policy.max_attempts}
            </dd>
            <dt>Initial interval</dt>
            <dd data-field="retry_policy.initial_interval_seconds">
              {policy.initial_interval_seconds} s
            </dd>
            <dt>Backoff coefficient</dt>
            <dd data-field="retry_policy.backoff_coefficient">
              {policy.backoff_coefficient}
            </dd>
            <dt>Max interval</dt>
            <dd data-field="retry_policy.max_interval_seconds">
              {policy.max_interval_seconds} s
            </dd>
            <dt>Max duration</dt>
            <dd data-field="retry_policy.max_duration_seconds">
              {policy.max_duration_seconds === null
                ? "none"
                : `${policy.max_duration_seconds} s`}
            </dd>
          </dl>
        </section>
      </div>

      <section aria-labelledby="payload-title">
        <h2 id="payload-title">Payload</h2>
        <pre class="code payload" data-field="payload">
          {JSON.stringify(timer.payload, null, 2)}
        </pre>
      </section>
    </>
  );
}

function AttemptsTable({ attempts }: { attempts: Attempt[] | undefined }) {
  return (
    <section aria-labelledby="attempts-title">
      <h2 id="attempts-title">Delivery attempts</h2>
      {attempts === undefined ? <p class="empty">Loading…</p> : null}
      {attempts?.length === 0 ? <p class="empty">No attempt yet.</p> : null}
      {attempts?.length ? (
        <div class="table-wrap">
          <table class="attempts">
            <caption class="visually-hidden">Delivery attempts, newest first</caption>
            <thead>
              <tr>
                <th scope="col" class="numeric">
                  #
                </th>
                <th scope="col">Started (newest first)</th>
                <th scope="col">Outcome</th>
                <th scope="col" class="numeric medium-up">
                  HTTP
                </th>
                <th scope="col" class="numeric medium-up">
                  Duration
                </th>
                <th scope="col" class="wide-only">
                  Due at
                </th>
                <th scope="col">Error</th>
              </tr>
            </thead>
            <tbody>
              {attempts.map((attempt) => (
                <tr
                  key={`${attempt.started_at}-${attempt.attempt}`}
                  data-outcome={attempt.outcome}
                >
                  <th scope="row" class="numeric">
                    {attempt.attempt}
                  </th>
                  <td>
                    <Time iso={attempt.started_at} />
                  </td>
                  <td>{attempt.outcome}</td>
                  <td class="numeric medium-up">{attempt.status_code ?? "—"}</td>
                  <td class="numeric medium-up">{attempt.duration_ms} ms</td>
                  <td class="wide-only">
                    <Time iso={attempt.fire_at} />
                  </td>
                  <td class="error-text">
                    {attempt.error
                      ? `${attempt.error.kind}: ${attempt.error.message}`
                      : "—"}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

interface EditProps {
  timer: Timer;
  onSaved(timer: Timer): void;
  onConflict(): void;
  onFailure(text: string): void;
}

/**
 * Edits start from the version shown when the editor opened, and the PATCH
 * says so in If-Match: a change made meanwhile elsewhere answers 412 rather
 * than being overwritten.
 */
function EditTimer({ timer, onSaved, onConflict, onFailure }: EditProps) {
  const [base] = useState(timer);
  const [fireAt, setFireAt] = useState(() => toLocalInput(base.fire_at));
  const [payload, setPayload] = useState(() => JSON.stringify(base.payload, null, 2));
  const [errors, setErrors] = useState<FieldErrors>({});
  const [busy, setBusy] = useState(false);
  const [unchanged, setUnchanged] = useState(false);
  const changedMeanwhile = timer.version !== base.version;

  const save = async (event: Event) => {
    event.preventDefault();
    setUnchanged(false);
    const body: Record<string, unknown> = {};
    const problems: FieldErrors = {};

    if (fireAt !== toLocalInput(base.fire_at)) {
      const iso = fromLocalInput(fireAt);
      if (iso) {
        body.fire_at = iso;
      } else {
        problems["edit-fire-at"] = "Pick a date and a time.";
      }
    }

    const parsed = parseJsonText(payload);
    if (!parsed.ok) {
      problems["edit-payload"] = parsed.error;
    } else if (JSON.stringify(parsed.value) !== JSON.stringify(base.payload)) {
      body.payload = parsed.value;
    }

    setErrors(problems);
    if (Object.keys(problems).length > 0) {
      document.getElementById(Object.keys(problems)[0] ?? "")?.focus();
      return;
    }

    if (Object.keys(body).length === 0) {
      setUnchanged(true);
      return;
    }

    setBusy(true);
    try {
      onSaved(await updateTimer(base.namespace, base.id, base.version, body));
    } catch (error) {
      if (error instanceof ApiError && error.status === 412) {
        onConflict();
      } else if (
        error instanceof ApiError &&
        error.status === 400 &&
        error.fields.length
      ) {
        const placed: FieldErrors = {};
        const others: string[] = [];
        for (const problem of error.fields) {
          if (problem.field === "fire_at") {
            placed["edit-fire-at"] = problem.reason;
          } else if (problem.field === "payload") {
            placed["edit-payload"] = problem.reason;
          } else {
            others.push(`${problem.field}: ${problem.reason}`);
          }
        }

        setErrors(placed);
        if (others.length) {
          onFailure(others.join("; "));
        }
      } else if (error instanceof ApiError && error.status === 413) {
        setErrors({ "edit-payload": error.message });
      } else {
        onFailure(`Could not save: ${describeError(error)}`);
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      id="edit-timer"
      class="edit"
      noValidate
      onSubmit={save}
      aria-labelledby="edit-title"
    >
      <h2 id="edit-title">Change fire time or payload</h2>
      <p class="hint">
        Editing version {base.version}. A new fire time schedules the timer again, also
        one that already fired.
      </p>
      {changedMeanwhile ? (
        <p class="message info" role="status">
          The timer changed since you opened the editor (now version {timer.version});
          saving will be refused.
        </p>
      ) : null}
      <FireTimeField
        id="edit-fire-at"
        label="New fire time"
        value={fireAt}
        error={errors["edit-fire-at"]}
        onChange={setFireAt}
      />
      <JsonField
        id="edit-payload"
        label="New payload (JSON)"
        value={payload}
        error={errors["edit-payload"]}
        onChange={setPayload}
      />
      {unchanged ? (
        <p class="message info" role="status">
          Nothing changed, so nothing was saved.
        </p>
      ) : null}
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          {busy ? "Saving…" : "Save changes"}
        </button>
      </div>
    </form>
  );
}
