/**
 * One page of the timer list and how a live change lands on it, in the
 * API's order: by fire time, then id.
 */

import type { ListFilters, Timer } from "./api";
import type { TimerEvent } from "./live";

export interface Page {
  rows: Timer[];
  nextToken: string | null;
  /** The first row's key when loaded; `undefined` on the first page. */
  lowest?: Timer;
  /** The last row's key when loaded; `undefined` when no page follows. */
  highest?: Timer;
}

export function pageOf(rows: Timer[], nextToken: string | null, first: boolean): Page {
  const page: Page = { rows, nextToken };
  const head = rows[0];
  const tail = rows[rows.length - 1];
  if (!first && head) {
    page.lowest = head;
  }

  if (nextToken !== null && tail) {
    page.highest = tail;
  }

  return page;
}

export function compareTimers(a: Timer, b: Timer): number {
  const byTime = Date.parse(a.fire_at) - Date.parse(b.fire_at);
  if (byTime !== 0) {
    return byTime;
  }

  if (a.id === b.id) {
    return 0;
  }

  return a.id < b.id ? -1 : 1;
}

export function matchesFilters(timer: Timer, filters: ListFilters): boolean {
  if (filters.statuses.length > 0 && !filters.statuses.includes(timer.status)) {
    return false;
  }

  const fireAt = Date.parse(timer.fire_at);
  // As in the API: fire_after is inclusive, fire_before exclusive.
  if (filters.fireAfter && fireAt < Date.parse(filters.fireAfter)) {
    return false;
  }

  if (filters.fireBefore && fireAt >= Date.parse(filters.fireBefore)) {
    return false;
  }

  return !filters.idPrefix || timer.id.startsWith(filters.idPrefix);
}

/**
 * Apply a live change. A timer that belongs between this page's first and
 * last key appears; one that no longer matches, or was deleted, goes. The
 * page may grow past its size until the next reload: dropping a row would
 * make the next page's token skip it.
 */
export function applyEvent(page: Page, event: TimerEvent, filters: ListFilters): Page {
  const { timer } = event;
  const index = page.rows.findIndex((row) => row.id === timer.id);
  const current = index >= 0 ? page.rows[index] : undefined;
  if (current && current.version > timer.version) {
    return page;
  }

  const rows = page.rows.filter((row) => row.id !== timer.id);
  const belongs =
    event.kind !== "deleted" &&
    matchesFilters(timer, filters) &&
    withinPage(page, timer);
  if (belongs) {
    rows.push(timer);
    rows.sort(compareTimers);
  }

  if (!current && !belongs) {
    return page;
  }

  return { ...page, rows };
}

function withinPage(page: Page, timer: Timer): boolean {
  if (page.lowest && compareTimers(timer, page.lowest) < 0) {
    return false;
  }

  return !page.highest || compareTimers(timer, page.highest) <= 0;
}

/** A key for the filters, for the page tokens seen under them. */
export function filtersKey(
  namespace: string,
  filters: ListFilters,
  limit: number,
): string {
  return JSON.stringify([
    namespace,
    filters.statuses,
    filters.fireAfter ?? "",
    filters.fireBefore ?? "",
    filters.idPrefix ?? "",
    limit,
  ]);
}
