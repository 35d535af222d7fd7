/** The timers of one namespace: filters, counts, pages, exports, live changes. */

import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import {
  describeError,
  downloadExport,
  exportUrl,
  type ListFilters,
  listTimers,
  NAMESPACE_PATTERN,
  type NamespaceSummary,
  STATUSES,
  type TimerStatus,
} from "../api";
import { CountsBar, LiveIndicator, StatusBadge, Time } from "../components/common";
import { describedBy, FieldError } from "../components/fields";
import { takeFlash } from "../flash";
import { currentKey } from "../key";
import { applyEvent, filtersKey, type Page, pageOf } from "../listing";
import { type TimerEvent, useLiveEvents, useThrottled } from "../live";
import { formatRoute, type ListRoute, listOf, navigate, PAGE_SIZES } from "../route";
import { fromLocalInput, localZone, toLocalInput } from "../time";

interface Props {
  route: ListRoute;
  namespaces: NamespaceSummary[] | undefined;
  reloadNamespaces(): void;
}

export function TimerList({ route, namespaces, reloadNamespaces }: Props) {
  const [page, setPage] = useState<Page | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [loading, setLoading] = useState(false);
  const [flash, setFlashText] = useState(() => takeFlash());
  const routeKey = formatRoute(route);
  const current = useRef(route);
  current.current = route;
  const loads = useRef(0);
  // Changes that arrive while a page loads are applied again on the loaded page.
  const arrivedDuringLoad = useRef<TimerEvent[] | undefined>(undefined);

  useEffect(() => {
    document.title = `Timers in ${route.namespace} · Timers`;
  }, [route.namespace]);

  const load = useCallback(async () => {
    const { namespace, filters, limit, pageToken } = current.current;
    const seq = ++loads.current;
    arrivedDuringLoad.current = [];
    setLoading(true);
    try {
      const result = await listTimers(namespace, filters, limit, pageToken);
      if (seq !== loads.current) {
        return;
      }

      let loaded = pageOf(result.timers, result.next_page_token, !pageToken);
      for (const event of arrivedDuringLoad.current ?? []) {
        loaded = applyEvent(loaded, event, filters);
      }

      setPage(loaded);
      setError(undefined);
    } catch (failure) {
      if (seq === loads.current) {
        setError(describeError(failure));
      }
    } finally {
      if (seq === loads.current) {
        arrivedDuringLoad.current = undefined;
        setLoading(false);
      }
    }
  }, [routeKey]);

  useEffect(() => {
    setPage(undefined);
    void load();
  }, [load]);

  const refreshCounts = useThrottled(reloadNamespaces, 1000);
  const live = useLiveEvents(route.namespace, {
    onEvent(event) {
      arrivedDuringLoad.current?.push(event);
      setPage((shown) => shown && applyEvent(shown, event, current.current.filters));
      refreshCounts();
    },
    onReady() {
      // Whatever changed while no stream was open is only in a fresh load.
      void load();
      reloadNamespaces();
    },
  });

  const counts = namespaces?.find((entry) => entry.name === route.namespace)
    ?.counts ?? {
    scheduled: 0,
    succeeded: 0,
    failed: 0,
  };
  const chain = readChain(route);
  const position = chain.indexOf(route.pageToken ?? "");

  const goNext = () => {
    if (!page?.nextToken) {
      return;
    }

    const known =
      position >= 0 ? chain.slice(0, position + 1) : [route.pageToken ?? ""];
    writeChain(route, [...known, page.nextToken]);
    navigate({ ...withoutToken(route), pageToken: page.nextToken });
  };

  const goBack = () => {
    const previous = chain[position - 1];
    if (position <= 0 || previous === undefined) {
      return;
    }

    navigate(
      previous ? { ...withoutToken(route), pageToken: previous } : withoutToken(route),
    );
  };

  return (
    <section aria-labelledby="list-title">
      <div class="title-row">
        <h1 id="list-title">Timers in {route.namespace}</h1>
        <a
          class="button primary"
          href={formatRoute({ name: "new", namespace: route.namespace })}
        >
          New timer
        </a>
      </div>

      <NamespacePicker current={route.namespace} namespaces={namespaces} />
      <CountsBar counts={counts} label={`Timers in ${route.namespace} by status`} />
      <LiveIndicator state={live} />

      {flash ? (
        <div class="message info" role="status">
          <p>{flash}</p>
          <button
            type="button"
            class="small secondary"
            onClick={() => setFlashText(undefined)}
          >
            Dismiss
          </button>
        </div>
      ) : null}

      <FilterForm route={route} />

      {/* Keyed by the route, so that an error of other filters goes. */}
      <Exports key={routeKey} namespace={route.namespace} filters={route.filters} />

      {error ? (
        <div class="message error" role="alert">
          <p>Could not load the timers: {error}</p>
          <button type="button" class="small" onClick={() => void load()}>
            Try again
          </button>
          {route.pageToken ? (
            <a class="button small secondary" href={formatRoute(withoutToken(route))}>
              First page
            </a>
          ) : null}
        </div>
      ) : null}

      <TimerTable page={page} loading={loading} namespace={route.namespace} />

      <nav class="pager" aria-label="Pages">
        <button type="button" disabled={position <= 0} onClick={goBack}>
          Previous page
        </button>
        <span class="page-number">
          {position >= 0 ? `Page ${position + 1}` : "A later page"}
        </span>
        <button type="button" disabled={!page?.nextToken} onClick={goNext}>
          Next page
        </button>
        {route.pageToken ? (
          <a class="button secondary" href={formatRoute(withoutToken(route))}>
            First page
          </a>
        ) : null}
      </nav>
    </section>
  );
}

type ExportFormat = "csv" | "json";
const EXPORT_FORMATS: { format: ExportFormat; label: string }[] = [
  { format: "csv", label: "CSV" },
  { format: "json", label: "JSON" },
];

/**
 * Plain links without a key, so that the browser streams an export of any
 * size to disk; a link cannot carry a key, so with one the page fetches it.
 */
function Exports({ namespace, filters }: { namespace: string; filters: ListFilters }) {
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const withKey = currentKey() !== undefined;

  const save = async (format: ExportFormat) => {
    setBusy(true);
    setError(undefined);
    try {
      await downloadExport(namespace, filters, format);
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="exports">
      <span>Export these filters:</span>
      {EXPORT_FORMATS.map(({ format, label }) =>
        withKey ? (
          <button
            key={format}
            type="button"
            class="small secondary"
            disabled={busy}
            onClick={() => void save(format)}
          >
            {label}
          </button>
        ) : (
          <a
            key={format}
            class="button small secondary"
            href={exportUrl(namespace, filters, format)}
            download={`${namespace}-timers.${format}`}
          >
            {label}
          </a>
        ),
      )}
      {error ? (
        <p class="message error" role="alert">
          Could not export: {error}
        </p>
      ) : null}
    </div>
  );
}

function withoutToken(route: ListRoute): ListRoute {
  const { pageToken: _, ...rest } = route;
  return rest;
}

// The tokens of the pages seen under one set of filters, in order, the first
// page as "", so that "Previous page" works after a reload too.
function chainKey(route: ListRoute): string {
  return `timerui.pages:${filtersKey(route.namespace, route.filters, route.limit)}`;
}

function readChain(route: ListRoute): string[] {
  try {
    const stored: unknown = JSON.parse(
      sessionStorage.getItem(chainKey(route)) ?? "null",
    );
    if (Array.isArray(stored) && stored.every((item) => typeof item === "string")) {
      return stored;
    }
  } catch {
    // A damaged entry starts the chain again.
  }

  return [""];
}

function writeChain(route: ListRoute, chain: string[]): void {
  try {
    sessionStorage.setItem(chainKey(route), JSON.stringify(chain));
  } catch {
    // Without storage the previous pages are only lost on reload.
  }
}

function TimerTable({
  page,
  loading,
  namespace,
}: {
  page: Page | undefined;
  loading: boolean;
  namespace: string;
}) {
  return (
    <div class="table-wrap">
      <table class="timers" aria-busy={loading ? "true" : "false"}>
        <caption class="visually-hidden">Timers, earliest fire time first</caption>
        <thead>
          <tr>
            <th scope="col">Id</th>
            <th scope="col">Status</th>
            <th scope="col" aria-sort="ascending">
              Fire time <span class="sort-note">(ascending: the list's order)</span>
            </th>
            <th scope="col" class="wide-only">
              Next attempt
            </th>
            <th scope="col" class="numeric medium-up">
              Attempts
            </th>
            <th scope="col" class="wide-only">
              Callback
            </th>
          </tr>
        </thead>
        <tbody>
          {page?.rows.map((timer) => (
            <tr key={timer.id} data-id={timer.id} data-status={timer.status}>
              <th scope="row" class="timer-id">
                <a href={formatRoute({ name: "details", namespace, id: timer.id })}>
                  {timer.id}
                </a>
              </th>
              <td>
                <StatusBadge status={timer.status} />
              </td>
              <td>
                <Time iso={timer.fire_at} />
              </td>
              <td class="wide-only">
                <Time iso={timer.next_attempt_at} />
              </td>
              <td class="numeric medium-up">{timer.attempts}</td>
              <td class="wide-only url">{timer.callback.url}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {page && page.rows.length === 0 ? (
        <p class="empty">No timers match these filters.</p>
      ) : null}
      {!page && loading ? <p class="empty">Loading…</p> : null}
    </div>
  );
}

function NamespacePicker({
  current,
  namespaces,
}: {
  current: string;
  namespaces: NamespaceSummary[] | undefined;
}) {
  const [text, setText] = useState(current);
  const [error, setError] = useState<string | undefined>();

  useEffect(() => setText(current), [current]);

  return (
    <form
      class="namespace-picker"
      noValidate
      onSubmit={(event) => {
        event.preventDefault();
        const name = text.trim();
        if (!NAMESPACE_PATTERN.test(name)) {
          setError(
            "Lower-case letters, digits, _ and -, starting with a letter or digit, at most 64.",
          );
          return;
        }

        setError(undefined);
        navigate(listOf(name));
      }}
    >
      <div class={error ? "field invalid" : "field"}>
        <label for="namespace">Namespace</label>
        <div class="inline">
          <input
            id="namespace"
            type="text"
            list="namespace-options"
            autocomplete="off"
            spellcheck={false}
            value={text}
            aria-invalid={error ? "true" : undefined}
            aria-describedby={describedBy("namespace", true, error)}
            onInput={(event) => setText(event.currentTarget.value)}
          />
          <button type="submit">Open</button>
        </div>
        <p class="hint" id="namespace-hint">
          Pick one or type a new name: it exists once a timer is created in it.
        </p>
        <FieldError id="namespace" error={error} />
      </div>
      <datalist id="namespace-options">
        {(namespaces ?? []).map((entry) => (
          <option key={entry.name} value={entry.name} />
        ))}
      </datalist>
    </form>
  );
}

function FilterForm({ route }: { route: ListRoute }) {
  const [statuses, setStatuses] = useState<TimerStatus[]>(route.filters.statuses);
  const [after, setAfter] = useState(toLocalInput(route.filters.fireAfter));
  const [before, setBefore] = useState(toLocalInput(route.filters.fireBefore));
  const [prefix, setPrefix] = useState(route.filters.idPrefix ?? "");
  const [limit, setLimit] = useState(route.limit);
  const [zone] = useState(() => localZone());
  const routeKey = formatRoute(route);

  useEffect(() => {
    setStatuses(route.filters.statuses);
    setAfter(toLocalInput(route.filters.fireAfter));
    setBefore(toLocalInput(route.filters.fireBefore));
    setPrefix(route.filters.idPrefix ?? "");
    setLimit(route.limit);
  }, [routeKey]);

  const apply = (event: Event) => {
    event.preventDefault();
    const filters: ListFilters = {
      statuses: STATUSES.filter((s) => statuses.includes(s)),
    };
    const fireAfter = fromLocalInput(after);
    const fireBefore = fromLocalInput(before);
    if (fireAfter) {
      filters.fireAfter = fireAfter;
    }

    if (fireBefore) {
      filters.fireBefore = fireBefore;
    }

    if (prefix.trim()) {
      filters.idPrefix = prefix.trim();
    }

    navigate({ name: "list", namespace: route.namespace, filters, limit });
  };

  return (
    <form class="filters" onSubmit={apply} aria-label="Filters">
      <fieldset class="statuses">
        <legend>Status</legend>
        {STATUSES.map((status) => (
          <label key={status} class="check">
            <input
              type="checkbox"
              name="status"
              value={status}
              checked={statuses.includes(status)}
              onChange={(event) =>
                setStatuses(
                  event.currentTarget.checked
                    ? [...statuses, status]
                    : statuses.filter((item) => item !== status),
                )
              }
            />
            {status}
          </label>
        ))}
        <p class="hint">None ticked shows all.</p>
      </fieldset>
      <div class="field">
        <label for="fire-after">Fire time from</label>
        <input
          id="fire-after"
          type="datetime-local"
          step={1}
          value={after}
          aria-describedby="filters-zone"
          onInput={(event) => setAfter(event.currentTarget.value)}
        />
      </div>
      <div class="field">
        <label for="fire-before">Fire time before</label>
        <input
          id="fire-before"
          type="datetime-local"
          step={1}
          value={before}
          aria-describedby="filters-zone"
          onInput={(event) => setBefore(event.currentTarget.value)}
        />
      </div>
      <div class="field">
        <label for="id-prefix">Id starts with</label>
        <input
          id="id-prefix"
          type="search"
          autocomplete="off"
          spellcheck={false}
          value={prefix}
          onInput={(event) => setPrefix(event.currentTarget.value)}
        />
      </div>
      <div class="field">
        <label for="page-size">Per page</label>
        <select
          id="page-size"
          value={String(limit)}
          onChange={(event) => setLimit(Number(event.currentTarget.value))}
        >
          {[...new Set([...PAGE_SIZES, limit])]
            .sort((a, b) => a - b)
            .map((size) => (
              <option key={size} value={String(size)}>
                {size}
              </option>
            ))}
        </select>
      </div>
      <p class="hint filters-zone" id="filters-zone">
        Times are local, <span data-zone>{zone}</span>; “from” includes the time,
        “before” does not.
      </p>
      <div class="actions">
        <button type="submit" class="primary">
          Apply filters
        </button>
        <a class="button secondary" href={formatRoute(listOf(route.namespace))}>
          Clear
        </a>
      </div>
    </form>
  );
}
