/** Timers by status and the recent rate of creations and deliveries. */

import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import {
  type Activity,
  describeError,
  getActivity,
  type NamespaceSummary,
  STATUSES,
  type StatusCounts,
} from "../api";
import { ActivityChart } from "../components/ActivityChart";
import { formatRoute, listOf, navigate } from "../route";

const REFRESH_MS = 5000;
const WINDOWS = [
  { seconds: 60, label: "1 minute" },
  { seconds: 300, label: "5 minutes" },
  { seconds: 900, label: "15 minutes" },
] as const;

interface Props {
  namespace: string | undefined;
  namespaces: NamespaceSummary[] | undefined;
  namespacesError: string | undefined;
  reloadNamespaces(): void;
}

export function Dashboard({
  namespace,
  namespaces,
  namespacesError,
  reloadNamespaces,
}: Props) {
  const [seconds, setSeconds] = useState(300);
  const [activity, setActivity] = useState<Activity | undefined>();
  const [activityError, setActivityError] = useState<string | undefined>();
  const [refreshedAt, setRefreshedAt] = useState<Date | undefined>();
  const reloadCounts = useRef(reloadNamespaces);
  reloadCounts.current = reloadNamespaces;

  useEffect(() => {
    document.title = "Dashboard · Timers";
  }, []);

  const refresh = useCallback(async () => {
    reloadCounts.current();
    try {
      setActivity(await getActivity(namespace, seconds));
      setActivityError(undefined);
      setRefreshedAt(new Date());
    } catch (error) {
      setActivityError(describeError(error));
    }
  }, [namespace, seconds]);

  // Refreshed while the page is visible; a hidden tab asks nothing of the server.
  useEffect(() => {
    void refresh();
    const tick = setInterval(() => {
      if (document.visibilityState === "visible") {
        void refresh();
      }
    }, REFRESH_MS);
    const onVisible = () => {
      if (document.visibilityState === "visible") {
        void refresh();
      }
    };
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      clearInterval(tick);
      document.removeEventListener("visibilitychange", onVisible);
    };
  }, [refresh]);

  const shown = (namespaces ?? []).filter(
    (entry) => !namespace || entry.name === namespace,
  );
  const totals: StatusCounts = { scheduled: 0, succeeded: 0, failed: 0 };
  for (const entry of shown) {
    for (const status of STATUSES) {
      totals[status] += entry.counts[status];
    }
  }

  return (
    <section aria-labelledby="dashboard-title">
      <h1 id="dashboard-title">Dashboard</h1>
      <form class="dashboard-controls" onSubmit={(event) => event.preventDefault()}>
        <div class="field">
          <label for="dashboard-namespace">Namespace</label>
          <select
            id="dashboard-namespace"
            value={namespace ?? ""}
            onChange={(event) => {
              const value = event.currentTarget.value;
              navigate(
                value ? { name: "dashboard", namespace: value } : { name: "dashboard" },
              );
            }}
          >
            <option value="">All namespaces</option>
            {namespace && !namespaces?.some((entry) => entry.name === namespace) ? (
              <option value={namespace}>{namespace}</option>
            ) : null}
            {(namespaces ?? []).map((entry) => (
              <option key={entry.name} value={entry.name}>
                {entry.name}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="dashboard-window">Activity over</label>
          <select
            id="dashboard-window"
            value={String(seconds)}
            onChange={(event) => setSeconds(Number(event.currentTarget.value))}
          >
            {WINDOWS.map((window) => (
              <option key={window.seconds} value={String(window.seconds)}>
                the last {window.label}
              </option>
            ))}
          </select>
        </div>
        <p class="hint" role="status">
          Refreshed every {REFRESH_MS / 1000} s while this page is visible
          {refreshedAt ? `; last at ${refreshedAt.toLocaleTimeString()}` : ""}.
        </p>
      </form>

      <div class="dashboard-grid">
        <section aria-labelledby="by-status-title" class="panel">
          <h2 id="by-status-title">Timers by status</h2>
          {namespacesError ? (
            <p class="message error" role="alert">
              Could not load the counts: {namespacesError}
            </p>
          ) : null}
          <StatusBars counts={totals} />
          <div class="table-wrap">
            <table class="counts-table">
              <caption class="visually-hidden">Timers by namespace and status</caption>
              <thead>
                <tr>
                  <th scope="col">Namespace</th>
                  {STATUSES.map((status) => (
                    <th scope="col" class="numeric" key={status}>
                      {status}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {shown.map((entry) => (
                  <tr key={entry.name} data-namespace={entry.name}>
                    <th scope="row">
                      <a href={formatRoute(listOf(entry.name))}>{entry.name}</a>
                    </th>
                    {STATUSES.map((status) => (
                      <td class="numeric" key={status} data-status={status}>
                        {entry.counts[status]}
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {namespaces && shown.length === 0 ? (
            <p class="empty">No timers yet.</p>
          ) : null}
        </section>

        <section aria-labelledby="activity-title" class="panel">
          <h2 id="activity-title">Creations and deliveries</h2>
          {activityError ? (
            <p class="message error" role="alert">
              Could not load the activity: {activityError}
            </p>
          ) : null}
          {activity ? <ActivityChart activity={activity} /> : null}
        </section>
      </div>
    </section>
  );
}

function StatusBars({ counts }: { counts: StatusCounts }) {
  const largest = Math.max(1, ...STATUSES.map((status) => counts[status]));

  return (
    <ul class="status-bars" aria-label="Timers by status, all shown namespaces">
      {STATUSES.map((status) => (
        <li key={status} data-status={status}>
          <span class="bar-label">{status}</span>
          <svg viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true">
            <rect
              class={`bar status-${status}`}
              width={(counts[status] / largest) * 100}
              height="10"
            />
          </svg>
          <span class="bar-value">{counts[status]}</span>
        </li>
      ))}
    </ul>
  );
}
