/**
 * The typed models of the timer API.
 *
 * Field names are the camelCase forms of the wire's snake_case names, and
 * every time is a `Date`, in what the client returns and in what it takes.
 * A `payload` is opaque JSON and passes through unchanged, keys included.
 */

import type { ApiError } from "./errors.js";

/** Where a timer is in its life. */
export type TimerStatus = "scheduled" | "succeeded" | "failed";

/** Why a delivery attempt failed. */
export type ErrorKind = "timeout" | "connection" | "http_status" | "invalid_response";

/** What one delivery attempt led to. */
export type AttemptOutcome = "succeeded" | "rescheduled" | "failed";

/** The HTTP request the service makes when a timer fires, as stored. */
export interface Callback {
  /** Absolute `http` or `https` URL that is POSTed at fire time. */
  url: string;
  /** Per-attempt timeout, 0.1 to 300 seconds. */
  timeoutSeconds: number;
  /** Extra request headers (at most 20). */
  headers: Record<string, string>;
}

/** A callback as given to create or update; missing fields take the defaults. */
export interface CallbackInput {
  /** Absolute `http` or `https` URL that is POSTed at fire time. */
  url: string;
  /** Default 10. */
  timeoutSeconds?: number;
  /** Default `{}`. */
  headers?: Record<string, string>;
}

/** How failed deliveries are retried, as stored. */
export interface RetryPolicy {
  /** Attempts in all, the first included; `0` means unlimited. */
  maxAttempts: number;
  /** Delay before the second attempt. */
  initialIntervalSeconds: number;
  /** Growth of the delay from one attempt to the next, at least 1. */
  backoffCoefficient: number;
  /** Cap on one delay. */
  maxIntervalSeconds: number;
  /** Give up after this long since the first attempt; `null` for no limit. */
  maxDurationSeconds: number | null;
}

/**
 * A retry policy as given to create or update; missing fields take the
 * server's defaults (10 attempts, 1 s, 2.0, 600 s, no duration limit).
 */
export type RetryPolicyInput = Partial<RetryPolicy>;

/** Why the last failed attempt failed. */
export interface LastError {
  at: Date;
  kind: ErrorKind;
  message: string;
  /** The HTTP status of the answer, when there was one. */
  statusCode: number | null;
}

/** A timer as the server stores it. */
export interface Timer {
  namespace: string;
  id: string;
  fireAt: Date;
  callback: Callback;
  payload: unknown;
  retryPolicy: RetryPolicy;
  status: TimerStatus;
  /** Delivery attempts since the timer was last (re)scheduled. */
  attempts: number;
  /** When the next delivery is due; `null` once the timer finished. */
  nextAttemptAt: Date | null;
  lastError: LastError | null;
  createdAt: Date;
  updatedAt: Date;
  /** When the last successful delivery completed. */
  executedAt: Date | null;
  /** Starts at 1 and grows by one at every change; the value `If-Match` compares. */
  version: number;
}

interface TimerDefinition {
  /** Unique in its namespace: the key that makes a repeated create harmless. */
  id: string;
  callback: CallbackInput;
  /** Any JSON value; `null` when omitted. */
  payload?: unknown;
  retryPolicy?: RetryPolicyInput;
}

/**
 * A timer to create: give either `fireAt` or `delaySeconds` (from the
 * moment the server takes the request). A `fireAt` in the past is due at once.
 */
export type CreateTimerRequest = TimerDefinition &
  (
    | { fireAt: Date; delaySeconds?: undefined }
    | { delaySeconds: number; fireAt?: undefined }
  );

interface TimerChanges {
  /** Replaces the stored callback whole. */
  callback?: CallbackInput;
  /** `null` clears the payload; `undefined` leaves it as it is. */
  payload?: unknown;
  /** Replaces the stored retry policy whole; missing fields take the defaults. */
  retryPolicy?: RetryPolicyInput;
}

/**
 * Changes to a timer: any subset of the fields, with at most one of
 * `fireAt` and `delaySeconds`. A new fire time re-arms the timer, also one
 * that already finished: its status becomes `scheduled`, its attempts 0.
 */
export type UpdateTimerRequest = TimerChanges &
  (
    | { fireAt?: Date; delaySeconds?: undefined }
    | { delaySeconds?: number; fireAt?: undefined }
  );

/** What a create did. */
export interface CreateTimerResult {
  timer: Timer;
  /** `false` when the id already held the same definition (the server answered 200). */
  created: boolean;
}

/** The outcome of one item of a batch create, in request order. */
export type BatchCreateItem =
  | { ok: true; status: number; created: boolean; timer: Timer }
  | { ok: false; status: number; error: ApiError };

/** The answer of a batch create. */
export interface BatchCreateResult {
  results: BatchCreateItem[];
}

/** Filters of a timer listing; every one is optional. */
export interface TimerFilters {
  /** One status or several (any of them matches). */
  status?: TimerStatus | readonly TimerStatus[];
  /** Inclusive lower bound on `fireAt`. */
  fireAfter?: Date;
  /** Exclusive upper bound on `fireAt`. */
  fireBefore?: Date;
  idPrefix?: string;
  /** Page size, 1 to 1,000; the server's default is 50. */
  limit?: number;
}

/** One page request of a listing. */
export interface ListTimersParams extends TimerFilters {
  /** The `nextPageToken` of the previous page, with the same filters. */
  pageToken?: string;
}

/** One page of timers, ordered by `fireAt`, then `id`. */
export interface TimerPage {
  timers: Timer[];
  /** `null` on the last page. */
  nextPageToken: string | null;
}

/** Counts of a namespace's timers by status. */
export interface NamespaceCounts {
  scheduled: number;
  succeeded: number;
  failed: number;
}

/** A namespace and how many timers it holds. */
export interface Namespace {
  name: string;
  counts: NamespaceCounts;
}

/** The answer of `listNamespaces`. */
export interface NamespaceList {
  namespaces: Namespace[];
}

/** One delivery attempt of a timer. */
export interface Attempt {
  /** 1-based number of the attempt since the timer was last (re)scheduled. */
  attempt: number;
  fireAt: Date;
  startedAt: Date;
  durationMs: number;
  outcome: AttemptOutcome;
  statusCode: number | null;
  error: LastError | null;
}

/** The answer of `listAttempts`: newest first. */
export interface AttemptList {
  attempts: Attempt[];
}

/** One bad field of an `invalid_argument` error, with a dotted path. */
export interface FieldViolation {
  field: string;
  reason: string;
}
