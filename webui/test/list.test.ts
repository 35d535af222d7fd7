import assert from "node:assert/strict";
import { before, test } from "node:test";
import { Api, inMinutes } from "./support/api.js";
import { describeUi } from "./support/browser.js";
import {
  namespaceOptions,
  textOf,
  waitForRows,
  waitForValues,
} from "./support/page.js";

// Fixed far-off times, read in the pages' zone, Europe/Berlin (UTC+2 in June).
const JUNE = [
  "2031-06-01T10:00:00.000Z",
  "2031-06-01T11:00:00.000Z",
  "2031-06-01T12:00:00.000Z",
];

describeUi("the timer list", (harness) => {
  let api: Api;

  before(async () => {
    api = new Api(harness.server.baseUrl);
    // Created out of fire-time order, so that the order shown is the API's.
    await api.create("alpha", { id: "a-3", fire_at: inMinutes(30) });
    await api.create("alpha", { id: "a-1", fire_at: inMinutes(10) });
    await api.create("alpha", { id: "a-2", fire_at: inMinutes(20) });
    await api.create("beta", { id: "b-1", fire_at: inMinutes(10) });
    for (const [index, fireAt] of JUNE.entries()) {
      await api.create("filters", { id: `f-${index + 1}`, fire_at: fireAt });
    }

    await api.create("filters", { id: "g-1", fire_at: JUNE[1] });
    // Due now with a target that refuses the connection and one attempt: failed.
    await api.create("filters", {
      id: "f-failed",
      fire_at: inMinutes(-1),
      callback: { url: "http://127.0.0.1:9/refused", timeout_seconds: 1 },
      retry_policy: { max_attempts: 1 },
    });
    for (let index = 1; index <= 5; index++) {
      await api.create("pages", { id: `p-${index}`, fire_at: inMinutes(index) });
    }

    const deadline = Date.now() + 10_000;
    while ((await api.get("filters", "f-failed"))?.status !== "failed") {
      assert.ok(Date.now() < deadline, "f-failed did not fail within 10 s");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  test("opens the first namespace, ordered by fire time, with counts", async () => {
    const page = await harness.open("");

    await page.waitForURL(/#\/ns\/alpha$/);
    await waitForRows(page, ["a-1", "a-2", "a-3"]);
    const header = await page
      .locator("table.timers th[aria-sort='ascending']")
      .textContent();
    assert.match(header ?? "", /Fire time.*ascending.*order/);
    await textOf(page.locator(".counts [data-status='scheduled'] .count-value"), "3");
    await textOf(page.locator(".counts [data-status='failed'] .count-value"), "0");
    const times = await page
      .locator("table.timers tbody time")
      .first()
      .getAttribute("datetime");
    assert.ok(times?.endsWith("Z"));
  });

  test("picks a namespace from the known ones or a typed new one", async () => {
    const page = await harness.open("#/ns/alpha");
    await waitForRows(page, ["a-1", "a-2", "a-3"]);

    await waitForValues(
      () => namespaceOptions(page),
      ["alpha", "beta", "filters", "pages"],
      "namespace options",
    );

    await page.fill("#namespace", "beta");
    await page.press("#namespace", "Enter");
    await page.waitForURL(/#\/ns\/beta$/);
    await waitForRows(page, ["b-1"]);

    await page.fill("#namespace", "fresh-space");
    await page.click("text=Open");
    await page.waitForURL(/#\/ns\/fresh-space$/);
    await textOf(page.locator(".empty"), "No timers match");

    await page.fill("#namespace", "Not Valid");
    await page.press("#namespace", "Enter");
    await textOf(page.locator("#namespace-error"), "Lower-case letters");
    assert.match(page.url(), /#\/ns\/fresh-space$/);
  });

  test("counts every status of the namespace", async () => {
    const page = await harness.open("#/ns/filters");

    await textOf(page.locator(".counts [data-status='scheduled'] .count-value"), "4");
    await textOf(page.locator(".counts [data-status='failed'] .count-value"), "1");
    await textOf(page.locator(".counts [data-status='succeeded'] .count-value"), "0");
  });

  test("filters by several statuses", async () => {
    const page = await harness.open("#/ns/filters");
    await waitForRows(page, ["f-failed", "f-1", "f-2", "g-1", "f-3"]);

    await page.check("input[name='status'][value='failed']");
    await page.click("text=Apply filters");
    await page.waitForURL(/status=failed/);
    await waitForRows(page, ["f-failed"]);

    await page.check("input[name='status'][value='scheduled']");
    await page.click("text=Apply filters");
    await page.waitForURL(/status=scheduled&status=failed/);
    await waitForRows(page, ["f-failed", "f-1", "f-2", "g-1", "f-3"]);

    await page.uncheck("input[name='status'][value='failed']");
    await page.click("text=Apply filters");
    await waitForRows(page, ["f-1", "f-2", "g-1", "f-3"]);
  });

  test("filters by a local fire-time range and an id prefix", async () => {
    const page = await harness.open("#/ns/filters");
    await waitForRows(page, ["f-failed", "f-1", "f-2", "g-1", "f-3"]);
    await textOf(page.locator("#filters-zone"), "Europe/Berlin");

    // 13:00 and 14:00 in Berlin are 11:00 and 12:00 UTC; "before" excludes f-3.
    await page.fill("#fire-after", "2031-06-01T13:00:00");
    await page.fill("#fire-before", "2031-06-01T14:00:00");
    await page.click("text=Apply filters");
    await page.waitForURL(/fire_after=2031-06-01T11%3A00%3A00.000Z/);
    assert.match(page.url(), /fire_before=2031-06-01T12%3A00%3A00.000Z/);
    await waitForRows(page, ["f-2", "g-1"]);

    await page.fill("#id-prefix", "g-");
    await page.press("#id-prefix", "Enter");
    await page.waitForURL(/id_prefix=g-/);
    await waitForRows(page, ["g-1"]);

    // The filters survive a reload: they are in the URL.
    await page.reload();
    await waitForRows(page, ["g-1"]);
    // Chromium leaves out seconds that are zero.
    assert.match(await page.inputValue("#fire-after"), /^2031-06-01T13:00(:00)?$/);
    assert.equal(await page.inputValue("#id-prefix"), "g-");

    await page.click("text=Clear");
    await waitForRows(page, ["f-failed", "f-1", "f-2", "g-1", "f-3"]);
  });

  test("pages forward with the API's tokens and back through the ones seen", async () => {
    const page = await harness.open("#/ns/pages?limit=2");
    const previous = page.getByRole("button", { name: "Previous page" });
    const next = page.getByRole("button", { name: "Next page" });
    await waitForRows(page, ["p-1", "p-2"]);
    assert.equal(await previous.isDisabled(), true);

    await next.click();
    await waitForRows(page, ["p-3", "p-4"]);
    await textOf(page.locator(".page-number"), "Page 2");
    assert.match(page.url(), /[?&]page=/);

    await next.click();
    await waitForRows(page, ["p-5"]);
    assert.equal(await next.isDisabled(), true);

    // The tokens seen are kept across a reload of a later page.
    await page.reload();
    await waitForRows(page, ["p-5"]);
    await previous.click();
    await waitForRows(page, ["p-3", "p-4"]);
    await previous.click();
    await waitForRows(page, ["p-1", "p-2"]);
    assert.equal(await previous.isDisabled(), true);
    assert.doesNotMatch(page.url(), /page=/);
  });

  test("links each row to its timer's details", async () => {
    const page = await harness.open("#/ns/alpha");
    await waitForRows(page, ["a-1", "a-2", "a-3"]);

    await page.click("table.timers a:text-is('a-2')");
    await page.waitForURL(/#\/ns\/alpha\/timers\/a-2$/);
    await textOf(page.locator("h1"), "a-2");
  });
});
