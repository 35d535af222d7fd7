/** What the client sends and how it reads the answers, against a local stub server. */

import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";

import { InvalidResponseError, TimerClient, VERSION } from "@timerkernel/client";

import { billingClient } from "../../examples/configure.js";
import { StubServer, wireTimer } from "../support/stub.js";

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

function client(
  options: ConstructorParameters<typeof TimerClient>[0] = {},
): TimerClient {
  return new TimerClient({ baseUrl: stub.url, ...options });
}

describe("headers", () => {
  test("every request names the SDK and asks for JSON", async () => {
    stub.reply({ status: 200, body: wireTimer() });

    await client().getTimer("shop", "cart-1");

    const request = stub.single();
    assert.equal(request.headers["user-agent"], `timerkernel-js/${VERSION}`);
    assert.equal(request.headers.accept, "application/json");
    assert.equal(request.headers.authorization, undefined);
    assert.equal(request.headers["if-match"], undefined);
  });

  test("the token is sent as a bearer token", async () => {
    stub.reply({ status: 200, body: wireTimer() });

    await client({ token: "s3cret" }).getTimer("shop", "cart-1");

    assert.equal(stub.single().headers.authorization, "Bearer s3cret");
  });

  test("an application's product token goes before the SDK's", async () => {
    stub.reply({ status: 200, body: { namespaces: [] } });

    await client({ userAgent: "billing/2.1" }).listNamespaces();

    assert.equal(
      stub.single().headers["user-agent"],
      `billing/2.1 timerkernel-js/${VERSION}`,
    );
  });

  test("client and call headers are both sent, the call's winning", async () => {
    stub.reply({ status: 200, body: { namespaces: [] } });

    await client({ headers: { "X-Tenant": "a", "X-Trace": "client" } }).listNamespaces({
      headers: { "X-Trace": "call" },
    });

    const request = stub.single();
    assert.equal(request.headers["x-tenant"], "a");
    assert.equal(request.headers["x-trace"], "call");
  });

  test("a header named in another case replaces the SDK's", async () => {
    stub.reply({ status: 200, body: { namespaces: [] } });

    await client({ headers: { "user-agent": "custom/1" } }).listNamespaces();

    assert.equal(stub.single().headers["user-agent"], "custom/1");
  });

  test("a base URL with a path prefix and a trailing slash", async () => {
    stub.reply({ status: 200, body: { namespaces: [] } });

    await new TimerClient({ baseUrl: `${stub.url}/timers-proxy/` }).listNamespaces();

    assert.equal(stub.single().path, "/timers-proxy/api/v1/namespaces");
  });

  test("the default base URL is the server's default address", () => {
    assert.equal(new TimerClient().baseUrl, "http://127.0.0.1:8080");
  });

  test("a base URL that is not http or https is refused", () => {
    assert.throws(() => new TimerClient({ baseUrl: "ftp://example.org" }), TypeError);
    assert.throws(() => new TimerClient({ baseUrl: "not a url" }), TypeError);
  });

  test("the configuration example sends its token and product token", async () => {
    stub.reply({ status: 200, body: { namespaces: [] } });
    const configured = billingClient(stub.url, "s3cret");

    await configured.listNamespaces();

    const request = stub.single();
    assert.equal(request.headers.authorization, "Bearer s3cret");
    assert.equal(
      request.headers["user-agent"],
      `billing/2.1 timerkernel-js/${VERSION}`,
    );
    assert.equal(configured.timeoutMs, 10_000);
    assert.equal(configured.maxRetries, 5);
  });

  test("an injected fetch sends every request", async () => {
    stub.reply({ status: 200, body: { namespaces: [] } });
    const seen: string[] = [];
    const counting = (input: string, init: RequestInit) => {
      seen.push(`${init.method} ${input}`);
      return fetch(input, init);
    };

    await client({ fetch: counting }).listNamespaces();

    assert.deepEqual(seen, [`GET ${stub.url}/api/v1/namespaces`]);
    assert.equal(stub.requests.length, 1);
  });
});

describe("createTimer", () => {
  test("posts the definition in the wire's names and reads the timer", async () => {
    stub.reply({ status: 201, body: wireTimer(), headers: { ETag: '"1"' } });

    const { timer, created } = await client().createTimer("shop", {
      id: "cart-1",
      fireAt: new Date("2026-12-03T10:00:00+02:00"),
      callback: {
        url: "https://shop.example/hook",
        timeoutSeconds: 5,
        headers: { Authorization: "Bearer x" },
      },
      payload: { cart: 1, nested_key: [1, 2] },
      retryPolicy: {
        maxAttempts: 5,
        initialIntervalSeconds: 2,
        maxDurationSeconds: null,
      },
    });

    const request = stub.single();
    assert.equal(request.method, "POST");
    assert.equal(request.path, "/api/v1/namespaces/shop/timers");
    assert.equal(request.headers["content-type"], "application/json");
    assert.deepEqual(JSON.parse(request.body), {
      id: "cart-1",
      fire_at: "2026-12-03T08:00:00.000Z",
      callback: {
        url: "https://shop.example/hook",
        timeout_seconds: 5,
        headers: { Authorization: "Bearer x" },
      },
      payload: { cart: 1, nested_key: [1, 2] },
      retry_policy: {
        max_attempts: 5,
        initial_interval_seconds: 2,
        max_duration_seconds: null,
      },
    });

    assert.equal(created, true);
    assert.equal(timer.id, "cart-1");
    assert.deepEqual(timer.fireAt, new Date("2026-12-03T08:00:00.000Z"));
    assert.deepEqual(timer.callback, {
      url: "https://shop.example/hook",
      timeoutSeconds: 10,
      headers: {},
    });
    assert.deepEqual(timer.retryPolicy, {
      maxAttempts: 10,
      initialIntervalSeconds: 1,
      backoffCoefficient: 2,
      maxIntervalSeconds: 600,
      maxDurationSeconds: null,
    });
    assert.deepEqual(timer.payload, { cart: 1 });
    assert.equal(timer.status, "scheduled");
    assert.deepEqual(timer.nextAttemptAt, new Date("2026-12-03T08:00:00.000Z"));
    assert.equal(timer.lastError, null);
    assert.equal(timer.executedAt, null);
    assert.equal(timer.version, 1);
  });

  test("a delay is sent as delay_seconds, and a 200 means not created", async () => {
    stub.reply({ status: 200, body: wireTimer() });

    const { created } = await client().createTimer("shop", {
      id: "cart-1",
      delaySeconds: 30,
      callback: { url: "https://shop.example/hook" },
    });

    assert.deepEqual(JSON.parse(stub.single().body), {
      id: "cart-1",
      delay_seconds: 30,
      callback: { url: "https://shop.example/hook" },
    });
    assert.equal(created, false);
  });

  test("ids and namespaces are percent-encoded in the path", async () => {
    stub.reply({ status: 200, body: wireTimer({ id: "order:7@eu" }) });

    await client().getTimer("shop", "order:7@eu");

    assert.equal(stub.single().url, "/api/v1/namespaces/shop/timers/order%3A7%40eu");
  });

  test("an id that a URL parser would drop is refused before any request", async () => {
    for (const id of ["", ".", ".."]) {
      await assert.rejects(client().getTimer("shop", id), TypeError);
    }

    assert.equal(stub.requests.length, 0);
  });

  test("an invalid Date is refused before any request", async () => {
    await assert.rejects(
      client().createTimer("shop", {
        id: "x",
        fireAt: new Date("nope"),
        callback: { url: "https://shop.example/hook" },
      }),
      RangeError,
    );
    assert.equal(stub.requests.length, 0);
  });
});

describe("batchCreateTimers", () => {
  test("posts every item and reads each result in order", async () => {
    stub.reply({
      status: 200,
      body: {
        results: [
          { status: 201, timer: wireTimer({ id: "a" }) },
          { status: 200, timer: wireTimer({ id: "b" }) },
          {
            status: 409,
            error: {
              code: "already_exists",
              message: "timer c exists",
              details: { existing: wireTimer({ id: "c", version: 4 }) },
            },
          },
          {
            status: 400,
            error: {
              code: "invalid_argument",
              message: "bad",
              details: { fields: [{ field: "callback.url", reason: "is required" }] },
            },
          },
        ],
      },
    });

    const { results } = await client().batchCreateTimers("shop", [
      { id: "a", delaySeconds: 1, callback: { url: "https://x.example/" } },
      { id: "b", delaySeconds: 2, callback: { url: "https://x.example/" } },
      { id: "c", delaySeconds: 3, callback: { url: "https://x.example/" } },
      { id: "d", delaySeconds: 4, callback: { url: "" } },
    ]);

    const request = stub.single();
    assert.equal(request.path, "/api/v1/namespaces/shop/timers:batchCreate");
    assert.deepEqual(
      (JSON.parse(request.body) as { timers: { id: string }[] }).timers.map(
        (t) => t.id,
      ),
      ["a", "b", "c", "d"],
    );

    assert.equal(results.length, 4);
    const [first, second, third, fourth] = results;
    assert.ok(first?.ok && first.created && first.timer.id === "a");
    assert.ok(second?.ok && !second.created && second.timer.id === "b");
    assert.ok(third && !third.ok);
    assert.equal(third.status, 409);
    assert.equal(third.error.code, "already_exists");
    assert.equal(third.error.name, "AlreadyExistsError");
    assert.ok(fourth && !fourth.ok);
    assert.equal(fourth.error.code, "invalid_argument");
  });
});

describe("updateTimer and deleteTimer", () => {
  test("update patches only the given fields, with no If-Match by default", async () => {
    stub.reply({ status: 200, body: wireTimer({ version: 2 }) });

    const timer = await client().updateTimer("shop", "cart-1", {
      delaySeconds: 60,
      payload: null,
    });

    const request = stub.single();
    assert.equal(request.method, "PATCH");
    assert.equal(request.path, "/api/v1/namespaces/shop/timers/cart-1");
    assert.deepEqual(JSON.parse(request.body), { delay_seconds: 60, payload: null });
    assert.equal(request.headers["if-match"], undefined);
    assert.equal(timer.version, 2);
  });

  test("update sends the expected version as If-Match", async () => {
    stub.reply({ status: 200, body: wireTimer({ version: 4 }) });

    await client().updateTimer(
      "shop",
      "cart-1",
      {
        fireAt: new Date("2027-01-01T00:00:00Z"),
        callback: { url: "https://new.example/" },
        retryPolicy: { maxAttempts: 0 },
      },
      { expectedVersion: 3 },
    );

    const request = stub.single();
    assert.equal(request.headers["if-match"], '"3"');
    assert.deepEqual(JSON.parse(request.body), {
      fire_at: "2027-01-01T00:00:00.000Z",
      callback: { url: "https://new.example/" },
      retry_policy: { max_attempts: 0 },
    });
  });

  test("an expected version that is not a version is refused", async () => {
    await assert.rejects(
      client().updateTimer("shop", "cart-1", {}, { expectedVersion: 1.5 }),
      RangeError,
    );
    assert.equal(stub.requests.length, 0);
  });

  test("delete sends DELETE and reads the empty 204", async () => {
    stub.reply({ status: 204 }, { status: 204 });

    assert.equal(await client().deleteTimer("shop", "cart-1"), undefined);
    await client().deleteTimer("shop", "cart-1", { expectedVersion: 7 });

    const [plain, conditional] = stub.requests;
    assert.equal(plain?.method, "DELETE");
    assert.equal(plain?.path, "/api/v1/namespaces/shop/timers/cart-1");
    assert.equal(plain?.headers["if-match"], undefined);
    assert.equal(plain?.body, "");
    assert.equal(conditional?.headers["if-match"], '"7"');
  });
});

describe("listing", () => {
  test("filters become the query, statuses repeated", async () => {
    stub.reply({
      status: 200,
      body: { timers: [wireTimer()], next_page_token: "abc" },
    });

    const page = await client().listTimers("shop", {
      status: ["scheduled", "failed"],
      fireAfter: new Date("2026-12-01T00:00:00Z"),
      fireBefore: new Date("2026-12-31T00:00:00Z"),
      idPrefix: "cart-",
      limit: 100,
      pageToken: "xyz",
    });

    const { path, query } = stub.single();
    assert.equal(path, "/api/v1/namespaces/shop/timers");
    assert.deepEqual(query.getAll("status"), ["scheduled", "failed"]);
    assert.equal(query.get("fire_after"), "2026-12-01T00:00:00.000Z");
    assert.equal(query.get("fire_before"), "2026-12-31T00:00:00.000Z");
    assert.equal(query.get("id_prefix"), "cart-");
    assert.equal(query.get("limit"), "100");
    assert.equal(query.get("page_token"), "xyz");
    assert.equal(page.timers.length, 1);
    assert.equal(page.nextPageToken, "abc");
  });

  test("no filters, no query", async () => {
    stub.reply({ status: 200, body: { timers: [], next_page_token: null } });

    const page = await client().listTimers("shop", { status: "succeeded" });

    assert.equal(stub.single().url, "/api/v1/namespaces/shop/timers?status=succeeded");
    assert.deepEqual(page, { timers: [], nextPageToken: null });
  });

  test("the iterator follows page tokens with the same filters until the last page", async () => {
    stub.reply(
      {
        status: 200,
        body: {
          timers: [wireTimer({ id: "a" }), wireTimer({ id: "b" })],
          next_page_token: "p2",
        },
      },
      {
        status: 200,
        body: { timers: [wireTimer({ id: "c" })], next_page_token: "p3" },
      },
      { status: 200, body: { timers: [], next_page_token: null } },
    );

    const ids: string[] = [];
    for await (const timer of client().iterateTimers("shop", {
      idPrefix: "x",
      limit: 2,
    })) {
      ids.push(timer.id);
    }

    assert.deepEqual(ids, ["a", "b", "c"]);
    assert.deepEqual(
      stub.requests.map((request) => request.url),
      [
        "/api/v1/namespaces/shop/timers?id_prefix=x&limit=2",
        "/api/v1/namespaces/shop/timers?id_prefix=x&limit=2&page_token=p2",
        "/api/v1/namespaces/shop/timers?id_prefix=x&limit=2&page_token=p3",
      ],
    );
  });

  test("the iterator asks for the next page only when it is needed", async () => {
    stub.reply({
      status: 200,
      body: { timers: [wireTimer({ id: "a" })], next_page_token: "p2" },
    });

    for await (const timer of client().iterateTimers("shop")) {
      assert.equal(timer.id, "a");
      break;
    }

    assert.equal(stub.requests.length, 1);
  });

  test("a server that repeats its page token does not loop forever", async () => {
    const page = { status: 200, body: { timers: [], next_page_token: "same" } };
    stub.reply(page, page);

    const drain = async () => {
      for await (const _ of client().iterateTimers("shop")) {
        // Nothing to do: the loop must end by itself.
      }
    };

    await assert.rejects(drain(), InvalidResponseError);
    assert.equal(stub.requests.length, 2);
  });

  test("namespaces with their counts", async () => {
    stub.reply({
      status: 200,
      body: {
        namespaces: [
          { name: "shop", counts: { scheduled: 2, succeeded: 1, failed: 0 } },
        ],
      },
    });

    const { namespaces } = await client().listNamespaces();

    assert.equal(stub.single().path, "/api/v1/namespaces");
    assert.deepEqual(namespaces, [
      { name: "shop", counts: { scheduled: 2, succeeded: 1, failed: 0 } },
    ]);
  });

  test("attempts, newest first, with their errors", async () => {
    stub.reply({
      status: 200,
      body: {
        attempts: [
          {
            attempt: 2,
            fire_at: "2026-12-03T08:00:00.000Z",
            started_at: "2026-12-03T08:00:02.000Z",
            duration_ms: 12,
            outcome: "succeeded",
            status_code: 200,
            error: null,
          },
          {
            attempt: 1,
            fire_at: "2026-12-03T08:00:00.000Z",
            started_at: "2026-12-03T08:00:00.010Z",
            duration_ms: 30,
            outcome: "failed",
            status_code: 503,
            error: {
              at: "2026-12-03T08:00:00.040Z",
              kind: "http_status",
              message: "503",
              status_code: 503,
            },
          },
        ],
      },
    });

    const { attempts } = await client().listAttempts("shop", "cart-1");

    assert.equal(stub.single().path, "/api/v1/namespaces/shop/timers/cart-1/attempts");
    assert.equal(attempts.length, 2);
    assert.deepEqual(attempts[1], {
      attempt: 1,
      fireAt: new Date("2026-12-03T08:00:00.000Z"),
      startedAt: new Date("2026-12-03T08:00:00.010Z"),
      durationMs: 30,
      outcome: "failed",
      statusCode: 503,
      error: {
        at: new Date("2026-12-03T08:00:00.040Z"),
        kind: "http_status",
        message: "503",
        statusCode: 503,
      },
    });
  });
});

describe("answers that break the contract", () => {
  test("a success whose body is not JSON", async () => {
    stub.reply({ status: 200, body: "<html>proxy</html>" });

    await assert.rejects(client().getTimer("shop", "cart-1"), InvalidResponseError);
  });

  test("a timer with a field of the wrong type names the field", async () => {
    stub.reply({ status: 200, body: wireTimer({ fire_at: 12 }) });

    await assert.rejects(client().getTimer("shop", "cart-1"), {
      name: "InvalidResponseError",
      message: /body\.fire_at/,
    });
  });

  for (const fireAt of ["12", "2026-02-30T08:00:00.000Z", "3 December 2026"]) {
    test(`a time that is not RFC 3339 is refused: ${fireAt}`, async () => {
      stub.reply({ status: 200, body: wireTimer({ fire_at: fireAt }) });

      await assert.rejects(client().getTimer("shop", "cart-1"), {
        name: "InvalidResponseError",
        message: /body\.fire_at/,
      });
    });
  }

  test("times with an offset or finer digits are read to the millisecond", async () => {
    stub.reply({
      status: 200,
      body: wireTimer({
        fire_at: "2026-12-03T10:00:00.123456+02:00",
        created_at: "2026-12-01t08:00:00z",
      }),
    });

    const timer = await client().getTimer("shop", "cart-1");

    assert.equal(timer.fireAt.toISOString(), "2026-12-03T08:00:00.123Z");
    assert.equal(timer.createdAt.toISOString(), "2026-12-01T08:00:00.000Z");
  });

  test("a batch item that succeeded without its timer", async () => {
    stub.reply({ status: 200, body: { results: [{ status: 201 }] } });

    await assert.rejects(
      client().batchCreateTimers("shop", [
        { id: "a", delaySeconds: 1, callback: { url: "https://x.example/" } },
      ]),
      { name: "InvalidResponseError", message: /body\.results\[0\]\.timer/ },
    );
  });

  test("fields unknown to this SDK are ignored", async () => {
    stub.reply({ status: 200, body: wireTimer({ labels: { team: "a" } }) });

    const timer = await client().getTimer("shop", "cart-1");

    assert.equal("labels" in timer, false);
  });
});
