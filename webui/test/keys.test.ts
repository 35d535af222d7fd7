import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { before, test } from "node:test";
import type { Page } from "playwright-core";
import { Api, inMinutes, type TimerData } from "./support/api.js";
import { describeUi, IMAGES } from "./support/browser.js";
import {
  horizontalOverflow,
  liveStates,
  namespaceOptions,
  recordLiveStates,
  textOf,
  waitForRows,
  waitForValues,
  waitUntilLive,
} from "./support/page.js";

const OPS_TOKEN = "ops-token-for-every-namespace-0001";
const TEAM_TOKEN = "team-token-for-team-a-only-0002";
const SETTINGS = `
[auth.keys.ops]
token = "${OPS_TOKEN}"
namespaces = "*"

[auth.keys.team]
token = "${TEAM_TOKEN}"
namespaces = ["team-a"]
`;
const STORAGE_NAME = "timerui.apiKey";

/** What the page keeps: [sessionStorage, localStorage]. */
function storedKeys(page: Page): Promise<(string | null)[]> {
  return page.evaluate(
    (name) => [sessionStorage.getItem(name), localStorage.getItem(name)],
    STORAGE_NAME,
  );
}

async function enterKey(page: Page, token: string): Promise<void> {
  const input = page.getByLabel("API key", { exact: true });
  await input.fill(token);
  await input.press("Enter");
}

/** Collect the page's URLs and console lines, to check none holds `token`. */
function watchForKey(page: Page, token: string) {
  const seen: string[] = [];
  page.on("request", (request) => seen.push(request.url()));
  page.on("console", (message) => seen.push(message.text()));
  return {
    assertNotLeaked() {
      seen.push(page.url());
      const leaks = seen.filter((text) => text.includes(token));
      assert.deepEqual(leaks, [], "the key showed in a URL or the console");
    },
  };
}

async function download(page: Page, buttonText: string) {
  const [file] = await Promise.all([
    page.waitForEvent("download"),
    page.click(`.exports button:text-is('${buttonText}')`),
  ]);
  const path = await file.path();
  return { name: file.suggestedFilename(), text: await readFile(path, "utf8") };
}

describeUi(
  "a server that needs API keys",
  (harness) => {
    let ops: Api;
    const made: TimerData[] = [];

    before(async () => {
      ops = new Api(harness.server.baseUrl, OPS_TOKEN);
      made.push(await ops.create("team-a", { id: "t-1", fire_at: inMinutes(10) }));
      made.push(await ops.create("team-a", { id: "t-2", fire_at: inMinutes(20) }));
      await ops.create("other", { id: "o-1", fire_at: inMinutes(10) });
    });

    test("the key form comes first, takes the keyboard and says why a key is refused", async () => {
      const page = await harness.open("#/ns/team-a");

      const input = page.getByLabel("API key", { exact: true });
      await input.waitFor();
      await textOf(page.locator("h1"), "This server needs an API key");
      assert.equal(await input.getAttribute("type"), "password");
      assert.equal(await page.locator("#api-key-error").count(), 0);
      assert.equal(await page.locator(".forget-key").count(), 0);
      await page.waitForFunction(() => document.activeElement?.id === "api-key");

      await page.keyboard.type("not-a-key-of-this-server");
      await page.keyboard.press("Tab");
      await page.keyboard.press("Space");
      assert.ok(await page.getByLabel("Remember on this device").isChecked());
      await page.keyboard.press("Tab");
      await page.keyboard.press("Enter");

      await textOf(
        page.locator(".key-prompt [role='alert']"),
        "The server refused the key: the bearer token is not valid.",
      );
      assert.equal(await input.getAttribute("aria-invalid"), "true");
      assert.deepEqual(await storedKeys(page), [null, null]);
    });

    test("the right key loads the view the user was on, and a reload keeps it", async () => {
      const page = await harness.open("#/ns/team-a?id_prefix=t-");
      const key = watchForKey(page, OPS_TOKEN);
      await page.getByLabel("API key", { exact: true }).waitFor();

      await enterKey(page, OPS_TOKEN);

      await waitForRows(page, ["t-1", "t-2"]);
      assert.match(page.url(), /#\/ns\/team-a\?id_prefix=t-$/);
      assert.deepEqual(await storedKeys(page), [OPS_TOKEN, null]);

      await page.reload();
      await waitForRows(page, ["t-1", "t-2"]);
      await waitUntilLive(page);
      assert.equal(await page.getByLabel("API key", { exact: true }).count(), 0);
      await page.locator(".forget-key").waitFor();
      key.assertNotLeaked();
    });

    test("live updates come through the stream, which sends the key", async () => {
      const page = await harness.open("#/ns/team-a?id_prefix=live-");
      const key = watchForKey(page, TEAM_TOKEN);
      await enterKey(page, TEAM_TOKEN);
      await waitUntilLive(page);

      // EventSource could not send the key: the page must not need it.
      await page.addInitScript(() => {
        window.EventSource = class {
          constructor() {
            throw new Error("the page opened an EventSource");
          }
        } as unknown as typeof EventSource;
      });
      const streams: Promise<Record<string, string>>[] = [];
      page.on("request", (request) => {
        if (request.url().endsWith("/namespaces/team-a/events")) {
          streams.push(request.allHeaders());
        }
      });
      await page.reload();
      await waitUntilLive(page);
      await recordLiveStates(page);

      await new Api(harness.server.baseUrl, TEAM_TOKEN).create("team-a", {
        id: "live-1",
        fire_at: inMinutes(15),
      });

      // The stream stayed up, so no reconnect reloaded the list: the event did it.
      await waitForRows(page, ["live-1"]);
      const states = await liveStates(page);
      assert.deepEqual(states, []);
      const headers = await Promise.all(streams);
      assert.deepEqual(
        headers.map((sent) => sent.authorization),
        [`Bearer ${TEAM_TOKEN}`],
      );
      key.assertNotLeaked();
    });

    test("an export downloads with the key, and a refused one says why", async () => {
      const page = await harness.open("#/ns/team-a?id_prefix=t-");
      await enterKey(page, TEAM_TOKEN);
      await waitForRows(page, ["t-1", "t-2"]);
      assert.equal(await page.locator(".exports a").count(), 0);

      const csv = await download(page, "CSV");
      assert.equal(csv.name, "team-a-timers.csv");
      const lines = csv.text.trim().split(/\r?\n/);
      assert.match(lines[0] ?? "", /^namespace,id,status,fire_at,/);
      assert.deepEqual(
        lines.slice(1).map((line) => line.split(",").slice(0, 3).join(",")),
        ["team-a,t-1,scheduled", "team-a,t-2,scheduled"],
      );

      const json = await download(page, "JSON");
      assert.equal(json.name, "team-a-timers.json");
      assert.deepEqual(JSON.parse(json.text), made);

      await page.goto(`${harness.server.baseUrl}/#/ns/team-a?fire_after=soon`);
      await page.click(".exports button:text-is('CSV')");
      await textOf(page.locator(".exports [role='alert']"), "Could not export:");
      await textOf(page.locator(".exports [role='alert']"), "invalid_argument");
    });

    test("a key for one namespace sees only it, and is told so elsewhere", async () => {
      const page = await harness.open("#/ns/team-a?id_prefix=t-");
      await enterKey(page, TEAM_TOKEN);
      await waitForRows(page, ["t-1", "t-2"]);
      await waitForValues(
        () => namespaceOptions(page),
        ["team-a"],
        "namespace options",
      );

      const denied = "API key 'team' does not cover namespace 'other'";
      await page.fill("#namespace", "other");
      await page.press("#namespace", "Enter");
      await textOf(page.locator(".message.error"), denied);
      await textOf(page.locator("h1"), "Timers in other");
      await page.locator("[data-live='refused']").waitFor();

      await page.goto(`${harness.server.baseUrl}/#/ns/other/timers/o-1`);
      await textOf(page.locator(".messages"), denied);

      await page.goto(`${harness.server.baseUrl}/#/ns/other/new`);
      await page.fill("#timer-id", "not-mine");
      await page.click("text=in 15 min");
      await page.fill("#callback-url", "http://127.0.0.1:9/unused");
      await page.click("button:text-is('Create timer')");
      await textOf(page.locator(".timer-form .message.error"), denied);

      await page.goto(`${harness.server.baseUrl}/#/dashboard`);
      const namespaces = page.locator("table.counts-table tbody tr");
      await namespaces.first().waitFor();
      assert.deepEqual(
        await namespaces.evaluateAll((rows) =>
          rows.map((row) => row.getAttribute("data-namespace")),
        ),
        ["team-a"],
      );
      await textOf(
        page.locator(".panel .message.error"),
        "covers some namespaces only",
      );
      await page.selectOption("#dashboard-namespace", "team-a");
      await page.locator(".chart").waitFor();
    });

    test("a remembered key serves other tabs until Forget key", async () => {
      const page = await harness.open("#/ns/team-a?id_prefix=t-");
      const key = watchForKey(page, OPS_TOKEN);
      await page.getByLabel("API key", { exact: true }).fill(OPS_TOKEN);
      await page.getByLabel("Remember on this device").check();
      await page.getByRole("button", { name: "Use this key" }).click();
      await waitForRows(page, ["t-1", "t-2"]);
      assert.deepEqual(await storedKeys(page), [null, OPS_TOKEN]);

      const tab = await page.context().newPage();
      await tab.goto(`${harness.server.baseUrl}/#/ns/team-a?id_prefix=t-`);
      await waitForRows(tab, ["t-1", "t-2"]);

      await tab.getByRole("button", { name: "Forget key" }).click();
      await tab.getByLabel("API key", { exact: true }).waitFor();
      assert.equal(await tab.locator("table.timers").count(), 0);
      assert.equal(await tab.locator(".forget-key").count(), 0);
      assert.deepEqual(await storedKeys(tab), [null, null]);
      await tab.reload();
      await tab.getByLabel("API key", { exact: true }).waitFor();
      key.assertNotLeaked();
    });

    for (const width of [1440, 390]) {
      test(`the key form and Forget key fit ${width} px`, async () => {
        const page = await harness.open("#/ns/team-a?id_prefix=t-", { width });
        await enterKey(page, "not-a-key-of-this-server");
        await textOf(page.locator(".key-prompt [role='alert']"), "refused");
        assert.deepEqual((await horizontalOverflow(page)).offenders, []);
        await page.screenshot({ path: join(IMAGES, `webui-key-${width}.png`) });

        await enterKey(page, TEAM_TOKEN);
        await waitForRows(page, ["t-1", "t-2"]);
        await page.locator(".forget-key").waitFor();
        assert.deepEqual((await horizontalOverflow(page)).offenders, []);
      });
    }

    test("a stored key that the server no longer takes brings the form back", async () => {
      const page = await harness.open("#/ns/team-a?id_prefix=t-");
      await page.getByLabel("API key", { exact: true }).waitFor();
      await page.evaluate(
        (name) => sessionStorage.setItem(name, "a-key-retired-long-ago-0003"),
        STORAGE_NAME,
      );

      await page.reload();

      await textOf(
        page.locator(".key-prompt [role='alert']"),
        "the bearer token is not valid",
      );
      await page.locator(".forget-key").waitFor();
      await enterKey(page, TEAM_TOKEN);
      await waitForRows(page, ["t-1", "t-2"]);
      assert.deepEqual(await storedKeys(page), [TEAM_TOKEN, null]);
    });
  },
  { settings: SETTINGS },
);
