import assert from "node:assert/strict";
import { before, test } from "node:test";
import { Api, inMinutes } from "./support/api.js";
import { describeUi } from "./support/browser.js";
import { textOf, waitForValues } from "./support/page.js";

describeUi("the details view", (harness) => {
  let api: Api;

  before(() => {
    api = new Api(harness.server.baseUrl);
  });

  test("shows everything the API returns, the payload and the attempts", async () => {
    const payload = { order: 7, lines: [{ sku: "x", qty: 2 }], note: null };
    // A refused connection twice, a tenth of a second apart: failed after 2 attempts.
    await api.create("facts", {
      id: "fails-twice",
      fire_at: inMinutes(-1),
      callback: {
        url: "http://127.0.0.1:9/refused",
        timeout_seconds: 2,
        headers: { Authorization: "Bearer t0k" },
      },
      payload,
      retry_policy: {
        max_attempts: 2,
        initial_interval_seconds: 0.1,
        backoff_coefficient: 3,
        max_interval_seconds: 30,
        max_duration_seconds: 600,
      },
    });
    const deadline = Date.now() + 10_000;
    let timer = await api.get("facts", "fails-twice");
    while (timer?.status !== "failed") {
      assert.ok(Date.now() < deadline, "the timer did not fail within 10 s");
      await new Promise((resolve) => setTimeout(resolve, 100));
      timer = await api.get("facts", "fails-twice");
    }

    const page = await harness.open("#/ns/facts/timers/fails-twice");
    const field = (name: string) => page.locator(`[data-field='${name}']`);

    await textOf(field("status"), "failed");
    await textOf(field("attempts"), "2");
    await textOf(field("last_error"), "connection");
    await textOf(field("next_attempt_at"), "—");
    await textOf(field("executed_at"), "—");
    await textOf(field("version"), String(timer.version));
    await textOf(field("callback.url"), "http://127.0.0.1:9/refused");
    await textOf(field("callback.timeout_seconds"), "2 s");
    await textOf(field("callback.headers"), "Authorization: Bearer t0k");
    await textOf(field("retry_policy.max_attempts"), "2");
    await textOf(field("retry_policy.initial_interval_seconds"), "0.1 s");
    await textOf(field("retry_policy.backoff_coefficient"), "3");
    await textOf(field("retry_policy.max_interval_seconds"), "30 s");
    await textOf(field("retry_policy.max_duration_seconds"), "600 s");
    for (const name of ["fire_at", "created_at", "updated_at"]) {
      const shown = await field(name).locator("time").getAttribute("datetime");
      assert.equal(shown, timer[name], name);
    }

    assert.equal(
      await field("payload").textContent(),
      JSON.stringify(payload, null, 2),
    );

    // The attempts come in a request of their own, after the timer's.
    await waitForValues(
      () =>
        page
          .locator("table.attempts tbody tr")
          .evaluateAll((rows) =>
            rows.map((row) => row.getAttribute("data-outcome") ?? ""),
          ),
      ["failed", "failed"],
      "attempt outcomes",
    );
    const numbers = await page.locator("table.attempts tbody th").allTextContents();
    assert.deepEqual(numbers, ["2", "1"]);
  });

  test("opens a timer whose id holds the characters ids may hold", async () => {
    const id = "user@42:welcome.mail_v-2";
    await api.create("facts", { id, fire_at: inMinutes(30), payload: [1, 2] });
    const page = await harness.open("#/ns/facts");

    await page.click(`table.timers a:text-is('${id}')`);
    await textOf(page.locator("h1"), id);
    await textOf(page.locator("[data-field='version']"), "1");
    await page.reload();
    await textOf(
      page.locator("[data-field='payload']"),
      JSON.stringify([1, 2], null, 2),
    );
  });

  test("says so for a timer that does not exist", async () => {
    const page = await harness.open("#/ns/facts/timers/never-made");

    await textOf(page.locator(".messages"), "There is no timer never-made in facts");
  });

  test("cancels only after a confirmation, and Escape keeps the timer", async () => {
    await api.create("facts", { id: "to-cancel", fire_at: inMinutes(30) });
    const page = await harness.open("#/ns/facts/timers/to-cancel");
    const dialog = page.locator("dialog.confirm");

    await page.click("text=Cancel timer…");
    await dialog.waitFor({ state: "visible" });
    await page.waitForFunction(() => document.activeElement?.textContent === "Keep it");
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });
    assert.ok(await api.get("facts", "to-cancel"), "Escape deleted the timer");

    await page.click("text=Cancel timer…");
    await page.click("text=Keep it");
    await dialog.waitFor({ state: "hidden" });
    assert.ok(await api.get("facts", "to-cancel"), "Keep it deleted the timer");

    await page.click("text=Cancel timer…");
    await page.click("text=Yes, cancel the timer");
    await page.waitForURL(/#\/ns\/facts$/);
    await textOf(page.locator(".message.info"), "Timer to-cancel cancelled");
    assert.equal(await api.get("facts", "to-cancel"), undefined);
  });

  test("changes the fire time and the payload with If-Match", async () => {
    await api.create("facts", {
      id: "to-edit",
      fire_at: inMinutes(30),
      payload: { a: 1 },
    });
    const page = await harness.open("#/ns/facts/timers/to-edit");
    const ifMatch: (string | undefined)[] = [];
    page.on("request", (request) => {
      if (request.method() === "PATCH") {
        ifMatch.push(request.headers()["if-match"]);
      }
    });

    await page.click("text=Change fire time or payload");
    assert.equal(await page.inputValue("#edit-payload"), '{\n  "a": 1\n}');
    // 09:00 in Berlin in February is 08:00 UTC.
    await page.fill("#edit-fire-at", "2031-02-01T09:00:00");
    await page.fill("#edit-payload", '{"a": 2, "b": [true]}');
    await page.click("text=Save changes");

    await textOf(page.locator(".message.info"), "now at version 2");
    await textOf(page.locator("[data-field='version']"), "2");
    await textOf(page.locator("[data-field='payload']"), '"b": [');
    assert.deepEqual(ifMatch, ['"1"']);
    const saved = await api.get("facts", "to-edit");
    assert.equal(saved?.fire_at, "2031-02-01T08:00:00.000Z");
    assert.deepEqual(saved?.payload, { a: 2, b: [true] });

    await page.click("text=Change fire time or payload");
    await page.fill("#edit-payload", "{oops");
    await textOf(page.locator("#edit-payload-error"), "Not valid JSON");
    await page.click("text=Save changes");
    assert.deepEqual(ifMatch, ['"1"']);
  });

  test("on 412 says the timer changed elsewhere and reloads it", async () => {
    await api.create("facts", {
      id: "contested",
      fire_at: inMinutes(30),
      payload: "mine",
    });
    const page = await harness.open("#/ns/facts/timers/contested");

    await page.click("text=Change fire time or payload");
    await page.fill("#edit-payload", '"from the page"');
    await api.patch("facts", "contested", { payload: "from elsewhere" });
    await page.click("text=Save changes");

    await textOf(
      page.locator(".messages"),
      "This timer was changed by someone else since you opened it; reload to see the new version.",
    );
    assert.equal((await api.get("facts", "contested"))?.payload, "from elsewhere");

    await page.click("text=Reload the timer");
    await textOf(page.locator("[data-field='payload']"), '"from elsewhere"');
    await textOf(page.locator("[data-field='version']"), "2");
    assert.equal(await page.locator(".messages .message").count(), 0);
  });
});
