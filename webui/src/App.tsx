/** The page: a header with the main links, and the view the hash names. */

import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError, describeError, listNamespaces, type NamespaceSummary } from "./api";
import { currentKey, forgetKey, type KeyRequest, onKeyNeeded, saveKey } from "./key";
import { formatRoute, listOf, navigate, type Route, useRoute } from "./route";
import { Dashboard } from "./views/Dashboard";
import { KeyForm } from "./views/KeyForm";
import { TimerDetails } from "./views/TimerDetails";
import { TimerForm } from "./views/TimerForm";
import { TimerList } from "./views/TimerList";

const FALLBACK_NAMESPACE = "default";

export function App() {
  const route = useRoute();
  const [namespaces, setNamespaces] = useState<NamespaceSummary[] | undefined>();
  const [namespacesError, setNamespacesError] = useState<string | undefined>();
  const [keyRequest, setKeyRequest] = useState<KeyRequest | undefined>();
  const [hasKey, setHasKey] = useState(() => currentKey() !== undefined);
  const loads = useRef(0);

  useEffect(() => onKeyNeeded(setKeyRequest), []);

  const reloadNamespaces = useCallback(() => {
    const seq = ++loads.current;
    listNamespaces()
      .then((loaded) => {
        if (seq === loads.current) {
          setNamespaces(loaded);
          setNamespacesError(undefined);
        }
      })
      .catch((error: unknown) => {
        // A 401 brings the key form, which loads the namespaces itself.
        const needsKey = error instanceof ApiError && error.status === 401;
        if (seq === loads.current && !needsKey) {
          setNamespacesError(describeError(error));
        }
      });
  }, []);

  const acceptKey = (key: string, remember: boolean, loaded: NamespaceSummary[]) => {
    saveKey(key, remember);
    ++loads.current;
    setHasKey(true);
    setNamespaces(loaded);
    setNamespacesError(undefined);
    setKeyRequest(undefined);
    // The form is gone; the view the user was on takes its place.
    document.getElementById("main")?.focus();
  };

  const dropKey = () => {
    forgetKey();
    // What the key let the page see goes with it.
    ++loads.current;
    setHasKey(false);
    setNamespaces(undefined);
    setKeyRequest({});
  };

  useEffect(reloadNamespaces, []);

  // The bare page opens the first namespace there is.
  useEffect(() => {
    if (route.name === "home" && (namespaces || namespacesError)) {
      const first = namespaces?.[0]?.name ?? FALLBACK_NAMESPACE;
      navigate(listOf(first), { replace: true });
    }
  }, [route.name, namespaces, namespacesError]);

  const namespace = "namespace" in route ? route.namespace : undefined;
  // The header's links stay in the namespace the page is about, if any.
  const linked = namespace ?? namespaces?.[0]?.name ?? FALLBACK_NAMESPACE;

  return (
    <>
      <button type="button" class="skip-link" onClick={skipToMain}>
        Skip to the content
      </button>
      <header class="site-header">
        <a class="brand" href={formatRoute(listOf(linked))}>
          Timer service
        </a>
        <nav aria-label="Main">
          <ul>
            <li>
              <a
                href={formatRoute(listOf(linked))}
                aria-current={route.name === "list" ? "page" : undefined}
              >
                Timers
              </a>
            </li>
            <li>
              <a
                href={formatRoute({
                  name: "new",
                  namespace: linked,
                })}
                aria-current={route.name === "new" ? "page" : undefined}
              >
                New timer
              </a>
            </li>
            <li>
              <a
                href={formatRoute(
                  namespace ? { name: "dashboard", namespace } : { name: "dashboard" },
                )}
                aria-current={route.name === "dashboard" ? "page" : undefined}
              >
                Dashboard
              </a>
            </li>
            <li>
              <a href="/docs">API reference</a>
            </li>
          </ul>
        </nav>
        {hasKey ? (
          <button type="button" class="small secondary forget-key" onClick={dropKey}>
            Forget key
          </button>
        ) : null}
      </header>
      <main id="main" tabIndex={-1}>
        {keyRequest ? (
          <KeyForm refusal={keyRequest.refusal} onAccepted={acceptKey} />
        ) : (
          <View
            route={route}
            namespaces={namespaces}
            namespacesError={namespacesError}
            reloadNamespaces={reloadNamespaces}
          />
        )}
      </main>
    </>
  );
}

// The hash holds the route, so the skip link is a button that moves the
// focus rather than a link to #main.
function skipToMain() {
  document.getElementById("main")?.focus();
}

interface ViewProps {
  route: Route;
  namespaces: NamespaceSummary[] | undefined;
  namespacesError: string | undefined;
  reloadNamespaces(): void;
}

function View({ route, namespaces, namespacesError, reloadNamespaces }: ViewProps) {
  switch (route.name) {
    case "home":
      return <p class="empty">Loading…</p>;
    case "list":
      return (
        <TimerList
          key={route.namespace}
          route={route}
          namespaces={namespaces}
          reloadNamespaces={reloadNamespaces}
        />
      );
    case "new":
      return <TimerForm key={route.namespace} namespace={route.namespace} />;
    case "details":
      return (
        <TimerDetails
          key={`${route.namespace}/${route.id}`}
          namespace={route.namespace}
          id={route.id}
          reloadNamespaces={reloadNamespaces}
        />
      );
    case "dashboard":
      return (
        <Dashboard
          namespace={route.namespace}
          namespaces={namespaces}
          namespacesError={namespacesError}
          reloadNamespaces={reloadNamespaces}
        />
      );
    case "unknown":
      return (
        <section>
          <h1>Page not found</h1>
          <p>
            Nothing lives at <code>{route.hash}</code>.{" "}
            <a href={formatRoute({ name: "home" })}>Go to the timers</a>.
          </p>
        </section>
      );
  }
}
