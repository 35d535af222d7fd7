/** The retry schedule's arithmetic, without waiting. */

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  DEFAULT_RETRY_INITIAL_DELAY_MS,
  DEFAULT_RETRY_MAX_DELAY_MS,
} from "@timerkernel/client";

import {
  backoffDelayMs,
  type RetrySchedule,
  retryAfterMs,
  retryDelayMs,
} from "../../src/_retry.js";

function schedule(random: () => number): RetrySchedule {
  return {
    maxRetries: 3,
    initialDelayMs: DEFAULT_RETRY_INITIAL_DELAY_MS,
    maxDelayMs: DEFAULT_RETRY_MAX_DELAY_MS,
    random,
  };
}

describe("backoffDelayMs", () => {
  test("the ceilings start at 0.2 s, double, and stop at 5 s", () => {
    const top = schedule(() => 1);

    const ceilings = [0, 1, 2, 3, 4, 5, 6, 10].map((retry) =>
      backoffDelayMs(retry, top),
    );

    assert.deepEqual(ceilings, [200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
  });

  test("full jitter draws uniformly below the ceiling", () => {
    assert.equal(
      backoffDelayMs(
        2,
        schedule(() => 0),
      ),
      0,
    );
    assert.equal(
      backoffDelayMs(
        2,
        schedule(() => 0.25),
      ),
      200,
    );
    assert.equal(
      backoffDelayMs(
        0,
        schedule(() => 0.5),
      ),
      100,
    );
  });

  test("with the default random, delays stay within their ceiling", () => {
    for (let retry = 0; retry < 8; retry++) {
      const delay = backoffDelayMs(retry, schedule(Math.random));
      assert.ok(delay >= 0 && delay <= Math.min(5000, 200 * 2 ** retry));
    }
  });
});

describe("retryAfterMs", () => {
  const now = Date.parse("2026-12-03T08:00:00Z");

  test("seconds", () => {
    assert.equal(retryAfterMs("1", now), 1000);
    assert.equal(retryAfterMs(" 2.5 ", now), 2500);
    assert.equal(retryAfterMs("0", now), 0);
  });

  test("an HTTP date", () => {
    assert.equal(retryAfterMs("Thu, 03 Dec 2026 08:00:03 GMT", now), 3000);
    assert.equal(retryAfterMs("Thu, 03 Dec 2026 07:59:00 GMT", now), 0);
  });

  test("absent or unreadable", () => {
    assert.equal(retryAfterMs(null, now), null);
    assert.equal(retryAfterMs("soon", now), null);
    assert.equal(retryAfterMs("-1", now), null);
  });
});

describe("retryDelayMs", () => {
  test("a Retry-After replaces the backoff, up to the cap", () => {
    const top = schedule(() => 1);

    assert.equal(retryDelayMs(0, top, 1000), 1000);
    assert.equal(retryDelayMs(0, top, 60_000), 5000);
    assert.equal(retryDelayMs(3, top, 0), 0);
    assert.equal(retryDelayMs(3, top, null), 1600);
  });
});
