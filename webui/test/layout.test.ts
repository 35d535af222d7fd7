import assert from "node:assert/strict";
import { join } from "node:path";
import { before, test } from "node:test";
import type { Page } from "playwright-core";
import { Api, inMinutes } from "./support/api.js";
import { describeUi, IMAGES } from "./support/browser.js";
import { horizontalOverflow, textOf, waitForRows } from "./support/page.js";
import { Receiver } from "./support/receiver.js";

const WIDTHS = [1440, 390] as const;
const DETAILS = "#/ns/shop/timers/invoice-77-retry";

/** Every visible form control, and whether it has a label. */
function unlabelled(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll<HTMLElement>("input, select, textarea")]
      .filter((control) => control.getClientRects().length > 0)
      .filter((control) => {
        const labels = (control as HTMLInputElement).labels;
        const named =
          (labels &&
            labels.length > 0 &&
            (labels[0]?.textContent ?? "").trim() !== "") ||
          control.getAttribute("aria-label") ||
          control.getAttribute("aria-labelledby");
        return !named;
      })
      .map((control) => control.outerHTML.slice(0, 80)),
  );
}

/** What is wrong with the tables and buttons of the page, if anything. */
function semanticProblems(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const problems: string[] = [];
    for (const cell of document.querySelectorAll("th")) {
      if (!["col", "row"].includes(cell.getAttribute("scope") ?? "")) {
        problems.push(`th without scope: ${cell.textContent}`);
      }
    }

    for (const element of document.querySelectorAll("[role='button'], a:not([href])")) {
      problems.push(
        `a stand-in for a button or link: ${element.outerHTML.slice(0, 60)}`,
      );
    }

    const interactive = "a, button, input, select, textarea, summary, main";
    for (const element of document.querySelectorAll("[tabindex]")) {
      if (element.getAttribute("tabindex") !== "-1" && !element.matches(interactive)) {
        problems.push(`focusable non-control: ${element.outerHTML.slice(0, 60)}`);
      }
    }

    for (const button of document.querySelectorAll("button")) {
      if (!(button.textContent ?? "").trim() && !button.getAttribute("aria-label")) {
        problems.push(`button without a name: ${button.outerHTML.slice(0, 60)}`);
      }
    }

    return problems;
  });
}

async function fillForm(page: Page): Promise<void> {
  await page.fill("#timer-id", "cart-981-expiry");
  await page.click("text=in 15 min");
  await page.fill("#callback-url", "https://shop.example/hooks/cart-expiry");
  await page.fill("#callback-timeout", "5");
  await page.click("text=Add header");
  await page.keyboard.type("Authorization");
  await page.fill("#header-value-1", "Bearer s3cret");
  await page.fill("#payload", '{\n  "cart": 981,\n  "items": 3\n}');
  await page.fill("#retry-max-attempts", "5");
  // The picture shows the form at rest, without a focus ring.
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
}

describeUi("layout, keyboard and labels", (harness) => {
  before(async () => {
    const api = new Api(harness.server.baseUrl);
    const receiver = await Receiver.start();
    try {
      const ids = [
        "cart-977-expiry",
        "order-1042-reminder",
        "trial-55-ends",
        "cart-980-expiry",
      ];
      for (const [index, id] of ids.entries()) {
        await api.create("shop", {
          id,
          fire_at: inMinutes(5 + index * 17),
          callback: { url: `https://shop.example/hooks/${id.split("-")[0]}` },
          payload: { ref: id },
        });
      }

      await api.create("shop", {
        id: "welcome-mail-31",
        delay_seconds: 0,
        callback: { url: receiver.url },
        payload: { user: 31 },
      });
      await api.create("shop", {
        id: "invoice-77-retry",
        delay_seconds: 0,
        callback: {
          url: "http://127.0.0.1:9/billing/invoice-due",
          timeout_seconds: 2,
          headers: { Authorization: "Bearer s3cret" },
        },
        payload: { invoice: 77, amount: { value: "129.00", currency: "EUR" } },
        retry_policy: { max_attempts: 3, initial_interval_seconds: 0.2 },
      });

      const deadline = Date.now() + 10_000;
      while (
        (await api.get("shop", "invoice-77-retry"))?.status !== "failed" ||
        (await api.get("shop", "welcome-mail-31"))?.status !== "succeeded"
      ) {
        assert.ok(Date.now() < deadline, "the example timers did not finish in 10 s");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      await receiver.stop();
    }
  });

  for (const width of WIDTHS) {
    test(`list, form, details and dashboard fit ${width} px`, async () => {
      const page = await harness.open("#/ns/shop", { width });
      await page.locator("table.timers tbody tr").nth(5).waitFor();
      await page.locator("[data-live='live']").waitFor();
      assert.deepEqual((await horizontalOverflow(page)).offenders, []);
      await page.screenshot({
        path: join(IMAGES, `webui-list-${width}.png`),
        fullPage: true,
      });

      await page.goto(`${harness.server.baseUrl}/#/ns/shop/new`);
      await fillForm(page);
      assert.deepEqual((await horizontalOverflow(page)).offenders, []);
      await page.screenshot({
        path: join(IMAGES, `webui-form-${width}.png`),
        fullPage: true,
      });

      await page.goto(`${harness.server.baseUrl}/${DETAILS}`);
      await page.locator("table.attempts tbody tr").nth(2).waitFor();
      await page.locator("[data-live='live']").waitFor();
      assert.deepEqual((await horizontalOverflow(page)).offenders, []);
      await page.screenshot({
        path: join(IMAGES, `webui-details-${width}.png`),
        fullPage: true,
      });

      await page.click("text=Change fire time or payload");
      await page.click("text=Cancel timer…");
      await page.locator("dialog.confirm").waitFor();
      assert.deepEqual((await horizontalOverflow(page)).offenders, []);
      await page.keyboard.press("Escape");

      await page.goto(`${harness.server.baseUrl}/#/dashboard`);
      await page.locator(".chart").waitFor();
      assert.deepEqual((await horizontalOverflow(page)).offenders, []);

      const metrics = await horizontalOverflow(page);
      assert.ok(
        metrics.scrollWidth <= width,
        `${metrics.scrollWidth} px wide at ${width}`,
      );
    });
  }

  test("every form control has a label, and tables and buttons are what they say", async () => {
    const page = await harness.open("#/ns/shop");
    await page.locator("table.timers tbody tr").first().waitFor();
    assert.deepEqual(await unlabelled(page), []);
    assert.deepEqual(await semanticProblems(page), []);

    await page.goto(`${harness.server.baseUrl}/#/ns/shop/new`);
    await page.click("text=Add header");
    assert.deepEqual(await unlabelled(page), []);
    assert.deepEqual(await semanticProblems(page), []);

    await page.goto(`${harness.server.baseUrl}/${DETAILS}`);
    await page.locator("table.attempts tbody tr").first().waitFor();
    await page.click("text=Change fire time or payload");
    assert.deepEqual(await unlabelled(page), []);
    assert.deepEqual(await semanticProblems(page), []);
    assert.equal(await page.locator("dialog.confirm").count(), 1);

    await page.goto(`${harness.server.baseUrl}/#/dashboard`);
    await page.locator(".chart").waitFor();
    assert.deepEqual(await unlabelled(page), []);
    assert.deepEqual(await semanticProblems(page), []);
  });

  test("the keyboard reaches the controls in order, with a visible focus", async () => {
    const page = await harness.open("#/ns/shop");
    await page.locator("table.timers tbody tr").first().waitFor();

    // A date-time input takes one Tab per part, so repeats of a name are one stop.
    const seen: string[] = [];
    for (let step = 0; step < 40 && seen.at(-1) !== "page-size"; step++) {
      await page.keyboard.press("Tab");
      const focused = await page.evaluate(() => {
        const element = document.activeElement as HTMLElement | null;
        if (!element) {
          return { name: "", outline: "none", width: 0 };
        }

        const style = getComputedStyle(element);
        const label =
          element.id || element.getAttribute("value") || element.textContent || "";
        return {
          name: label.trim(),
          outline: style.outlineStyle,
          width: Number.parseFloat(style.outlineWidth),
        };
      });
      assert.notEqual(focused.outline, "none", `no visible focus on ${focused.name}`);
      assert.ok(focused.width >= 2, `a thin focus ring on ${focused.name}`);
      if (seen.at(-1) !== focused.name) {
        seen.push(focused.name);
      }
    }

    assert.deepEqual(seen, [
      "Skip to the content",
      "Timer service",
      "Timers",
      "New timer",
      "Dashboard",
      "API reference",
      "New timer",
      "namespace",
      "Open",
      "scheduled",
      "succeeded",
      "failed",
      "fire-after",
      "fire-before",
      "id-prefix",
      "page-size",
    ]);

    // The skip link moves the focus past the header.
    await page.focus(".skip-link");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.activeElement?.id === "main");

    // Enter in a filter applies the filters.
    await page.focus("#id-prefix");
    await page.keyboard.type("cart-");
    await page.keyboard.press("Enter");
    await waitForRows(page, ["cart-977-expiry", "cart-980-expiry"]);
  });

  test("the create form works from the keyboard alone", async () => {
    const page = await harness.open("#/ns/keys/new");
    await page.focus("#timer-id");

    await page.keyboard.type("by-keyboard");
    await page.keyboard.press("Tab");
    await page.waitForFunction(() => document.activeElement?.id === "fire-at");
    // Past the date-time picker's parts, to the first shortcut.
    for (let step = 0; step < 12; step++) {
      const text = await page.evaluate(() => document.activeElement?.textContent ?? "");
      if (text === "in 1 min") {
        break;
      }

      await page.keyboard.press("Tab");
    }

    await page.keyboard.press("Enter");
    assert.notEqual(await page.inputValue("#fire-at"), "");
    await page.focus("#callback-url");
    await page.keyboard.type("http://127.0.0.1:9/keys");
    await page.keyboard.press("Enter");

    await page.waitForURL(/#\/ns\/keys\/timers\/by-keyboard$/);
    await textOf(page.locator("h1"), "by-keyboard");
  });
});
