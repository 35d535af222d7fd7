/**
 * Timers that really fire, into receivers on 127.0.0.1 built with the SDK's
 * webhook helpers, with the secret the server signs with.
 */

import assert from "node:assert/strict";
import { once } from "node:events";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";

import {
  createCallbackHandler,
  reschedule,
  type TimerCallback,
  TimerClient,
} from "@timerkernel/client";
import { startReceiver } from "../../examples/receiver.js";
import { nightlyReportHandler, startNightlyReport } from "../../examples/recurring.js";
import { Inbox, Receiver } from "../support/receiver.js";
import {
  describeWithServer,
  eventually,
  startTimerServer,
  type TimerServer,
} from "../support/timerserver.js";

const SECRET = "whsec_integration_delivery";

interface Delivery {
  callback: TimerCallback;
  signature: string | null;
  attemptHeader: string | null;
}

describeWithServer("timers firing into a receiver", () => {
  let server: TimerServer;
  let client: TimerClient;
  let receiver: Receiver;
  const inbox = new Inbox<Delivery>();

  before(async () => {
    server = await startTimerServer(SECRET);
    client = new TimerClient({ baseUrl: server.baseUrl, timeoutMs: 10_000 });
    receiver = await Receiver.start(
      createCallbackHandler({
        secret: server.secret,
        onCallback: (callback, request) => {
          inbox.push({
            callback,
            signature: request.headers.get("timer-signature"),
            attemptHeader: request.headers.get("timer-attempt"),
          });
          const payload = callback.payload as {
            reschedule?: boolean;
            round?: number;
          } | null;
          if (payload?.reschedule && payload.round === 1) {
            return reschedule({
              nextDelaySeconds: 1,
              payload: { reschedule: true, round: 2 },
            });
          }

          return undefined;
        },
      }),
    );
  });

  after(async () => {
    await receiver?.close();
    await server?.stop();
  });

  test("a due timer is delivered, verified and parsed, then succeeded", async () => {
    const { timer } = await client.createTimer("deliveries", {
      id: "fires-once",
      delaySeconds: 0,
      callback: { url: receiver.url() },
      payload: { greeting: "héllo", list: [1, 2, 3] },
    });

    const delivery = await inbox.waitFor(
      "the callback",
      (d) => d.callback.id === "fires-once",
    );

    assert.deepEqual(delivery.callback, {
      namespace: "deliveries",
      id: "fires-once",
      fireAt: timer.fireAt,
      attempt: 1,
      payload: { greeting: "héllo", list: [1, 2, 3] },
    });
    assert.match(delivery.signature ?? "", /^t=\d+,v1=[0-9a-f]{64}$/);
    assert.equal(delivery.attemptHeader, "1");

    const done = await eventually("the timer succeeded", async () => {
      const current = await client.getTimer("deliveries", "fires-once");
      return current.status === "succeeded" ? current : undefined;
    });
    assert.ok(done.executedAt instanceof Date);
    assert.equal(done.nextAttemptAt, null);

    const { attempts } = await client.listAttempts("deliveries", "fires-once");
    assert.equal(attempts.length, 1);
    assert.equal(attempts[0]?.outcome, "succeeded");
    assert.equal(attempts[0]?.statusCode, 204);
    assert.equal(attempts[0]?.error, null);
  });

  test("a reschedule answer makes the timer fire again", async () => {
    const { timer } = await client.createTimer("deliveries", {
      id: "fires-twice",
      delaySeconds: 0,
      callback: { url: receiver.url() },
      payload: { reschedule: true, round: 1 },
    });

    const first = await inbox.waitFor(
      "the first callback",
      (d) => d.callback.id === "fires-twice" && d.callback.attempt === 1,
    );
    const second = await inbox.waitFor(
      "the rescheduled callback",
      (d) =>
        d.callback.id === "fires-twice" &&
        (d.callback.payload as { round: number }).round === 2,
    );

    assert.deepEqual(first.callback.fireAt, timer.fireAt);
    assert.deepEqual(second.callback.payload, { reschedule: true, round: 2 });
    assert.equal(second.callback.attempt, 1, "a reschedule starts the attempts anew");
    const gap = second.callback.fireAt.getTime() - first.callback.fireAt.getTime();
    assert.ok(gap >= 1000, `the second fire time is ${gap} ms after the first`);

    const done = await eventually("the timer succeeded", async () => {
      const current = await client.getTimer("deliveries", "fires-twice");
      return current.status === "succeeded" ? current : undefined;
    });
    assert.deepEqual(done.fireAt, second.callback.fireAt);
    assert.deepEqual(done.payload, { reschedule: true, round: 2 });

    const { attempts } = await client.listAttempts("deliveries", "fires-twice");
    assert.deepEqual(
      attempts.map((attempt) => attempt.outcome),
      ["succeeded", "rescheduled"],
    );

    const { namespaces } = await client.listNamespaces();
    const counts = namespaces.find(
      (namespace) => namespace.name === "deliveries",
    )?.counts;
    assert.ok(counts && counts.succeeded >= 1);
  });

  test("a receiver holding another secret refuses the callback, and it fails", async () => {
    let reached = false;
    const stranger = await Receiver.start(
      createCallbackHandler({
        secret: "not-the-server-secret",
        onCallback: () => {
          reached = true;
        },
      }),
    );

    try {
      await client.createTimer("deliveries", {
        id: "wrong-secret",
        delaySeconds: 0,
        callback: { url: stranger.url() },
        retryPolicy: { maxAttempts: 1 },
      });

      const failed = await eventually("the timer failed", async () => {
        const current = await client.getTimer("deliveries", "wrong-secret");
        return current.status === "failed" ? current : undefined;
      });

      assert.equal(failed.lastError?.kind, "http_status");
      assert.equal(failed.lastError?.statusCode, 401);
      assert.equal(stranger.requests.length, 1);
      assert.ok(stranger.requests[0]?.headers.get("timer-signature"));
      assert.equal(reached, false);
    } finally {
      await stranger.close();
    }
  });

  test("the receiver example takes a signed callback", async () => {
    const received = new Inbox<TimerCallback>();
    const endpoint: Server = startReceiver(0, server.secret, async (callback) => {
      received.push(callback);
    });
    if (!endpoint.listening) {
      await once(endpoint, "listening");
    }

    try {
      const { port } = endpoint.address() as AddressInfo;
      await client.createTimer("examples", {
        id: "receiver-example",
        delaySeconds: 0,
        callback: { url: `http://127.0.0.1:${port}/hooks/timer` },
        payload: { order: 1234 },
      });

      const callback = await received.waitFor("the example's callback", () => true);

      assert.equal(callback.id, "receiver-example");
      assert.deepEqual(callback.payload, { order: 1234 });
    } finally {
      endpoint.closeAllConnections();
      await new Promise<void>((resolve) => endpoint.close(() => resolve()));
    }
  });

  test("the recurring example runs, reschedules itself and runs again", async () => {
    const runs = new Inbox<number>();
    const reports = await Receiver.start(
      nightlyReportHandler(
        server.secret,
        async (run) => {
          runs.push(run);
        },
        1,
      ),
    );

    try {
      await startNightlyReport(client, reports.url(), new Date(Date.now() + 200));

      await runs.waitFor("the first run", (run) => run === 1);
      await runs.waitFor("the second run", (run) => run === 2);

      const timer = await client.getTimer("reports", "nightly-report");
      assert.equal(timer.status, "scheduled");
      assert.ok((timer.payload as { run: number }).run >= 2);
    } finally {
      await client.deleteTimer("reports", "nightly-report");
      await reports.close();
    }
  });
});
