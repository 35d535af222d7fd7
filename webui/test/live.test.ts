import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Page } from "playwright-core";
import { Api, inMinutes } from "./support/api.js";
import { describeUi } from "./support/browser.js";
import {
  liveStates,
  recordLiveStates,
  textOf,
  waitForRows,
  waitUntilLive,
} from "./support/page.js";
import { Receiver } from "./support/receiver.js";
import { TimerServer } from "./support/server.js";

// A reconnect waits for the stream's retry (2 s) after a server restart.
const RECONNECT_TIMEOUT_MS = 20_000;

/** Mark the document, so that a test can tell the page was never reloaded. */
async function markDocument(page: Page): Promise<void> {
  await page.evaluate(() => {
    document.documentElement.dataset.testMark = "unchanged";
  });
}

async function assertNotReloaded(page: Page): Promise<void> {
  const mark = await page.evaluate(() => document.documentElement.dataset.testMark);
  assert.equal(mark, "unchanged", "the page was reloaded");
}

describeUi("live updates", (harness) => {
  let api: Api;
  let receiver: Receiver;

  before(async () => {
    api = new Api(harness.server.baseUrl);
    receiver = await Receiver.start();
  });

  after(async () => {
    await receiver?.stop();
  });

  test("a timer created through the API appears when it matches the filters", async () => {
    await api.create("live", { id: "keep-2", fire_at: inMinutes(20) });
    const page = await harness.open("#/ns/live?id_prefix=keep-");
    await waitForRows(page, ["keep-2"]);
    await waitUntilLive(page);
    await markDocument(page);

    await api.create("live", { id: "keep-1", fire_at: inMinutes(10) });
    await api.create("live", { id: "skip-1", fire_at: inMinutes(15) });
    await api.create("live", { id: "keep-3", fire_at: inMinutes(30) });

    await waitForRows(page, ["keep-1", "keep-2", "keep-3"]);
    await textOf(page.locator(".counts [data-status='scheduled'] .count-value"), "4");
    await assertNotReloaded(page);
  });

  test("due timers turn succeeded and failed in the list and the details, without reload", async () => {
    const list = await harness.open("#/ns/deliver");
    const scheduledOnly = await harness.open("#/ns/deliver?status=scheduled");
    await Promise.all([waitUntilLive(list), waitUntilLive(scheduledOnly)]);
    await markDocument(list);

    const fireAt = new Date(Date.now() + 1500).toISOString();
    await api.create("deliver", {
      id: "soon",
      fire_at: fireAt,
      callback: { url: receiver.url },
      payload: { hello: "receiver" },
    });
    await api.create("deliver", {
      id: "soon-refused",
      fire_at: fireAt,
      callback: { url: "http://127.0.0.1:9/refused", timeout_seconds: 1 },
      retry_policy: { max_attempts: 1 },
    });
    const details = await harness.open("#/ns/deliver/timers/soon");
    await waitUntilLive(details);
    await markDocument(details);

    const row = list.locator("tr[data-id='soon']");
    await row.waitFor();
    await textOf(row.locator(".badge"), "scheduled");
    await waitForRows(scheduledOnly, ["soon", "soon-refused"]);

    // Delivery is due 1.5 s from creation and lands within a second after.
    await textOf(row.locator(".badge"), "succeeded", 10_000);
    await textOf(details.locator("[data-field='status']"), "succeeded");
    await details.locator("[data-field='executed_at'] time").waitFor();
    await details.locator("table.attempts tr[data-outcome='succeeded']").waitFor();
    await textOf(list.locator("tr[data-id='soon-refused'] .badge"), "failed");
    await waitForRows(scheduledOnly, []);
    await textOf(list.locator(".counts [data-status='succeeded'] .count-value"), "1");
    await textOf(list.locator(".counts [data-status='failed'] .count-value"), "1");
    await assertNotReloaded(list);
    await assertNotReloaded(details);

    assert.equal(receiver.deliveries.length, 1);
    const body = JSON.parse(receiver.deliveries[0]?.body ?? "{}") as Record<
      string,
      unknown
    >;
    assert.deepEqual(body.payload, { hello: "receiver" });
  });

  test("a timer deleted elsewhere leaves the list and is marked in its details", async () => {
    await api.create("gone", { id: "doomed", fire_at: inMinutes(10) });
    await api.create("gone", { id: "stays", fire_at: inMinutes(20) });
    const list = await harness.open("#/ns/gone");
    const details = await harness.open("#/ns/gone/timers/doomed");
    await waitForRows(list, ["doomed", "stays"]);
    await Promise.all([waitUntilLive(list), waitUntilLive(details)]);

    const { status } = await api.call("DELETE", "/namespaces/gone/timers/doomed");
    assert.equal(status, 204);

    await waitForRows(list, ["stays"]);
    await textOf(details.locator(".messages"), "This timer was deleted");
  });

  test("a rescheduled timer moves to its new place in the order", async () => {
    await api.create("moves", { id: "m-1", fire_at: inMinutes(10) });
    await api.create("moves", { id: "m-2", fire_at: inMinutes(20) });
    const list = await harness.open("#/ns/moves");
    await waitForRows(list, ["m-1", "m-2"]);
    await waitUntilLive(list);

    await api.patch("moves", "m-1", { fire_at: inMinutes(30) });

    await waitForRows(list, ["m-2", "m-1"]);
  });

  test("after the stream reconnects, the page shows what changed meanwhile", async () => {
    await api.create("resync", { id: "r-1", fire_at: inMinutes(10) });
    const list = await harness.open("#/ns/resync");
    await waitForRows(list, ["r-1"]);
    await waitUntilLive(list);
    await markDocument(list);
    await recordLiveStates(list);

    // Another API process on the same database makes the change: the server
    // the page listens to sends no event for it.
    const first = harness.server;
    harness.server = await first.restart(async () => {
      const other = await TimerServer.start({
        directory: first.directory,
        noRunner: true,
      });
      try {
        await new Api(other.baseUrl).create("resync", {
          id: "r-2",
          fire_at: inMinutes(20),
        });
      } finally {
        await other.stop();
      }
    });

    await list.locator("[data-live='live']").waitFor({ timeout: RECONNECT_TIMEOUT_MS });
    await waitForRows(list, ["r-1", "r-2"]);
    assert.ok(
      (await liveStates(list)).includes("reconnecting"),
      "the stream never dropped",
    );
    await assertNotReloaded(list);
  });
});
