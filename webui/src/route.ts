/**
 * Routes live in the URL's hash, so that links and reloads work with a server
 * that serves only `/`: `#/ns/<ns>?status=…`, `#/ns/<ns>/timers/<id>`,
 * `#/ns/<ns>/new`, `#/dashboard`.
 */

import { useEffect, useState } from "preact/hooks";
import { type ListFilters, STATUSES, type TimerStatus } from "./api";

export const PAGE_SIZES = [10, 25, 50, 100, 200] as const;
export const DEFAULT_PAGE_SIZE = 50;

export interface ListRoute {
  name: "list";
  namespace: string;
  filters: ListFilters;
  limit: number;
  pageToken?: string;
}

export type Route =
  | { name: "home" }
  | ListRoute
  | { name: "details"; namespace: string; id: string }
  | { name: "new"; namespace: string }
  | { name: "dashboard"; namespace?: string }
  | { name: "unknown"; hash: string };

export function parseRoute(hash: string): Route {
  const text = hash.replace(/^#/, "");
  const queryAt = text.indexOf("?");
  const path = queryAt < 0 ? text : text.slice(0, queryAt);
  const query = new URLSearchParams(queryAt < 0 ? "" : text.slice(queryAt + 1));
  const parts = path.split("/").filter(Boolean).map(decodePart);

  if (parts.length === 0) {
    return { name: "home" };
  }

  if (parts.length === 1 && parts[0] === "dashboard") {
    const namespace = query.get("ns");
    return namespace ? { name: "dashboard", namespace } : { name: "dashboard" };
  }

  const [first, namespace, section, id, ...rest] = parts;
  if (first !== "ns" || !namespace || rest.length > 0) {
    return { name: "unknown", hash };
  }

  if (section === undefined) {
    return listRoute(namespace, query);
  }

  if (section === "new" && id === undefined) {
    return { name: "new", namespace };
  }

  if (section === "timers" && id !== undefined) {
    return { name: "details", namespace, id };
  }

  return { name: "unknown", hash };
}

function decodePart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

function listRoute(namespace: string, query: URLSearchParams): ListRoute {
  const statuses = query
    .getAll("status")
    .flatMap((value) => value.split(","))
    .filter((value): value is TimerStatus =>
      (STATUSES as readonly string[]).includes(value),
    );
  const filters: ListFilters = {
    statuses: STATUSES.filter((status) => statuses.includes(status)),
  };
  const fireAfter = query.get("fire_after");
  if (fireAfter) {
    filters.fireAfter = fireAfter;
  }

  const fireBefore = query.get("fire_before");
  if (fireBefore) {
    filters.fireBefore = fireBefore;
  }

  const idPrefix = query.get("id_prefix");
  if (idPrefix) {
    filters.idPrefix = idPrefix;
  }

  const limit = Number(query.get("limit"));
  const route: ListRoute = {
    name: "list",
    namespace,
    filters,
    limit:
      Number.isInteger(limit) && limit >= 1 && limit <= 1000
        ? limit
        : DEFAULT_PAGE_SIZE,
  };
  const pageToken = query.get("page");
  if (pageToken) {
    route.pageToken = pageToken;
  }

  return route;
}

export function formatRoute(route: Route): string {
  switch (route.name) {
    case "home":
      return "#/";
    case "dashboard":
      return route.namespace
        ? `#/dashboard?ns=${encodeURIComponent(route.namespace)}`
        : "#/dashboard";
    case "new":
      return `#/ns/${encodeURIComponent(route.namespace)}/new`;
    case "details":
      return `#/ns/${encodeURIComponent(route.namespace)}/timers/${encodeURIComponent(route.id)}`;
    case "list":
      return formatList(route);
    case "unknown":
      return route.hash;
  }
}

function formatList(route: ListRoute): string {
  const query = new URLSearchParams();
  for (const status of route.filters.statuses) {
    query.append("status", status);
  }

  if (route.filters.fireAfter) {
    query.set("fire_after", route.filters.fireAfter);
  }

  if (route.filters.fireBefore) {
    query.set("fire_before", route.filters.fireBefore);
  }

  if (route.filters.idPrefix) {
    query.set("id_prefix", route.filters.idPrefix);
  }

  if (route.limit !== DEFAULT_PAGE_SIZE) {
    query.set("limit", String(route.limit));
  }

  if (route.pageToken) {
    query.set("page", route.pageToken);
  }

  const text = query.toString();
  return `#/ns/${encodeURIComponent(route.namespace)}${text ? `?${text}` : ""}`;
}

/** A list of `namespace` with no filters, the first page. */
export function listOf(namespace: string): ListRoute {
  return {
    name: "list",
    namespace,
    filters: { statuses: [] },
    limit: DEFAULT_PAGE_SIZE,
  };
}

export function navigate(route: Route, options: { replace?: boolean } = {}): void {
  const hash = formatRoute(route);
  if (options.replace) {
    history.replaceState(history.state, "", hash);
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  } else {
    window.location.hash = hash;
  }
}

/** The route of the current hash, following its changes. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));

  useEffect(() => {
    const follow = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener("hashchange", follow);
    return () => window.removeEventListener("hashchange", follow);
  }, []);

  return route;
}
