/** Error answers become the error class of their code. */

import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";

import {
  AlreadyExistsError,
  ApiError,
  ConnectionError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  PayloadTooLargeError,
  PermissionDeniedError,
  PreconditionFailedError,
  TimeoutError,
  TimerClient,
  TimerClientError,
  UnauthenticatedError,
  UnavailableError,
} from "@timerkernel/client";

import { errorBody, StubServer, wireTimer } from "../support/stub.js";

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

function client(): TimerClient {
  return new TimerClient({ baseUrl: stub.url, maxRetries: 0 });
}

async function failure(call: Promise<unknown>): Promise<unknown> {
  try {
    await call;
  } catch (error) {
    return error;
  }

  assert.fail("the call did not fail");
}

const CASES = [
  { status: 400, code: "invalid_argument", type: InvalidArgumentError },
  { status: 401, code: "unauthenticated", type: UnauthenticatedError },
  { status: 403, code: "permission_denied", type: PermissionDeniedError },
  { status: 404, code: "not_found", type: NotFoundError },
  { status: 409, code: "already_exists", type: AlreadyExistsError },
  { status: 412, code: "precondition_failed", type: PreconditionFailedError },
  { status: 413, code: "payload_too_large", type: PayloadTooLargeError },
  { status: 500, code: "internal", type: InternalError },
  { status: 503, code: "unavailable", type: UnavailableError },
] as const;

describe("each contract code has its class", () => {
  for (const { status, code, type } of CASES) {
    test(`${status} ${code} is a ${type.name}`, async () => {
      stub.reply({
        status,
        body: errorBody(code, `the message of ${code}`, { hint: code }),
        headers: { "X-Request-Id": `req-${status}` },
      });

      const error = await failure(client().getTimer("shop", "cart-1"));

      assert.ok(error instanceof type, `${String(error)} is not a ${type.name}`);
      assert.ok(error instanceof ApiError);
      assert.ok(error instanceof TimerClientError);
      assert.ok(error instanceof Error);
      assert.equal(error.name, type.name);
      assert.equal(error.status, status);
      assert.equal(error.code, code);
      assert.equal(error.message, `the message of ${code}`);
      assert.deepEqual(error.details, { hint: code });
      assert.equal(error.requestId, `req-${status}`);
      assert.equal(error.headers.get("x-request-id"), `req-${status}`);
    });
  }
});

describe("details", () => {
  test("invalid_argument lists each bad field", async () => {
    stub.reply({
      status: 400,
      body: errorBody("invalid_argument", "invalid request", {
        fields: [
          { field: "callback.timeout_seconds", reason: "must be at most 300" },
          { field: "id", reason: "is required" },
        ],
      }),
    });

    const error = await failure(
      client().createTimer("shop", {
        id: "x",
        delaySeconds: 1,
        callback: { url: "https://x.example/", timeoutSeconds: 999 },
      }),
    );

    assert.ok(error instanceof InvalidArgumentError);
    assert.deepEqual(error.fields, [
      { field: "callback.timeout_seconds", reason: "must be at most 300" },
      { field: "id", reason: "is required" },
    ]);
  });

  test("already_exists carries the stored timer", async () => {
    stub.reply({
      status: 409,
      body: errorBody("already_exists", "timer cart-1 exists", {
        existing: wireTimer({ version: 3, payload: { cart: "old" } }),
      }),
    });

    const error = await failure(
      client().createTimer("shop", {
        id: "cart-1",
        delaySeconds: 1,
        callback: { url: "https://x.example/" },
      }),
    );

    assert.ok(error instanceof AlreadyExistsError);
    assert.equal(error.existing?.version, 3);
    assert.deepEqual(error.existing?.payload, { cart: "old" });
    assert.deepEqual(error.existing?.fireAt, new Date("2026-12-03T08:00:00.000Z"));
  });

  test("already_exists without a readable timer still is the 409", async () => {
    stub.reply({
      status: 409,
      body: errorBody("already_exists", "exists", { existing: { id: 3 } }),
    });

    const error = await failure(client().getTimer("shop", "cart-1"));

    assert.ok(error instanceof AlreadyExistsError);
    assert.equal(error.existing, null);
  });

  test("precondition_failed tells both versions", async () => {
    stub.reply({
      status: 412,
      body: errorBody("precondition_failed", "version 2 expected, 3 found", {
        expected_version: 2,
        version: 3,
      }),
    });

    const error = await failure(
      client().updateTimer("shop", "cart-1", { payload: 1 }, { expectedVersion: 2 }),
    );

    assert.ok(error instanceof PreconditionFailedError);
    assert.equal(error.expectedVersion, 2);
    assert.equal(error.currentVersion, 3);
  });

  test("no request id when the server sends none", async () => {
    stub.reply({ status: 404, body: errorBody("not_found", "no timer") });

    const error = await failure(client().getTimer("shop", "cart-1"));

    assert.ok(error instanceof NotFoundError);
    assert.equal(error.requestId, undefined);
  });
});

describe("answers without the contract's error body", () => {
  test("an unknown code is a plain ApiError keeping the code", async () => {
    stub.reply({ status: 405, body: errorBody("method_not_allowed", "GET only") });

    const error = await failure(client().getTimer("shop", "cart-1"));

    assert.ok(error instanceof ApiError);
    assert.equal(error.constructor, ApiError);
    assert.equal(error.code, "method_not_allowed");
    assert.equal(error.status, 405);
  });

  test("a proxy's page takes the code its status stands for", async () => {
    stub.reply({ status: 503, body: "<html>Service Unavailable</html>" });

    const error = await failure(client().getTimer("shop", "cart-1"));

    assert.ok(error instanceof UnavailableError);
    assert.equal(error.code, "unavailable");
    assert.match(error.message, /503.*Service Unavailable/);
    assert.deepEqual(error.details, {});
  });

  test("a status with no contract code is unknown", async () => {
    stub.reply({ status: 502, body: "" });

    const error = await failure(client().getTimer("shop", "cart-1"));

    assert.ok(error instanceof ApiError);
    assert.equal(error.code, "unknown");
    assert.equal(error.status, 502);
  });
});

describe("no answer", () => {
  test("a refused connection is a ConnectionError, not an ApiError", async () => {
    const closed = await StubServer.start();
    const url = closed.url;
    await closed.close();

    const error = await failure(
      new TimerClient({ baseUrl: url, maxRetries: 0 }).getTimer("shop", "x"),
    );

    assert.ok(error instanceof ConnectionError);
    assert.ok(error instanceof TimerClientError);
    assert.ok(!(error instanceof ApiError));
    assert.ok(!(error instanceof TimeoutError));
    assert.ok(error.cause !== undefined);
  });

  test("a dropped connection is a ConnectionError", async () => {
    stub.reply("reset");

    const error = await failure(client().getTimer("shop", "cart-1"));

    assert.ok(error instanceof ConnectionError);
  });
});
