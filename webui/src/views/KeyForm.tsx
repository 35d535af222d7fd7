/** The form for an API key, shown when the server answers 401. */

import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, describeError, listNamespaces, type NamespaceSummary } from "../api";
import { describedBy, FieldError } from "../components/fields";
import { isRemembered } from "../key";

interface Props {
  /** The server's message when it refused the key the page sent. */
  refusal: string | undefined;
  onAccepted(key: string, remember: boolean, namespaces: NamespaceSummary[]): void;
}

export function KeyForm({ refusal, onAccepted }: Props) {
  const [key, setKey] = useState("");
  const [remember, setRemember] = useState(isRemembered);
  const [error, setError] = useState(refusedText(refusal));
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);

  useEffect(() => {
    document.title = "API key · Timers";
    input.current?.focus();
  }, []);

  useEffect(() => setError(refusedText(refusal)), [refusal]);

  const submit = async (event: Event) => {
    event.preventDefault();
    const candidate = key.trim();
    if (!candidate) {
      setError("Enter the key.");
      input.current?.focus();
      return;
    }

    // The namespaces answer any valid key: a refusal here is about the key.
    setBusy(true);
    try {
      const namespaces = await listNamespaces(candidate);
      onAccepted(candidate, remember, namespaces);
    } catch (failure) {
      setBusy(false);
      setError(
        failure instanceof ApiError && failure.status === 401
          ? refusedText(failure.message)
          : describeError(failure),
      );
      input.current?.select();
    }
  };

  return (
    <section aria-labelledby="key-title" class="key-prompt">
      <h1 id="key-title">This server needs an API key</h1>
      <p>
        Its API answers only requests that carry a key. Ask whoever runs the server for
        one.
      </p>
      <form noValidate onSubmit={submit}>
        <div class={error ? "field invalid" : "field"}>
          <label for="api-key">API key</label>
          {/* No name: the key is never part of a form submission. */}
          <input
            ref={input}
            id="api-key"
            type="password"
            autocomplete="current-password"
            spellcheck={false}
            value={key}
            aria-invalid={error ? "true" : undefined}
            aria-describedby={describedBy("api-key", true, error)}
            onInput={(event) => setKey(event.currentTarget.value)}
          />
          <p class="hint" id="api-key-hint">
            Sent with each request to this server, and kept until this tab closes.
          </p>
          <div role="alert">
            <FieldError id="api-key" error={error} />
          </div>
        </div>
        <div class="field">
          <label class="check">
            <input
              type="checkbox"
              checked={remember}
              aria-describedby="remember-hint"
              onChange={(event) => setRemember(event.currentTarget.checked)}
            />
            Remember on this device
          </label>
          <p class="hint" id="remember-hint">
            Kept in this browser until you choose “Forget key”. Leave it off on a shared
            computer.
          </p>
        </div>
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            Use this key
          </button>
        </div>
      </form>
    </section>
  );
}

function refusedText(message: string | undefined): string | undefined {
  return message === undefined ? undefined : `The server refused the key: ${message}.`;
}
