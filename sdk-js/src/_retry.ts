/** The client's retry schedule: exponential backoff with full jitter. */

/** How a client retries; every duration in milliseconds. */
export interface RetrySchedule {
  /** Retries after the first attempt. */
  maxRetries: number;
  /** The ceiling of the first retry's delay; it doubles with each retry. */
  initialDelayMs: number;
  /** The cap on any one delay, a `Retry-After` included. */
  maxDelayMs: number;
  /** A number in [0, 1): the jitter. */
  random: () => number;
}

/**
 * The delay before retry number `retry` (0 for the first retry).
 *
 * Full jitter: a uniform draw below `min(maxDelay, initialDelay * 2^retry)`,
 * which spreads clients that failed together instead of having them retry
 * in step.
 */
export function backoffDelayMs(retry: number, schedule: RetrySchedule): number {
  const ceiling = Math.min(schedule.maxDelayMs, schedule.initialDelayMs * 2 ** retry);
  return schedule.random() * ceiling;
}

/**
 * The wait a `Retry-After` header asks for, in milliseconds, or `null` when
 * there is none or it cannot be read. It holds seconds or an HTTP date.
 */
export function retryAfterMs(header: string | null, nowMs: number): number | null {
  if (header === null) {
    return null;
  }

  const text = header.trim();
  if (/^\d+(\.\d+)?$/.test(text)) {
    return Number(text) * 1000;
  }

  // Every HTTP date form starts with the day's name; Date.parse alone would
  // also take "-1" as a year.
  const date = /^[A-Za-z]{3}/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(date)) {
    return null;
  }

  return Math.max(0, date - nowMs);
}

/** The delay before a retry, honouring `Retry-After` up to the cap. */
export function retryDelayMs(
  retry: number,
  schedule: RetrySchedule,
  retryAfter: number | null,
): number {
  if (retryAfter !== null) {
    return Math.min(retryAfter, schedule.maxDelayMs);
  }

  return backoffDelayMs(retry, schedule);
}
