/**
 * Conversion between the wire's snake_case JSON and the public models.
 *
 * Readers check the shape of what they convert, so that a server or proxy
 * answering something unexpected gives an `InvalidResponseError` naming the
 * field rather than a model holding `undefined`. Fields unknown to this
 * version of the SDK are ignored: the API grows by adding fields.
 */

import {
  type ApiError,
  CODES_BY_STATUS,
  createApiError,
  InvalidResponseError,
} from "./errors.js";
import type {
  Attempt,
  AttemptList,
  AttemptOutcome,
  BatchCreateItem,
  BatchCreateResult,
  Callback,
  CallbackInput,
  CreateTimerRequest,
  ErrorKind,
  LastError,
  Namespace,
  NamespaceList,
  RetryPolicy,
  RetryPolicyInput,
  Timer,
  TimerPage,
  TimerStatus,
  UpdateTimerRequest,
} from "./models.js";

type JsonObject = Record<string, unknown>;

// -- reading -------------------------------------------------------------

function fail(path: string, expected: string): never {
  throw new InvalidResponseError(
    `the server's answer has ${path} that is not ${expected}`,
  );
}

function object(value: unknown, path: string): JsonObject {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail(path, "an object");
  }

  return value as JsonObject;
}

function array(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) {
    fail(path, "an array");
  }

  return value;
}

function string(data: JsonObject, key: string, path: string): string {
  const value = data[key];
  if (typeof value !== "string") {
    fail(`${path}.${key}`, "a string");
  }

  return value;
}

function number(data: JsonObject, key: string, path: string): number {
  const value = data[key];
  if (typeof value !== "number" || !Number.isFinite(value)) {
    fail(`${path}.${key}`, "a number");
  }

  return value;
}

function numberOrNull(data: JsonObject, key: string, path: string): number | null {
  return data[key] === null || data[key] === undefined ? null : number(data, key, path);
}

const RFC_3339 =
  /^(\d{4})-(\d{2})-(\d{2})T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

/**
 * Read an RFC 3339 time, or `null` if `text` is not one. `Date.parse` alone
 * is too lenient: it takes `"12"` as a year and rolls 30 February over
 * into March.
 */
export function readTime(text: string): Date | null {
  const match = RFC_3339.exec(text);
  if (match === null) {
    return null;
  }

  const parsed = new Date(text.toUpperCase());
  const [, year, month, day] = match.map(Number) as [number, number, number, number];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (Number.isNaN(parsed.getTime()) || day < 1 || day > daysInMonth) {
    return null;
  }

  return parsed;
}

function time(data: JsonObject, key: string, path: string): Date {
  const parsed = readTime(string(data, key, path));
  if (parsed === null) {
    fail(`${path}.${key}`, "an RFC 3339 time");
  }

  return parsed;
}

function timeOrNull(data: JsonObject, key: string, path: string): Date | null {
  return data[key] === null || data[key] === undefined ? null : time(data, key, path);
}

function oneOf<T extends string>(
  data: JsonObject,
  key: string,
  path: string,
  allowed: readonly T[],
): T {
  const value = string(data, key, path);
  if (!(allowed as readonly string[]).includes(value)) {
    fail(`${path}.${key}`, `one of ${allowed.join(", ")}`);
  }

  return value as T;
}

const STATUSES: readonly TimerStatus[] = ["scheduled", "succeeded", "failed"];
const ERROR_KINDS: readonly ErrorKind[] = [
  "timeout",
  "connection",
  "http_status",
  "invalid_response",
];
const OUTCOMES: readonly AttemptOutcome[] = ["succeeded", "rescheduled", "failed"];

function readCallback(value: unknown, path = "callback"): Callback {
  const data = object(value, path);
  const headers = object(data.headers ?? {}, `${path}.headers`);
  for (const [name, header] of Object.entries(headers)) {
    if (typeof header !== "string") {
      fail(`${path}.headers.${name}`, "a string");
    }
  }

  return {
    url: string(data, "url", path),
    timeoutSeconds: number(data, "timeout_seconds", path),
    headers: headers as Record<string, string>,
  };
}

function readRetryPolicy(value: unknown, path = "retry_policy"): RetryPolicy {
  const data = object(value, path);
  return {
    maxAttempts: number(data, "max_attempts", path),
    initialIntervalSeconds: number(data, "initial_interval_seconds", path),
    backoffCoefficient: number(data, "backoff_coefficient", path),
    maxIntervalSeconds: number(data, "max_interval_seconds", path),
    maxDurationSeconds: numberOrNull(data, "max_duration_seconds", path),
  };
}

function readLastError(value: unknown, path: string): LastError | null {
  if (value === null || value === undefined) {
    return null;
  }

  const data = object(value, path);
  return {
    at: time(data, "at", path),
    kind: oneOf(data, "kind", path, ERROR_KINDS),
    message: string(data, "message", path),
    statusCode: numberOrNull(data, "status_code", path),
  };
}

/** Read a timer of the wire into the public model. */
export function readTimer(value: unknown, path = "timer"): Timer {
  const data = object(value, path);
  return {
    namespace: string(data, "namespace", path),
    id: string(data, "id", path),
    fireAt: time(data, "fire_at", path),
    callback: readCallback(data.callback, `${path}.callback`),
    payload: data.payload ?? null,
    retryPolicy: readRetryPolicy(data.retry_policy, `${path}.retry_policy`),
    status: oneOf(data, "status", path, STATUSES),
    attempts: number(data, "attempts", path),
    nextAttemptAt: timeOrNull(data, "next_attempt_at", path),
    lastError: readLastError(data.last_error, `${path}.last_error`),
    createdAt: time(data, "created_at", path),
    updatedAt: time(data, "updated_at", path),
    executedAt: timeOrNull(data, "executed_at", path),
    version: number(data, "version", path),
  };
}

export function readTimerPage(value: unknown): TimerPage {
  const data = object(value, "body");
  const token = data.next_page_token;
  if (token !== null && token !== undefined && typeof token !== "string") {
    fail("body.next_page_token", "a string or null");
  }

  return {
    timers: array(data.timers, "body.timers").map((timer, index) =>
      readTimer(timer, `body.timers[${index}]`),
    ),
    nextPageToken: token || null,
  };
}

export function readNamespaceList(value: unknown): NamespaceList {
  const data = object(value, "body");
  return {
    namespaces: array(data.namespaces, "body.namespaces").map(
      (entry, index): Namespace => {
        const path = `body.namespaces[${index}]`;
        const item = object(entry, path);
        const counts = object(item.counts, `${path}.counts`);
        return {
          name: string(item, "name", path),
          counts: {
            scheduled: number(counts, "scheduled", `${path}.counts`),
            succeeded: number(counts, "succeeded", `${path}.counts`),
            failed: number(counts, "failed", `${path}.counts`),
          },
        };
      },
    ),
  };
}

export function readAttemptList(value: unknown): AttemptList {
  const data = object(value, "body");
  return {
    attempts: array(data.attempts, "body.attempts").map((entry, index): Attempt => {
      const path = `body.attempts[${index}]`;
      const item = object(entry, path);
      return {
        attempt: number(item, "attempt", path),
        fireAt: time(item, "fire_at", path),
        startedAt: time(item, "started_at", path),
        durationMs: number(item, "duration_ms", path),
        outcome: oneOf(item, "outcome", path, OUTCOMES),
        statusCode: numberOrNull(item, "status_code", path),
        error: readLastError(item.error, `${path}.error`),
      };
    }),
  };
}

export function readBatchResult(value: unknown, headers: Headers): BatchCreateResult {
  const data = object(value, "body");
  return {
    results: array(data.results, "body.results").map(
      (entry, index): BatchCreateItem => {
        const path = `body.results[${index}]`;
        const item = object(entry, path);
        const status = number(item, "status", path);
        if (status >= 200 && status < 300) {
          return {
            ok: true,
            status,
            created: status === 201,
            timer: readTimer(item.timer, `${path}.timer`),
          };
        }

        return {
          ok: false,
          status,
          error: readApiError(status, { error: item.error }, headers, ""),
        };
      },
    ),
  };
}

/**
 * Read an error answer: the contract's `{"error": {code, message, details}}`
 * when the body holds it, else what the status says.
 */
export function readApiError(
  status: number,
  body: unknown,
  headers: Headers,
  bodyText: string,
): ApiError {
  const requestId =
    headers.get("x-request-id") ?? headers.get("request-id") ?? undefined;
  const error =
    typeof body === "object" && body !== null ? (body as JsonObject).error : undefined;
  if (typeof error === "object" && error !== null) {
    const { code, message, details } = error as JsonObject;
    if (typeof code === "string") {
      const detailMap =
        typeof details === "object" && details !== null && !Array.isArray(details)
          ? (details as JsonObject)
          : {};
      return createApiError({
        status,
        code,
        message: typeof message === "string" ? message : `${status} ${code}`,
        details: detailMap,
        requestId,
        headers,
        existing: code === "already_exists" ? readExisting(detailMap.existing) : null,
      });
    }
  }

  const excerpt = bodyText.trim().slice(0, 200);
  return createApiError({
    status,
    code: CODES_BY_STATUS[status] ?? "unknown",
    message: excerpt
      ? `the server answered ${status}: ${excerpt}`
      : `the server answered ${status}`,
    details: {},
    requestId,
    headers,
  });
}

function readExisting(value: unknown): Timer | null {
  if (value === undefined || value === null) {
    return null;
  }

  try {
    return readTimer(value, "error.details.existing");
  } catch {
    // A malformed `existing` must not hide the 409 itself.
    return null;
  }
}

// -- writing -------------------------------------------------------------

/** Format a time for the wire; an invalid `Date` is a caller's mistake. */
export function writeTime(value: Date, name: string): string {
  if (!(value instanceof Date)) {
    throw new TypeError(`${name} must be a Date`);
  }

  if (Number.isNaN(value.getTime())) {
    throw new RangeError(`${name} is an invalid Date`);
  }

  return value.toISOString();
}

function withoutUndefined(data: JsonObject): JsonObject {
  return Object.fromEntries(
    Object.entries(data).filter(([, value]) => value !== undefined),
  );
}

export function writeCallback(callback: CallbackInput): JsonObject {
  return withoutUndefined({
    url: callback.url,
    timeout_seconds: callback.timeoutSeconds,
    headers: callback.headers,
  });
}

export function writeRetryPolicy(policy: RetryPolicyInput): JsonObject {
  return withoutUndefined({
    max_attempts: policy.maxAttempts,
    initial_interval_seconds: policy.initialIntervalSeconds,
    backoff_coefficient: policy.backoffCoefficient,
    max_interval_seconds: policy.maxIntervalSeconds,
    max_duration_seconds: policy.maxDurationSeconds,
  });
}

export function writeCreateRequest(request: CreateTimerRequest): JsonObject {
  return withoutUndefined({
    id: request.id,
    fire_at:
      request.fireAt === undefined ? undefined : writeTime(request.fireAt, "fireAt"),
    delay_seconds: request.delaySeconds,
    callback:
      request.callback === undefined ? undefined : writeCallback(request.callback),
    payload: request.payload,
    retry_policy:
      request.retryPolicy === undefined
        ? undefined
        : writeRetryPolicy(request.retryPolicy),
  });
}

export function writeUpdateRequest(changes: UpdateTimerRequest): JsonObject {
  return withoutUndefined({
    fire_at:
      changes.fireAt === undefined ? undefined : writeTime(changes.fireAt, "fireAt"),
    delay_seconds: changes.delaySeconds,
    callback:
      changes.callback === undefined ? undefined : writeCallback(changes.callback),
    payload: changes.payload,
    retry_policy:
      changes.retryPolicy === undefined
        ? undefined
        : writeRetryPolicy(changes.retryPolicy),
  });
}
