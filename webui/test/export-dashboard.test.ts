import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { before, test } from "node:test";
import type { Page } from "playwright-core";
import { Api, inMinutes, type TimerData } from "./support/api.js";
import { describeUi } from "./support/browser.js";
import { textOf, waitForRows } from "./support/page.js";

const CSV_HEADER =
  "namespace,id,status,fire_at,callback_url,attempts,next_attempt_at,executed_at," +
  "version,created_at,updated_at,payload";

async function download(page: Page, linkText: string) {
  const [file] = await Promise.all([
    page.waitForEvent("download"),
    page.click(`.exports a:text-is('${linkText}')`),
  ]);
  const path = await file.path();
  return { name: file.suggestedFilename(), text: await readFile(path, "utf8") };
}

describeUi("exports and the dashboard", (harness) => {
  let api: Api;
  const made: TimerData[] = [];

  before(async () => {
    api = new Api(harness.server.baseUrl);
    made.push(
      await api.create("exports", {
        id: "x-2",
        fire_at: inMinutes(20),
        payload: { n: 2 },
      }),
    );
    made.push(
      await api.create("exports", {
        id: "x-1",
        fire_at: inMinutes(10),
        payload: "one",
      }),
    );
    made.push(await api.create("exports", { id: "y-1", fire_at: inMinutes(5) }));
  });

  test("exports the current filters as CSV and as JSON", async () => {
    const page = await harness.open("#/ns/exports?id_prefix=x-&status=scheduled");
    await waitForRows(page, ["x-1", "x-2"]);
    const href = await page.getAttribute(".exports a:text-is('CSV')", "href");
    assert.match(
      href ?? "",
      /timers:export\?status=scheduled&id_prefix=x-&format=csv$/,
    );

    const csv = await download(page, "CSV");
    assert.equal(csv.name, "exports-timers.csv");
    const lines = csv.text.trim().split(/\r?\n/);
    assert.equal(lines[0], CSV_HEADER);
    assert.deepEqual(
      lines.slice(1).map((line) => line.split(",").slice(0, 3).join(",")),
      ["exports,x-1,scheduled", "exports,x-2,scheduled"],
    );
    assert.ok(lines[2]?.endsWith(',"{""n"":2}"'), lines[2]);

    const json = await download(page, "JSON");
    assert.equal(json.name, "exports-timers.json");
    const timers = JSON.parse(json.text) as TimerData[];
    const byId = new Map(made.map((timer) => [timer.id, timer]));
    assert.deepEqual(timers, [byId.get("x-1"), byId.get("x-2")]);
  });

  test("exports follow a change of the filters", async () => {
    const page = await harness.open("#/ns/exports");
    await waitForRows(page, ["y-1", "x-1", "x-2"]);

    await page.fill("#id-prefix", "y-");
    await page.press("#id-prefix", "Enter");
    await waitForRows(page, ["y-1"]);

    const json = await download(page, "JSON");
    assert.deepEqual(
      (JSON.parse(json.text) as TimerData[]).map((timer) => timer.id),
      ["y-1"],
    );
  });

  test("the dashboard counts timers by status and charts recent activity", async () => {
    const page = await harness.open("#/dashboard");

    const row = page.locator("table.counts-table tr[data-namespace='exports']");
    await textOf(row.locator("[data-status='scheduled']"), "3");
    await textOf(row.locator("[data-status='failed']"), "0");
    await textOf(
      page.locator(".status-bars [data-status='scheduled'] .bar-value"),
      "3",
    );
    const summary = page.locator(".chart [data-summary]");
    await textOf(summary, "3 created");
    const points = await page
      .locator(".chart polyline[data-series='created']")
      .getAttribute("points");
    assert.equal(points?.split(" ").length, 300);

    // The next refresh, within about 5 s, shows timers created meanwhile.
    await api.create("board", { id: "late-1", fire_at: inMinutes(10) });
    await api.create("board", { id: "late-2", fire_at: inMinutes(10) });
    await textOf(summary, "5 created", 12_000);
    await textOf(
      page.locator(
        "table.counts-table tr[data-namespace='board'] [data-status='scheduled']",
      ),
      "2",
    );

    await page.selectOption("#dashboard-namespace", "board");
    await page.waitForURL(/#\/dashboard\?ns=board$/);
    await textOf(summary, "2 created");
    assert.equal(await page.locator("table.counts-table tbody tr").count(), 1);

    await page.selectOption("#dashboard-window", "60");
    await textOf(page.locator(".chart figcaption"), "last 1 min");
  });
});
