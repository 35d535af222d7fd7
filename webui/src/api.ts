/** The timer API of the contract, as the UI uses it: same-origin `/api/v1`. */

import { currentKey, keyNeeded } from "./key";

export const API = "/api/v1";

export const STATUSES = ["scheduled", "succeeded", "failed"] as const;
export type TimerStatus = (typeof STATUSES)[number];

export interface Callback {
  url: string;
  timeout_seconds: number;
  headers: Record<string, string>;
}

export interface RetryPolicy {
  max_attempts: number;
  initial_interval_seconds: number;
  backoff_coefficient: number;
  max_interval_seconds: number;
  max_duration_seconds: number | null;
}

/** The contract's defaults, shown as placeholders in the forms. */
export const RETRY_DEFAULTS: RetryPolicy = {
  max_attempts: 10,
  initial_interval_seconds: 1,
  backoff_coefficient: 2,
  max_interval_seconds: 600,
  max_duration_seconds: null,
};

export const CALLBACK_TIMEOUT_DEFAULT = 10;

export interface DeliveryError {
  at: string;
  kind: string;
  message: string;
  status_code: number | null;
}

export interface Timer {
  namespace: string;
  id: string;
  fire_at: string;
  callback: Callback;
  payload: unknown;
  retry_policy: RetryPolicy;
  status: TimerStatus;
  attempts: number;
  next_attempt_at: string | null;
  last_error: DeliveryError | null;
  created_at: string;
  updated_at: string;
  executed_at: string | null;
  version: number;
}

export interface Attempt {
  attempt: number;
  fire_at: string;
  started_at: string;
  duration_ms: number;
  outcome: string;
  status_code: number | null;
  error: DeliveryError | null;
}

export type StatusCounts = Record<TimerStatus, number>;

export interface NamespaceSummary {
  name: string;
  counts: StatusCounts;
}

export interface Activity {
  step_seconds: number;
  end: string;
  created: number[];
  delivered: number[];
  failed: number[];
}

export interface FieldProblem {
  field: string;
  reason: string;
}

export interface TimerPage {
  timers: Timer[];
  next_page_token: string | null;
}

/** What the list endpoint and the export endpoint filter on. */
export interface ListFilters {
  statuses: TimerStatus[];
  fireAfter?: string;
  fireBefore?: string;
  idPrefix?: string;
}

/** A response other than 2xx, or no response at all (`status` 0). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;

  constructor(
    status: number,
    code: string,
    message: string,
    details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /** The `details.fields` of a 400, each with its dotted path. */
  get fields(): FieldProblem[] {
    const fields = this.details.fields;
    if (!Array.isArray(fields)) {
      return [];
    }

    return fields.filter(
      (item): item is FieldProblem =>
        typeof item === "object" &&
        item !== null &&
        typeof item.field === "string" &&
        typeof item.reason === "string",
    );
  }
}

interface RequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** A key to try instead of the current one. */
  key?: string;
}

/**
 * `fetch` with the API key, if there is one. It throws an ApiError with
 * status 0 when no answer came, and with the answer's status when that is
 * not 2xx; a 401 also asks the page for a key.
 */
export async function send(
  path: string,
  init: RequestInit = {},
  key = currentKey(),
): Promise<Response> {
  const headers = new Headers(init.headers);
  if (key !== undefined) {
    headers.set("Authorization", `Bearer ${key}`);
  }

  let response: Response;
  try {
    response = await fetch(path, { ...init, headers });
  } catch (error) {
    if (error instanceof DOMException && error.name === "AbortError") {
      throw error;
    }

    throw new ApiError(0, "connection", "the server could not be reached");
  }

  if (!response.ok) {
    const text = await response.text().catch(() => "");
    const error = errorFrom(response, text ? parseJson(text) : undefined);
    if (error.status === 401) {
      keyNeeded(key, error.message);
    }

    throw error;
  }

  return response;
}

async function request<T>(
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<{ data: T; status: number }> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
  }

  const init: RequestInit = {
    method,
    headers: { ...headers, ...options.headers },
    body: options.body === undefined ? null : JSON.stringify(options.body),
    signal: options.signal ?? null,
  };
  // Given no key, send() takes the current one.
  const response = await send(path, init, options.key);
  const text = await response.text();
  const data: unknown = text ? parseJson(text) : undefined;
  return { data: data as T, status: response.status };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function errorFrom(response: Response, data: unknown): ApiError {
  const error =
    typeof data === "object" && data !== null && "error" in data
      ? (data as { error: unknown }).error
      : undefined;
  if (typeof error === "object" && error !== null) {
    const { code, message, details } = error as Record<string, unknown>;
    return new ApiError(
      response.status,
      typeof code === "string" ? code : "unknown",
      typeof message === "string" ? message : response.statusText,
      typeof details === "object" && details !== null
        ? (details as Record<string, unknown>)
        : {},
    );
  }

  return new ApiError(
    response.status,
    "unknown",
    `the server answered ${response.status} ${response.statusText}`.trim(),
  );
}

function timersPath(namespace: string): string {
  return `${API}/namespaces/${encodeURIComponent(namespace)}/timers`;
}

function timerPath(namespace: string, id: string): string {
  return `${timersPath(namespace)}/${encodeURIComponent(id)}`;
}

/** The filters as query parameters, in the names the API uses. */
export function filterParams(filters: ListFilters): URLSearchParams {
  const params = new URLSearchParams();
  for (const status of filters.statuses) {
    params.append("status", status);
  }

  if (filters.fireAfter) {
    params.set("fire_after", filters.fireAfter);
  }

  if (filters.fireBefore) {
    params.set("fire_before", filters.fireBefore);
  }

  if (filters.idPrefix) {
    params.set("id_prefix", filters.idPrefix);
  }

  return params;
}

/** The namespaces that the current key, or `key` if given, may use. */
export async function listNamespaces(key?: string): Promise<NamespaceSummary[]> {
  const { data } = await request<{ namespaces: NamespaceSummary[] }>(
    "GET",
    `${API}/namespaces`,
    key === undefined ? {} : { key },
  );
  return data.namespaces;
}

export async function listTimers(
  namespace: string,
  filters: ListFilters,
  limit: number,
  pageToken: string | undefined,
  signal?: AbortSignal,
): Promise<TimerPage> {
  const params = filterParams(filters);
  params.set("limit", String(limit));
  if (pageToken) {
    params.set("page_token", pageToken);
  }

  const { data } = await request<TimerPage>(
    "GET",
    `${timersPath(namespace)}?${params}`,
    signal ? { signal } : {},
  );
  return data;
}

export async function getTimer(
  namespace: string,
  id: string,
  signal?: AbortSignal,
): Promise<Timer> {
  const { data } = await request<Timer>(
    "GET",
    timerPath(namespace, id),
    signal ? { signal } : {},
  );
  return data;
}

export async function listAttempts(
  namespace: string,
  id: string,
  signal?: AbortSignal,
): Promise<Attempt[]> {
  const { data } = await request<{ attempts: Attempt[] }>(
    "GET",
    `${timerPath(namespace, id)}/attempts`,
    signal ? { signal } : {},
  );
  return data.attempts;
}

/** Create a timer; `created` is false when the same timer already existed. */
export async function createTimer(
  namespace: string,
  body: Record<string, unknown>,
): Promise<{ timer: Timer; created: boolean }> {
  const { data, status } = await request<Timer>("POST", timersPath(namespace), {
    body,
  });
  return { timer: data, created: status === 201 };
}

/** Change a timer only if it still has `version`: a 412 otherwise. */
export async function updateTimer(
  namespace: string,
  id: string,
  version: number,
  body: Record<string, unknown>,
): Promise<Timer> {
  const { data } = await request<Timer>("PATCH", timerPath(namespace, id), {
    body,
    headers: { "If-Match": `"${version}"` },
  });
  return data;
}

export async function deleteTimer(namespace: string, id: string): Promise<void> {
  await request<undefined>("DELETE", timerPath(namespace, id));
}

export async function getActivity(
  namespace: string | undefined,
  seconds: number,
  signal?: AbortSignal,
): Promise<Activity> {
  const params = new URLSearchParams({ seconds: String(seconds) });
  if (namespace) {
    params.set("namespace", namespace);
  }

  const { data } = await request<Activity>(
    "GET",
    `${API}/activity?${params}`,
    signal ? { signal } : {},
  );
  return data;
}

/** The link to the timers that match `filters`, for use without a key. */
export function exportUrl(
  namespace: string,
  filters: ListFilters,
  format: "csv" | "json",
): string {
  const params = filterParams(filters);
  params.set("format", format);
  return `${timersPath(namespace)}:export?${params}`;
}

// Some browsers read a downloaded blob only after the click has returned.
const REVOKE_DELAY_MS = 10_000;

/**
 * Save the timers that match `filters` as a file, fetched with the key: a
 * plain link cannot carry it. The whole export is held in memory first.
 */
export async function downloadExport(
  namespace: string,
  filters: ListFilters,
  format: "csv" | "json",
): Promise<void> {
  const response = await send(exportUrl(namespace, filters, format));
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = attachmentName(response) ?? `timers.${format}`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), REVOKE_DELAY_MS);
}

/** The file name a Content-Disposition header suggests, if any. */
function attachmentName(response: Response): string | undefined {
  const header = response.headers.get("Content-Disposition") ?? "";
  return /filename="?([^";]+)"?/i.exec(header)?.[1]?.trim() || undefined;
}

export function eventsUrl(namespace: string): string {
  return `${API}/namespaces/${encodeURIComponent(namespace)}/events`;
}

export const NAMESPACE_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** A short sentence for an error the page shows in its message area. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 0) {
      return "The server could not be reached. Check that it is running.";
    }

    return `${error.message} (${error.status} ${error.code})`;
  }

  return error instanceof Error ? error.message : String(error);
}
