/** The client of the timer service's REST API (version 1). */

import { type RetrySchedule, retryAfterMs, retryDelayMs } from "./_retry.js";
import {
  readApiError,
  readAttemptList,
  readBatchResult,
  readNamespaceList,
  readTimer,
  readTimerPage,
  writeCreateRequest,
  writeTime,
  writeUpdateRequest,
} from "./_wire.js";
import {
  ConnectionError,
  InvalidResponseError,
  RequestAbortedError,
  TimeoutError,
} from "./errors.js";
import type {
  AttemptList,
  BatchCreateResult,
  CreateTimerRequest,
  CreateTimerResult,
  ListTimersParams,
  NamespaceList,
  Timer,
  TimerFilters,
  TimerPage,
  UpdateTimerRequest,
} from "./models.js";
import { SDK_NAME, VERSION } from "./version.js";

/** The base URL of a server started with its defaults. */
export const DEFAULT_BASE_URL = "http://127.0.0.1:8080";
/** Per attempt of a request. */
export const DEFAULT_TIMEOUT_MS = 30_000;
/** Retries after the first attempt. */
export const DEFAULT_MAX_RETRIES = 3;
/** The ceiling of the first retry's delay; it doubles at each retry. */
export const DEFAULT_RETRY_INITIAL_DELAY_MS = 200;
/** The cap on one retry's delay, a `Retry-After` included. */
export const DEFAULT_RETRY_MAX_DELAY_MS = 5_000;

/** The shape of `fetch` the client needs; the global `fetch` is one. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** How a client is set up; every option has a default. */
export interface TimerClientOptions {
  /** Where the server is, path prefix allowed. Default `http://127.0.0.1:8080`. */
  baseUrl?: string;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Per attempt of a request, in milliseconds. Default 30,000. */
  timeoutMs?: number;
  /** The `fetch` to send requests with. Default: the global `fetch`. */
  fetch?: FetchLike;
  /**
   * A product token of the application (`"billing/2.1"`), sent before the
   * SDK's own in `User-Agent`. Browsers may not send `User-Agent` as set.
   */
  userAgent?: string;
  /** Retries after the first attempt of calls that are safe to repeat. Default 3. */
  maxRetries?: number;
  /** The ceiling of the first retry's delay. Default 200 ms. */
  retryInitialDelayMs?: number;
  /** The cap on one retry's delay, a `Retry-After` included. Default 5,000 ms. */
  retryMaxDelayMs?: number;
  /** Headers sent with every request. */
  headers?: Record<string, string>;
  /** The source of retry jitter, a number in [0, 1). Default `Math.random`. */
  random?: () => number;
}

/** Options of one call. */
export interface RequestOptions {
  /** Aborts the call, its retries included. */
  signal?: AbortSignal;
  /** Overrides the client's timeout for each attempt of this call. */
  timeoutMs?: number;
  /** Overrides the client's number of retries for this call. */
  maxRetries?: number;
  /** Headers sent with this call only. */
  headers?: Record<string, string>;
}

/** Options of a call that may carry the version it expects the timer to have. */
export interface ConditionalRequestOptions extends RequestOptions {
  /**
   * Sent as `If-Match`: if the timer has another version, the call throws
   * `PreconditionFailedError`.
   */
  expectedVersion?: number;
}

interface Call {
  method: "GET" | "POST" | "PATCH" | "DELETE";
  path: string;
  query?: URLSearchParams;
  body?: unknown;
  headers?: Record<string, string>;
  /** Whether sending the request twice has the effect of sending it once. */
  idempotent: boolean;
}

interface Answer {
  status: number;
  headers: Headers;
  data: unknown;
}

/**
 * A client of the timer API.
 *
 * Calls that are safe to repeat (get, list, delete, create and batch create,
 * which the server deduplicates by id, and update with an expected version)
 * are retried after connection errors and `503` answers, with exponential
 * backoff and full jitter. An update without an expected version is sent
 * once: a second copy could apply over a change made in between. A timeout
 * is not retried: the server may still be working on the call, and another
 * full timeout per retry would multiply the caller's wait.
 *
 * Every method throws a `TimerClientError`: an `ApiError` subclass for an
 * error answer, `ConnectionError`, `TimeoutError` or `RequestAbortedError`
 * when no answer came.
 */
export class TimerClient {
  /** The server's address, without a trailing slash; paths start with `/api/v1`. */
  readonly baseUrl: string;
  /** The timeout of each attempt, in milliseconds. */
  readonly timeoutMs: number;
  /** Retries after the first attempt of calls that are safe to repeat. */
  readonly maxRetries: number;
  /** The `User-Agent` header sent with every request. */
  readonly userAgent: string;
  readonly #token: string | undefined;
  readonly #fetch: FetchLike;
  readonly #headers: Record<string, string>;
  readonly #retry: Omit<RetrySchedule, "maxRetries">;

  /**
   * Set up a client; no request is made until a method is called.
   *
   * @throws TypeError if `baseUrl` is not an absolute `http` or `https` URL,
   *   or there is no `fetch` to use.
   * @throws RangeError if a timeout, delay or retry count is out of range.
   */
  constructor(options: TimerClientOptions = {}) {
    const baseUrl = options.baseUrl ?? DEFAULT_BASE_URL;
    let parsed: URL;
    try {
      parsed = new URL(baseUrl);
    } catch {
      throw new TypeError(`baseUrl ${JSON.stringify(baseUrl)} is not an absolute URL`);
    }

    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      throw new TypeError(
        `baseUrl must be an http or https URL, not ${parsed.protocol}`,
      );
    }

    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.timeoutMs = positive(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, "timeoutMs");
    this.maxRetries = count(options.maxRetries ?? DEFAULT_MAX_RETRIES, "maxRetries");
    this.userAgent = options.userAgent
      ? `${options.userAgent} ${SDK_NAME}/${VERSION}`
      : `${SDK_NAME}/${VERSION}`;
    this.#token = options.token;
    this.#headers = { ...options.headers };
    this.#retry = {
      initialDelayMs: nonNegative(
        options.retryInitialDelayMs ?? DEFAULT_RETRY_INITIAL_DELAY_MS,
        "retryInitialDelayMs",
      ),
      maxDelayMs: nonNegative(
        options.retryMaxDelayMs ?? DEFAULT_RETRY_MAX_DELAY_MS,
        "retryMaxDelayMs",
      ),
      random: options.random ?? Math.random,
    };

    if (options.fetch) {
      this.#fetch = options.fetch;
    } else if (typeof globalThis.fetch === "function") {
      // Called through globalThis: browsers refuse a detached `fetch`.
      this.#fetch = (input, init) => globalThis.fetch(input, init);
    } else {
      throw new TypeError("no global fetch: pass one as the fetch option");
    }
  }

  // -- timers -------------------------------------------------------------

  /**
   * Create a timer.
   *
   * Repeating a create with the same definition is harmless: the server
   * answers with the stored timer and `created` is `false`. The same id
   * with a different definition throws `AlreadyExistsError`, which
   * carries the stored timer.
   */
  async createTimer(
    namespace: string,
    request: CreateTimerRequest,
    options?: RequestOptions,
  ): Promise<CreateTimerResult> {
    const answer = await this.#send(
      {
        method: "POST",
        path: `/namespaces/${segment(namespace, "namespace")}/timers`,
        body: writeCreateRequest(request),
        idempotent: true,
      },
      options,
    );
    return { timer: readTimer(answer.data, "body"), created: answer.status === 201 };
  }

  /**
   * Create up to 1,000 timers in one request.
   *
   * Each item is judged as a single create would be and the batch is not
   * atomic: look at every result, in request order.
   */
  async batchCreateTimers(
    namespace: string,
    requests: readonly CreateTimerRequest[],
    options?: RequestOptions,
  ): Promise<BatchCreateResult> {
    const answer = await this.#send(
      {
        method: "POST",
        path: `/namespaces/${segment(namespace, "namespace")}/timers:batchCreate`,
        body: { timers: requests.map(writeCreateRequest) },
        idempotent: true,
      },
      options,
    );
    return readBatchResult(answer.data, answer.headers);
  }

  /** One timer; throws `NotFoundError` if there is none. */
  async getTimer(
    namespace: string,
    id: string,
    options?: RequestOptions,
  ): Promise<Timer> {
    const answer = await this.#send(
      { method: "GET", path: timerPath(namespace, id), idempotent: true },
      options,
    );
    return readTimer(answer.data, "body");
  }

  /**
   * Change a timer's fire time, callback, payload or retry policy.
   *
   * With `expectedVersion` the change applies only to that version (else
   * `PreconditionFailedError`), and so the call may be retried; without
   * it, it is sent once.
   */
  async updateTimer(
    namespace: string,
    id: string,
    changes: UpdateTimerRequest,
    options?: ConditionalRequestOptions,
  ): Promise<Timer> {
    const answer = await this.#send(
      {
        method: "PATCH",
        path: timerPath(namespace, id),
        body: writeUpdateRequest(changes),
        headers: ifMatch(options?.expectedVersion),
        idempotent: options?.expectedVersion !== undefined,
      },
      options,
    );
    return readTimer(answer.data, "body");
  }

  /**
   * Delete a timer: it will not fire again (a delivery already in flight
   * may still arrive once).
   *
   * Known shortcoming: if a first attempt deleted the timer but its answer
   * was lost, the retry finds no timer and throws `NotFoundError`.
   */
  async deleteTimer(
    namespace: string,
    id: string,
    options?: ConditionalRequestOptions,
  ): Promise<void> {
    await this.#send(
      {
        method: "DELETE",
        path: timerPath(namespace, id),
        headers: ifMatch(options?.expectedVersion),
        idempotent: true,
      },
      options,
    );
  }

  /** One page of a namespace's timers, ordered by fire time, then id. */
  async listTimers(
    namespace: string,
    params: ListTimersParams = {},
    options?: RequestOptions,
  ): Promise<TimerPage> {
    const answer = await this.#send(
      {
        method: "GET",
        path: `/namespaces/${segment(namespace, "namespace")}/timers`,
        query: listQuery(params),
        idempotent: true,
      },
      options,
    );
    return readTimerPage(answer.data);
  }

  /**
   * Every timer of a namespace that matches the filters, page after page.
   *
   * `filters.limit` is the page size. Each page is one request, made when
   * the previous page has been consumed; `options` apply to each of them.
   */
  async *iterateTimers(
    namespace: string,
    filters: TimerFilters = {},
    options?: RequestOptions,
  ): AsyncGenerator<Timer, void, undefined> {
    let pageToken: string | undefined;
    do {
      const page = await this.listTimers(
        namespace,
        pageToken === undefined ? filters : { ...filters, pageToken },
        options,
      );
      yield* page.timers;

      if (page.nextPageToken !== null && page.nextPageToken === pageToken) {
        // A server repeating its token would otherwise make this loop endless.
        throw new InvalidResponseError("the server answered the same page token twice");
      }

      pageToken = page.nextPageToken ?? undefined;
    } while (pageToken !== undefined);
  }

  /** The timer's recent delivery attempts, newest first. */
  async listAttempts(
    namespace: string,
    id: string,
    options?: RequestOptions,
  ): Promise<AttemptList> {
    const answer = await this.#send(
      { method: "GET", path: `${timerPath(namespace, id)}/attempts`, idempotent: true },
      options,
    );
    return readAttemptList(answer.data);
  }

  /** The namespaces, with counts of their timers by status. */
  async listNamespaces(options?: RequestOptions): Promise<NamespaceList> {
    const answer = await this.#send(
      { method: "GET", path: "/namespaces", idempotent: true },
      options,
    );
    return readNamespaceList(answer.data);
  }

  // -- transport -----------------------------------------------------------

  async #send(call: Call, options: RequestOptions = {}): Promise<Answer> {
    const maxRetries = call.idempotent
      ? count(options.maxRetries ?? this.maxRetries, "maxRetries")
      : 0;
    const timeoutMs = positive(options.timeoutMs ?? this.timeoutMs, "timeoutMs");
    const schedule: RetrySchedule = { ...this.#retry, maxRetries };
    const url = this.#url(call);
    const init = this.#init(call, options);

    for (let retry = 0; ; retry++) {
      let answer: Answer & { text: string };
      try {
        answer = await this.#attempt(url, init, timeoutMs, options.signal);
      } catch (error) {
        if (!(error instanceof ConnectionError) || retry >= maxRetries) {
          throw error;
        }

        await sleep(retryDelayMs(retry, schedule, null), options.signal);
        continue;
      }

      if (answer.status === 503 && retry < maxRetries) {
        const wait = retryAfterMs(answer.headers.get("retry-after"), Date.now());
        await sleep(retryDelayMs(retry, schedule, wait), options.signal);
        continue;
      }

      if (answer.status >= 400) {
        throw readApiError(answer.status, answer.data, answer.headers, answer.text);
      }

      if (answer.data === undefined && answer.status !== 204 && answer.text.trim()) {
        throw new InvalidResponseError(
          `the server answered ${answer.status} with a body that is not JSON`,
        );
      }

      return answer;
    }
  }

  #url(call: Call): string {
    const query = call.query?.toString();
    return `${this.baseUrl}/api/v1${call.path}${query ? `?${query}` : ""}`;
  }

  #init(call: Call, options: RequestOptions): RequestInit {
    // Headers, not an object: a name given in another case replaces, not adds.
    const headers = new Headers({
      Accept: "application/json",
      "User-Agent": this.userAgent,
    });
    for (const extra of [this.#headers, options.headers ?? {}, call.headers ?? {}]) {
      for (const [name, value] of Object.entries(extra)) {
        headers.set(name, value);
      }
    }

    if (this.#token) {
      headers.set("Authorization", `Bearer ${this.#token}`);
    }

    const init: RequestInit = { method: call.method, headers };
    if (call.body !== undefined) {
      headers.set("Content-Type", "application/json");
      init.body = JSON.stringify(call.body);
    }

    return init;
  }

  /** One request and its whole body, within the timeout. */
  async #attempt(
    url: string,
    init: RequestInit,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<Answer & { text: string }> {
    if (signal?.aborted) {
      throw new RequestAbortedError("the call was aborted", { cause: signal.reason });
    }

    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    const onAbort = () => controller.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });

    try {
      const response = await this.#fetch(url, { ...init, signal: controller.signal });
      const text = await response.text();
      return {
        status: response.status,
        headers: response.headers,
        text,
        data: parse(text),
      };
    } catch (error) {
      if (signal?.aborted) {
        throw new RequestAbortedError("the call was aborted", { cause: signal.reason });
      }

      if (timedOut) {
        throw new TimeoutError(timeoutMs, { cause: error });
      }

      const reason = error instanceof Error ? error.message : String(error);
      throw new ConnectionError(`${init.method} ${url} failed: ${reason}`, {
        cause: error,
      });
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }
}

function parse(text: string): unknown {
  if (!text.trim()) {
    return undefined;
  }

  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Wait, unless the signal fires first. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new RequestAbortedError("the call was aborted", { cause: signal.reason }));
      return;
    }

    const onAbort = () => {
      clearTimeout(timer);
      reject(
        new RequestAbortedError("the call was aborted", { cause: signal?.reason }),
      );
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * One path segment. Empty, `.` and `..` are refused: URL parsers would
 * drop or resolve them and send the request to another endpoint.
 */
function segment(value: string, name: string): string {
  if (typeof value !== "string" || value === "" || value === "." || value === "..") {
    throw new TypeError(`${name} must be a non-empty string other than "." and ".."`);
  }

  return encodeURIComponent(value);
}

function timerPath(namespace: string, id: string): string {
  return `/namespaces/${segment(namespace, "namespace")}/timers/${segment(id, "id")}`;
}

function ifMatch(expectedVersion: number | undefined): Record<string, string> {
  if (expectedVersion === undefined) {
    return {};
  }

  return { "If-Match": `"${count(expectedVersion, "expectedVersion")}"` };
}

function listQuery(params: ListTimersParams): URLSearchParams {
  const query = new URLSearchParams();
  const statuses =
    params.status === undefined
      ? []
      : typeof params.status === "string"
        ? [params.status]
        : params.status;
  for (const status of statuses) {
    query.append("status", status);
  }

  if (params.fireAfter !== undefined) {
    query.set("fire_after", writeTime(params.fireAfter, "fireAfter"));
  }

  if (params.fireBefore !== undefined) {
    query.set("fire_before", writeTime(params.fireBefore, "fireBefore"));
  }

  if (params.idPrefix !== undefined) {
    query.set("id_prefix", params.idPrefix);
  }

  if (params.limit !== undefined) {
    query.set("limit", String(params.limit));
  }

  if (params.pageToken !== undefined) {
    query.set("page_token", params.pageToken);
  }

  return query;
}

// setTimeout takes at most this many milliseconds; longer waits would fire at once.
const MAX_TIMER_MS = 2_147_483_647;

function count(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a whole number >= 0, not ${value}`);
  }

  return value;
}

function positive(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0 || value > MAX_TIMER_MS) {
    throw new RangeError(
      `${name} must be a number > 0 and <= ${MAX_TIMER_MS}, not ${value}`,
    );
  }

  return value;
}

function nonNegative(value: number, name: string): number {
  if (!Number.isFinite(value) || value < 0 || value > MAX_TIMER_MS) {
    throw new RangeError(
      `${name} must be a number >= 0 and <= ${MAX_TIMER_MS}, not ${value}`,
    );
  }

  return value;
}
