/** Every operation of the client against a real timer server. */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import {
  AlreadyExistsError,
  type CreateTimerRequest,
  InvalidArgumentError,
  NotFoundError,
  PreconditionFailedError,
  TimerClient,
} from "@timerkernel/client";

import { createOrExplain } from "../../examples/errors.js";
import { quickStart } from "../../examples/quickstart.js";
import { remindOfCart } from "../../examples/reminder.js";
import { runWithTimeout } from "../../examples/timeout.js";
import {
  describeWithServer,
  startTimerServer,
  type TimerServer,
} from "../support/timerserver.js";

// Never called: these timers fire an hour or more from now, after the run.
const NOWHERE = "http://127.0.0.1:9/never";
const HOUR_MS = 3_600_000;

function later(ms: number): Date {
  // Whole milliseconds, as the server stores them.
  return new Date(Math.ceil((Date.now() + ms) / 1000) * 1000);
}

describeWithServer("the client against a timer server", () => {
  let server: TimerServer;
  let client: TimerClient;

  before(async () => {
    server = await startTimerServer("whsec_integration_api");
    client = new TimerClient({ baseUrl: server.baseUrl, timeoutMs: 10_000 });
  });

  after(async () => {
    await server?.stop();
  });

  test("create, then create the same again: one timer", async () => {
    const request: CreateTimerRequest = {
      id: "order-1234-reminder",
      fireAt: later(2 * HOUR_MS),
      callback: { url: NOWHERE, timeoutSeconds: 5, headers: { "X-Shop": "eu" } },
      payload: { order: 1234, items: ["a", "b"], nested_key: { deep: true } },
      retryPolicy: { maxAttempts: 5, initialIntervalSeconds: 2 },
    };

    const first = await client.createTimer("orders", request);
    const second = await client.createTimer("orders", request);

    assert.equal(first.created, true);
    const { timer } = first;
    assert.equal(timer.namespace, "orders");
    assert.equal(timer.id, "order-1234-reminder");
    assert.deepEqual(timer.fireAt, request.fireAt);
    assert.deepEqual(timer.callback, {
      url: NOWHERE,
      timeoutSeconds: 5,
      headers: { "X-Shop": "eu" },
    });
    assert.deepEqual(timer.payload, request.payload);
    assert.deepEqual(timer.retryPolicy, {
      maxAttempts: 5,
      initialIntervalSeconds: 2,
      backoffCoefficient: 2,
      maxIntervalSeconds: 600,
      maxDurationSeconds: null,
    });
    assert.equal(timer.status, "scheduled");
    assert.equal(timer.attempts, 0);
    assert.deepEqual(timer.nextAttemptAt, request.fireAt);
    assert.equal(timer.lastError, null);
    assert.equal(timer.executedAt, null);
    assert.equal(timer.version, 1);
    assert.ok(timer.createdAt instanceof Date && timer.createdAt <= new Date());

    assert.equal(second.created, false);
    assert.deepEqual(second.timer, timer);
  });

  test("create with the id of a different timer: already_exists with the stored timer", async () => {
    const original = await client.createTimer("orders", {
      id: "conflict-1",
      delaySeconds: 3600,
      callback: { url: NOWHERE },
      payload: { version: "original" },
    });

    const error = await client
      .createTimer("orders", {
        id: "conflict-1",
        delaySeconds: 3600,
        callback: { url: NOWHERE },
        payload: { version: "different" },
      })
      .catch((caught: unknown) => caught);

    assert.ok(error instanceof AlreadyExistsError, String(error));
    assert.equal(error.status, 409);
    assert.equal(error.code, "already_exists");
    assert.ok(error.message.length > 0);
    assert.deepEqual(error.existing, original.timer);
  });

  test("invalid_argument names every bad field", async () => {
    const error = await client
      .createTimer("orders", {
        id: "-starts-with-a-dash",
        delaySeconds: 10,
        callback: { url: NOWHERE, timeoutSeconds: 999 },
      })
      .catch((caught: unknown) => caught);

    assert.ok(error instanceof InvalidArgumentError, String(error));
    assert.equal(error.status, 400);
    assert.equal(error.code, "invalid_argument");
    const fields = error.fields.map((violation) => violation.field).sort();
    assert.deepEqual(fields, ["callback.timeout_seconds", "id"]);
    for (const violation of error.fields) {
      assert.ok(violation.reason.length > 0);
    }
  });

  test("batch create: each item judged on its own, in order", async () => {
    const existing: CreateTimerRequest = {
      id: "batch-existing",
      delaySeconds: 3600,
      callback: { url: NOWHERE },
      payload: 1,
    };
    await client.createTimer("batch", existing);

    const { results } = await client.batchCreateTimers("batch", [
      { id: "batch-new", delaySeconds: 3600, callback: { url: NOWHERE } },
      existing,
      { ...existing, payload: 2 },
      { id: "batch-bad", delaySeconds: -1, callback: { url: NOWHERE } },
    ]);

    assert.equal(results.length, 4);
    const [created, same, conflict, invalid] = results;
    assert.ok(created?.ok);
    assert.equal(created.status, 201);
    assert.equal(created.created, true);
    assert.equal(created.timer.id, "batch-new");
    assert.ok(same?.ok);
    assert.equal(same.status, 200);
    assert.equal(same.created, false);
    assert.ok(conflict && !conflict.ok);
    assert.equal(conflict.status, 409);
    assert.ok(conflict.error instanceof AlreadyExistsError);
    assert.equal(conflict.error.existing?.payload, 1);
    assert.ok(invalid && !invalid.ok);
    assert.equal(invalid.status, 400);
    assert.ok(invalid.error instanceof InvalidArgumentError);
    assert.deepEqual(
      invalid.error.fields.map((violation) => violation.field),
      ["delay_seconds"],
    );

    const stored = await client.getTimer("batch", "batch-new");
    assert.deepEqual(stored, created.timer);
  });

  test("get, and not_found for a timer that does not exist", async () => {
    const { timer } = await client.createTimer("orders", {
      id: "order:7@eu",
      delaySeconds: 3600,
      callback: { url: NOWHERE },
    });

    assert.deepEqual(await client.getTimer("orders", "order:7@eu"), timer);

    const error = await client
      .getTimer("orders", "no-such-timer")
      .catch((caught: unknown) => caught);
    assert.ok(error instanceof NotFoundError, String(error));
    assert.equal(error.status, 404);
    assert.equal(error.code, "not_found");
    assert.deepEqual(error.details, { namespace: "orders", id: "no-such-timer" });
  });

  test("update without and with an expected version, and a stale one", async () => {
    await client.createTimer("updates", {
      id: "u-1",
      delaySeconds: 3600,
      callback: { url: NOWHERE },
      payload: { step: 0 },
    });

    const unconditional = await client.updateTimer("updates", "u-1", {
      payload: { step: 1 },
    });
    assert.equal(unconditional.version, 2);
    assert.deepEqual(unconditional.payload, { step: 1 });

    const fireAt = later(3 * HOUR_MS);
    const conditional = await client.updateTimer(
      "updates",
      "u-1",
      { fireAt, retryPolicy: { maxAttempts: 3 } },
      { expectedVersion: 2 },
    );
    assert.equal(conditional.version, 3);
    assert.deepEqual(conditional.fireAt, fireAt);
    assert.equal(conditional.retryPolicy.maxAttempts, 3);
    assert.deepEqual(conditional.payload, { step: 1 });

    const error = await client
      .updateTimer(
        "updates",
        "u-1",
        { payload: { step: "lost" } },
        { expectedVersion: 2 },
      )
      .catch((caught: unknown) => caught);
    assert.ok(error instanceof PreconditionFailedError, String(error));
    assert.equal(error.status, 412);
    assert.equal(error.code, "precondition_failed");
    assert.equal(error.expectedVersion, 2);
    assert.equal(error.currentVersion, 3);

    const stored = await client.getTimer("updates", "u-1");
    assert.deepEqual(stored.payload, { step: 1 });
    assert.equal(stored.version, 3);
  });

  test("delete, with a stale and a current expected version", async () => {
    await client.createTimer("deletes", {
      id: "d-1",
      delaySeconds: 3600,
      callback: { url: NOWHERE },
    });

    await assert.rejects(
      client.deleteTimer("deletes", "d-1", { expectedVersion: 5 }),
      PreconditionFailedError,
    );
    await client.deleteTimer("deletes", "d-1", { expectedVersion: 1 });

    await assert.rejects(client.getTimer("deletes", "d-1"), NotFoundError);
    await assert.rejects(client.deleteTimer("deletes", "d-1"), NotFoundError);
  });

  test("list with filters, ordered by fire time then id", async () => {
    const base = later(5 * HOUR_MS).getTime();
    const at = (hours: number) => new Date(base + hours * HOUR_MS);
    await client.batchCreateTimers("listing", [
      { id: "cart-b", fireAt: at(1), callback: { url: NOWHERE } },
      { id: "cart-a", fireAt: at(1), callback: { url: NOWHERE } },
      { id: "cart-c", fireAt: at(3), callback: { url: NOWHERE } },
      { id: "order-1", fireAt: at(2), callback: { url: NOWHERE } },
      { id: "cart-early", fireAt: at(0), callback: { url: NOWHERE } },
    ]);

    const all = await client.listTimers("listing");
    assert.deepEqual(
      all.timers.map((timer) => timer.id),
      ["cart-early", "cart-a", "cart-b", "order-1", "cart-c"],
    );
    assert.equal(all.nextPageToken, null);

    const carts = await client.listTimers("listing", {
      idPrefix: "cart-",
      fireAfter: at(1),
      fireBefore: at(3),
      status: ["scheduled", "failed"],
    });
    assert.deepEqual(
      carts.timers.map((timer) => timer.id),
      ["cart-a", "cart-b"],
    );

    const finished = await client.listTimers("listing", { status: "succeeded" });
    assert.deepEqual(finished.timers, []);
  });

  test("the iterator walks every page", async () => {
    const fireAt = later(6 * HOUR_MS);
    const ids = Array.from({ length: 7 }, (_, index) => `page-${index}`);
    await client.batchCreateTimers(
      "paging",
      ids.map((id) => ({ id, fireAt, callback: { url: NOWHERE } })),
    );

    const firstPage = await client.listTimers("paging", { limit: 3 });
    assert.equal(firstPage.timers.length, 3);
    assert.ok(firstPage.nextPageToken);

    const seen: string[] = [];
    for await (const timer of client.iterateTimers("paging", { limit: 3 })) {
      seen.push(timer.id);
    }

    assert.deepEqual(seen, ids);

    const prefixed: string[] = [];
    for await (const timer of client.iterateTimers("paging", {
      limit: 2,
      idPrefix: "page-1",
    })) {
      prefixed.push(timer.id);
    }

    assert.deepEqual(prefixed, ["page-1"]);
  });

  test("namespaces with counts by status", async () => {
    await client.batchCreateTimers("counted", [
      { id: "c-1", delaySeconds: 3600, callback: { url: NOWHERE } },
      { id: "c-2", delaySeconds: 3600, callback: { url: NOWHERE } },
    ]);

    const { namespaces } = await client.listNamespaces();

    const counted = namespaces.find((namespace) => namespace.name === "counted");
    assert.deepEqual(counted, {
      name: "counted",
      counts: { scheduled: 2, succeeded: 0, failed: 0 },
    });
    assert.ok(namespaces.some((namespace) => namespace.name === "orders"));
  });

  test("attempts of a timer that has not fired", async () => {
    await client.createTimer("orders", {
      id: "no-attempts",
      delaySeconds: 3600,
      callback: { url: NOWHERE },
    });

    assert.deepEqual(await client.listAttempts("orders", "no-attempts"), {
      attempts: [],
    });
  });

  test("the reminder example makes one timer, however often it runs", async () => {
    const first = await remindOfCart(client, "77", NOWHERE);
    const again = await remindOfCart(client, "77", NOWHERE);

    assert.equal(first.id, "cart-77-reminder");
    assert.deepEqual(again, first);
    const inDay = first.fireAt.getTime() - first.createdAt.getTime();
    assert.ok(
      Math.abs(inDay - 24 * HOUR_MS) < 1000,
      `fires ${inDay} ms after creation`,
    );
  });

  test("the quick start creates its timer and lists it", async () => {
    await quickStart(server.baseUrl);

    const timer = await client.getTimer("demo", "order-1234-reminder");
    assert.equal(timer.status, "scheduled");
    assert.deepEqual(timer.payload, { order: 1234, kind: "reminder" });
  });

  test("the errors example explains a conflict and bad fields", async () => {
    const request: CreateTimerRequest = {
      id: "explained",
      fireAt: later(4 * HOUR_MS),
      callback: { url: NOWHERE },
    };

    const created = await createOrExplain(client, "orders", request);
    const conflict = await createOrExplain(client, "orders", {
      ...request,
      payload: "another",
    });
    const invalid = await createOrExplain(client, "orders", {
      ...request,
      id: "explained-badly",
      callback: { url: NOWHERE, timeoutSeconds: 0 },
    });

    assert.ok(typeof created !== "string", String(created));
    assert.equal(created.id, "explained");
    assert.equal(
      conflict,
      `explained already holds another timer, due at ${request.fireAt?.toISOString()}`,
    );
    assert.match(String(invalid), /^callback\.timeout_seconds: \S/);
  });

  test("the timeout example deletes its timer when the work finishes", async () => {
    let during: number | undefined;
    const result = await runWithTimeout(client, "42", NOWHERE, async () => {
      during = (await client.getTimer("jobs", "job-42-timeout")).version;
      return "done";
    });

    assert.equal(result, "done");
    assert.equal(during, 1);
    await assert.rejects(client.getTimer("jobs", "job-42-timeout"), NotFoundError);
  });
});
