import assert from "node:assert/strict";
import { before, test } from "node:test";
import { Api, inMinutes } from "./support/api.js";
import { describeUi } from "./support/browser.js";
import { textOf } from "./support/page.js";

describeUi("the create form", (harness) => {
  let api: Api;

  before(() => {
    api = new Api(harness.server.baseUrl);
  });

  test("creates a timer with every field, in the browser's time zone", async () => {
    const page = await harness.open("#/ns/forms/new", {
      timezoneId: "America/New_York",
    });
    await textOf(page.locator("#fire-at-hint"), "America/New_York");

    await page.fill("#timer-id", "order-1-reminder");
    // 09:30 in New York in January is 14:30 UTC.
    await page.fill("#fire-at", "2031-01-15T09:30:00");
    await page.fill("#callback-url", "http://127.0.0.1:9/hook");
    await page.fill("#callback-timeout", "5");
    await page.click("text=Add header");
    await page.keyboard.type("X-Token");
    await page.fill("#header-value-1", "s3cret");
    await page.fill("#payload", '{"order": 1, "items": ["a", "b"]}');
    await page.fill("#retry-max-attempts", "3");
    await page.fill("#retry-max-duration", "120");
    await page.press("#timer-id", "Enter");

    await page.waitForURL(/#\/ns\/forms\/timers\/order-1-reminder$/);
    await textOf(page.locator(".message.info"), "Timer order-1-reminder created.");
    const timer = await api.get("forms", "order-1-reminder");
    assert.ok(timer);
    assert.equal(timer.fire_at, "2031-01-15T14:30:00.000Z");
    assert.deepEqual(timer.callback, {
      url: "http://127.0.0.1:9/hook",
      timeout_seconds: 5,
      headers: { "X-Token": "s3cret" },
    });
    assert.deepEqual(timer.payload, { order: 1, items: ["a", "b"] });
    assert.deepEqual(timer.retry_policy, {
      max_attempts: 3,
      initial_interval_seconds: 1,
      backoff_coefficient: 2,
      max_interval_seconds: 600,
      max_duration_seconds: 120,
    });
  });

  test("shows the API's retry defaults as placeholders", async () => {
    const page = await harness.open("#/ns/forms/new");

    const placeholders = await Promise.all(
      [
        "#callback-timeout",
        "#retry-max-attempts",
        "#retry-initial-interval",
        "#retry-backoff",
        "#retry-max-interval",
        "#retry-max-duration",
      ].map((selector) => page.getAttribute(selector, "placeholder")),
    );
    assert.deepEqual(placeholders, ["10", "10", "1", "2.0", "600", "none"]);
  });

  test("sets the fire time from now with the shortcuts", async () => {
    const page = await harness.open("#/ns/forms/new");

    for (const minutes of [1, 5, 15, 60]) {
      const before = Date.now();
      await page.click(`button:text-is('in ${minutes} min')`);
      const value = await page.inputValue("#fire-at");
      const chosen = await page.evaluate((text) => new Date(text).getTime(), value);
      // The input holds whole seconds.
      const expected = before + minutes * 60_000;
      assert.ok(
        Math.abs(chosen - expected) < 5_000,
        `in ${minutes} min gave ${value}, ${chosen - expected} ms off`,
      );
    }
  });

  test("checks the payload as JSON while typing and blocks the submit", async () => {
    const page = await harness.open("#/ns/forms/new");
    const posts: string[] = [];
    page.on("request", (request) => {
      if (request.method() === "POST") {
        posts.push(request.url());
      }
    });
    await page.fill("#timer-id", "json-check");
    await page.fill("#callback-url", "http://127.0.0.1:9/hook");
    await page.click("text=in 5 min");

    await page.locator("#payload").pressSequentially('{"a": ');
    await textOf(page.locator("#payload-error"), "Not valid JSON");
    assert.equal(await page.getAttribute("#payload", "aria-invalid"), "true");

    await page.click("button:text-is('Create timer')");
    await page.waitForFunction(() => document.activeElement?.id === "payload");
    assert.deepEqual(posts, []);
    assert.match(page.url(), /#\/ns\/forms\/new$/);

    await page.locator("#payload").pressSequentially("1}");
    await page.locator("#payload-error").waitFor({ state: "detached" });
    await page.click("button:text-is('Create timer')");
    await page.waitForURL(/timers\/json-check$/);
    assert.deepEqual((await api.get("forms", "json-check"))?.payload, { a: 1 });
  });

  test("puts each reason of a 400 next to the field it names", async () => {
    const page = await harness.open("#/ns/forms/new");

    await page.fill("#timer-id", "has space");
    await page.fill("#callback-url", "ftp://example.com/hook");
    await page.fill("#callback-timeout", "0.01");
    await page.click("text=Add header");
    await page.fill("#header-name-1", "User-Agent");
    await page.fill("#header-value-1", "mine");
    await page.fill("#retry-max-attempts", "-1");
    await page.fill("#retry-backoff", "0.5");
    await page.click("button:text-is('Create timer')");

    await textOf(page.locator("#timer-id-error"), "must match");
    await textOf(
      page.locator("#fire-at-error"),
      "one of fire_at or delay_seconds is required",
    );
    await textOf(
      page.locator("#callback-url-error"),
      "must be an absolute http or https URL",
    );
    await textOf(page.locator("#callback-timeout-error"), "must be >= 0.1");
    await textOf(page.locator("#header-name-1-error"), "cannot be overridden");
    await textOf(page.locator("#retry-max-attempts-error"), "must be >= 0");
    await textOf(page.locator("#retry-backoff-error"), "must be >= 1");
    await textOf(page.locator("#form-message"), "see the marked fields");
    // The first field in the form's order has the focus, and says why.
    await page.waitForFunction(() => document.activeElement?.id === "timer-id");
    assert.equal(
      await page.getAttribute("#timer-id", "aria-describedby"),
      "timer-id-hint timer-id-error",
    );

    // Typing into a field clears its reason.
    await page.fill("#timer-id", "no-space");
    await page.locator("#timer-id-error").waitFor({ state: "detached" });
  });

  test("says so when a different timer holds the id", async () => {
    await api.create("forms", { id: "taken", fire_at: inMinutes(30), payload: 1 });
    const page = await harness.open("#/ns/forms/new");

    await page.fill("#timer-id", "taken");
    await page.click("text=in 60 min");
    await page.fill("#callback-url", "http://127.0.0.1:9/hook");
    await page.fill("#payload", "2");
    await page.press("#callback-url", "Enter");

    await textOf(
      page.locator("#form-message"),
      "A different timer with the id taken already exists",
    );
    await textOf(page.locator("#timer-id-error"), "already has this id");
    await page.click("text=Open the existing timer");
    await page.waitForURL(/timers\/taken$/);
  });

  test("says so when the same timer already existed", async () => {
    const fireAt = "2031-03-01T08:00:00.000Z";
    await api.create("forms", {
      id: "same",
      fire_at: fireAt,
      callback: { url: "http://127.0.0.1:9/hook" },
    });
    const page = await harness.open("#/ns/forms/new", { timezoneId: "UTC" });

    await page.fill("#timer-id", "same");
    await page.fill("#fire-at", "2031-03-01T08:00:00");
    await page.fill("#callback-url", "http://127.0.0.1:9/hook");
    await page.press("#timer-id", "Enter");

    await page.waitForURL(/timers\/same$/);
    await textOf(page.locator(".message.info"), "same definition already existed");
  });
});
