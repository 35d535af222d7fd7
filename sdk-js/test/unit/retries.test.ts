/** Retries, backoff, timeouts and aborts, against a local stub server. */

import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";

import {
  ConnectionError,
  InvalidArgumentError,
  RequestAbortedError,
  TimeoutError,
  TimerClient,
  type TimerClientOptions,
  UnavailableError,
} from "@timerkernel/client";

import { type Reply, StubServer, wireTimer } from "../support/stub.js";

let stub: StubServer;

before(async () => {
  stub = await StubServer.start();
});

after(async () => {
  await stub.close();
});

beforeEach(() => {
  stub.reset();
});

/** A client whose retries wait next to nothing, unless told otherwise. */
function client(options: TimerClientOptions = {}): TimerClient {
  return new TimerClient({
    baseUrl: stub.url,
    retryInitialDelayMs: 1,
    retryMaxDelayMs: 5,
    ...options,
  });
}

const OK_TIMER: Reply = { status: 200, body: wireTimer() };
const UNAVAILABLE: Reply = {
  status: 503,
  body: { error: { code: "unavailable", message: "storage down", details: {} } },
};
const CALLBACK = { url: "https://x.example/" };

function gaps(): number[] {
  return stub.requests.slice(1).map((request, index) => {
    const previous = stub.requests[index];
    assert.ok(previous);
    return request.at - previous.at;
  });
}

describe("what is retried", () => {
  test("a 503 is retried until an answer comes", async () => {
    stub.reply(UNAVAILABLE, UNAVAILABLE, OK_TIMER);

    const timer = await client().getTimer("shop", "cart-1");

    assert.equal(timer.id, "cart-1");
    assert.equal(stub.requests.length, 3);
  });

  test("three retries after the first attempt, then the last error", async () => {
    stub.reply(UNAVAILABLE, UNAVAILABLE, UNAVAILABLE, UNAVAILABLE, OK_TIMER);

    await assert.rejects(client().getTimer("shop", "cart-1"), UnavailableError);

    assert.equal(stub.requests.length, 4);
  });

  test("a dropped connection is retried", async () => {
    stub.reply("reset", "reset", OK_TIMER);

    await client().getTimer("shop", "cart-1");

    assert.equal(stub.requests.length, 3);
  });

  test("a refused connection is retried, then thrown", async () => {
    const closed = await StubServer.start();
    const url = closed.url;
    await closed.close();
    let calls = 0;
    const counting = (input: string, init: RequestInit) => {
      calls++;
      return fetch(input, init);
    };

    await assert.rejects(
      client({ baseUrl: url, fetch: counting }).getTimer("shop", "x"),
      ConnectionError,
    );

    assert.equal(calls, 4);
  });

  const SAFE: [string, (c: TimerClient) => Promise<unknown>, Reply][] = [
    ["getTimer", (c) => c.getTimer("shop", "a"), OK_TIMER],
    [
      "listTimers",
      (c) => c.listTimers("shop"),
      { status: 200, body: { timers: [], next_page_token: null } },
    ],
    [
      "listNamespaces",
      (c) => c.listNamespaces(),
      { status: 200, body: { namespaces: [] } },
    ],
    [
      "listAttempts",
      (c) => c.listAttempts("shop", "a"),
      { status: 200, body: { attempts: [] } },
    ],
    ["deleteTimer", (c) => c.deleteTimer("shop", "a"), { status: 204 }],
    [
      "createTimer",
      (c) => c.createTimer("shop", { id: "a", delaySeconds: 1, callback: CALLBACK }),
      { status: 201, body: wireTimer() },
    ],
    [
      "batchCreateTimers",
      (c) =>
        c.batchCreateTimers("shop", [{ id: "a", delaySeconds: 1, callback: CALLBACK }]),
      { status: 200, body: { results: [] } },
    ],
    [
      "updateTimer with an expected version",
      (c) => c.updateTimer("shop", "a", { payload: 1 }, { expectedVersion: 1 }),
      OK_TIMER,
    ],
  ];

  for (const [name, call, success] of SAFE) {
    test(`${name} is retried after a 503 and after a dropped connection`, async () => {
      stub.reply(UNAVAILABLE, "reset", success);

      await call(client());

      assert.equal(stub.requests.length, 3);
      const bodies = new Set(stub.requests.map((request) => request.body));
      assert.equal(bodies.size, 1, "every attempt sends the same request");
    });
  }

  test("updateTimer without an expected version is sent once after a 503", async () => {
    stub.reply(UNAVAILABLE, OK_TIMER);

    await assert.rejects(
      client().updateTimer("shop", "a", { payload: 1 }),
      UnavailableError,
    );

    assert.equal(stub.requests.length, 1);
  });

  test("updateTimer without an expected version is sent once after a dropped connection", async () => {
    stub.reply("reset", OK_TIMER);

    await assert.rejects(
      client().updateTimer("shop", "a", { payload: 1 }),
      ConnectionError,
    );

    assert.equal(stub.requests.length, 1);
  });

  for (const status of [400, 401, 403, 404, 409, 412, 413, 500]) {
    test(`a ${status} is not retried`, async () => {
      stub.reply(
        { status, body: { error: { code: "x", message: "no", details: {} } } },
        OK_TIMER,
      );

      await assert.rejects(client().getTimer("shop", "a"));

      assert.equal(stub.requests.length, 1);
    });
  }

  test("maxRetries 0 turns retries off, per client and per call", async () => {
    stub.reply(UNAVAILABLE, UNAVAILABLE, OK_TIMER);

    await assert.rejects(
      client({ maxRetries: 0 }).getTimer("shop", "a"),
      UnavailableError,
    );
    await assert.rejects(
      client().getTimer("shop", "a", { maxRetries: 0 }),
      UnavailableError,
    );

    assert.equal(stub.requests.length, 2);
  });

  test("the defaults are three retries and 30 s per attempt", () => {
    const defaults = new TimerClient();

    assert.equal(defaults.maxRetries, 3);
    assert.equal(defaults.timeoutMs, 30_000);
  });
});

describe("backoff", () => {
  test("the delay doubles from the initial delay, with the jitter at its top", async () => {
    stub.reply(UNAVAILABLE, UNAVAILABLE, UNAVAILABLE, OK_TIMER);

    await client({
      retryInitialDelayMs: 40,
      retryMaxDelayMs: 1000,
      random: () => 1,
    }).getTimer("shop", "a");

    const [first, second, third] = gaps();
    assert.ok(first !== undefined && second !== undefined && third !== undefined);
    assert.ok(first >= 38 && first < 40 + 300, `first gap ${first}`);
    assert.ok(second >= 78 && second < 80 + 300, `second gap ${second}`);
    assert.ok(third >= 158 && third < 160 + 300, `third gap ${third}`);
  });

  test("the delay is capped", async () => {
    stub.reply(UNAVAILABLE, UNAVAILABLE, UNAVAILABLE, OK_TIMER);

    await client({
      retryInitialDelayMs: 100,
      retryMaxDelayMs: 120,
      random: () => 1,
    }).getTimer("shop", "a");

    const [first, second, third] = gaps();
    assert.ok(first !== undefined && second !== undefined && third !== undefined);
    assert.ok(first >= 98 && first < 400, `first gap ${first}`);
    assert.ok(second >= 118 && second < 420, `second gap ${second}`);
    assert.ok(third >= 118 && third < 420, `third gap ${third}`);
  });

  test("full jitter: each delay is the draw times its ceiling", async () => {
    stub.reply(UNAVAILABLE, UNAVAILABLE, OK_TIMER);
    const draws: number[] = [];
    const random = () => {
      draws.push(0);
      return 0;
    };

    await client({ retryInitialDelayMs: 2000, retryMaxDelayMs: 5000, random }).getTimer(
      "shop",
      "a",
    );

    assert.equal(draws.length, 2, "one draw per retry");
    for (const gap of gaps()) {
      assert.ok(gap < 1000, `a zero draw waits next to nothing, not ${gap} ms`);
    }
  });

  test("Retry-After of a 503 replaces the backoff", async () => {
    stub.reply({ ...UNAVAILABLE, headers: { "Retry-After": "0" } }, OK_TIMER);

    await client({
      retryInitialDelayMs: 3000,
      retryMaxDelayMs: 5000,
      random: () => 1,
    }).getTimer("shop", "a");

    const [gap] = gaps();
    assert.ok(gap !== undefined && gap < 1500, `Retry-After: 0 waited ${gap} ms`);
  });

  test("Retry-After is honoured", async () => {
    stub.reply({ ...UNAVAILABLE, headers: { "Retry-After": "1" } }, OK_TIMER);

    await client({
      retryInitialDelayMs: 1,
      retryMaxDelayMs: 5000,
      random: () => 0,
    }).getTimer("shop", "a");

    const [gap] = gaps();
    assert.ok(
      gap !== undefined && gap >= 990 && gap < 2000,
      `Retry-After: 1 waited ${gap} ms`,
    );
  });

  test("Retry-After is honoured up to the cap", async () => {
    stub.reply({ ...UNAVAILABLE, headers: { "Retry-After": "30" } }, OK_TIMER);

    await client({
      retryInitialDelayMs: 1,
      retryMaxDelayMs: 200,
      random: () => 0,
    }).getTimer("shop", "a");

    const [gap] = gaps();
    assert.ok(
      gap !== undefined && gap >= 195 && gap < 900,
      `capped wait was ${gap} ms`,
    );
  });
});

describe("timeouts", () => {
  test("no answer within the timeout is a TimeoutError", async () => {
    stub.reply({ ...OK_TIMER, delayMs: 2000 });
    const started = performance.now();

    const error = await client({ timeoutMs: 100, maxRetries: 0 })
      .getTimer("shop", "a")
      .catch((caught: unknown) => caught);

    assert.ok(error instanceof TimeoutError, String(error));
    assert.equal(error.timeoutMs, 100);
    assert.ok(!(error instanceof ConnectionError));
    assert.ok(performance.now() - started < 1500);
  });

  test("the timeout covers the body, not only the headers", async () => {
    stub.reply({ ...OK_TIMER, delayMs: 2000, slowBody: true });

    await assert.rejects(
      client({ timeoutMs: 150, maxRetries: 0 }).getTimer("shop", "a"),
      TimeoutError,
    );
  });

  test("a timed-out attempt is not retried, even of a safe call", async () => {
    stub.reply({ ...OK_TIMER, delayMs: 2000 }, OK_TIMER);

    await assert.rejects(
      client({ timeoutMs: 150 }).getTimer("shop", "a"),
      TimeoutError,
    );

    assert.equal(stub.requests.length, 1);
  });

  test("a call's own timeout overrides the client's", async () => {
    stub.reply({ ...OK_TIMER, delayMs: 400 });

    const timer = await client({ timeoutMs: 50 }).getTimer("shop", "a", {
      timeoutMs: 5000,
      maxRetries: 0,
    });

    assert.equal(timer.id, "cart-1");
  });

  test("timeouts that setTimeout cannot hold are refused", () => {
    assert.throws(() => client({ timeoutMs: 0 }), RangeError);
    assert.throws(() => client({ timeoutMs: 2 ** 31 }), RangeError);
    assert.throws(() => client({ maxRetries: -1 }), RangeError);
  });
});

describe("aborts", () => {
  test("an aborted signal sends nothing", async () => {
    const controller = new AbortController();
    controller.abort(new Error("stop"));

    const error = await client()
      .getTimer("shop", "a", { signal: controller.signal })
      .catch((caught: unknown) => caught);

    assert.ok(error instanceof RequestAbortedError);
    assert.equal((error.cause as Error).message, "stop");
    assert.equal(stub.requests.length, 0);
  });

  test("aborting a request in flight ends the call at once, unretried", async () => {
    stub.reply({ ...OK_TIMER, delayMs: 3000 }, OK_TIMER);
    const controller = new AbortController();
    const call = client().getTimer("shop", "a", { signal: controller.signal });

    await stub.received(1);
    const aborted = performance.now();
    controller.abort();

    await assert.rejects(call, RequestAbortedError);
    assert.ok(performance.now() - aborted < 2000);
    assert.equal(stub.requests.length, 1);
  });

  test("aborting during the wait before a retry ends the call", async () => {
    stub.reply(UNAVAILABLE, OK_TIMER);
    const controller = new AbortController();
    let aborted = 0;
    // The draw is made just before the wait begins: abort right after it.
    const random = () => {
      queueMicrotask(() => {
        aborted = performance.now();
        controller.abort();
      });
      return 1;
    };

    await assert.rejects(
      client({ retryInitialDelayMs: 5000, retryMaxDelayMs: 5000, random }).getTimer(
        "shop",
        "a",
        { signal: controller.signal },
      ),
      RequestAbortedError,
    );

    assert.ok(aborted > 0 && performance.now() - aborted < 2000);
    assert.equal(stub.requests.length, 1);
  });

  test("errors that are not transient are thrown at once", async () => {
    stub.reply(
      {
        status: 400,
        body: { error: { code: "invalid_argument", message: "x", details: {} } },
      },
      OK_TIMER,
    );

    await assert.rejects(client().getTimer("shop", "a"), InvalidArgumentError);
    assert.equal(stub.requests.length, 1);
  });
});
