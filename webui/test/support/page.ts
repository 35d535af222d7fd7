/** Checks on a page that wait, a bounded time, for a condition. */

import type { Locator, Page } from "playwright-core";
import { ACTION_TIMEOUT_MS } from "./browser.js";

/** Wait until the locator's text contains `expected`. */
export async function textOf(
  locator: Locator,
  expected: string,
  timeout = ACTION_TIMEOUT_MS,
): Promise<string> {
  const deadline = Date.now() + timeout;
  let last = "";
  while (Date.now() < deadline) {
    last = (await locator.textContent({ timeout }).catch(() => null)) ?? "";
    if (last.includes(expected)) {
      return last;
    }

    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  throw new Error(
    `expected text containing ${JSON.stringify(expected)}, last saw ${JSON.stringify(last)}`,
  );
}

/** The ids of the rows of the timer list, in the order shown. */
export function rowIds(page: Page): Promise<string[]> {
  return page
    .locator("table.timers tbody tr")
    .evaluateAll((rows) => rows.map((row) => row.getAttribute("data-id") ?? ""));
}

/** Wait until the list shows exactly these rows, in this order. */
export function waitForRows(
  page: Page,
  expected: string[],
  timeout = ACTION_TIMEOUT_MS,
) {
  return waitForValues(() => rowIds(page), expected, "rows", timeout);
}

/** The namespaces the namespace field offers, in the order offered. */
export function namespaceOptions(page: Page): Promise<string[]> {
  return page
    .locator("#namespace-options option")
    .evaluateAll((items) => items.map((item) => (item as HTMLOptionElement).value));
}

/**
 * Wait until `read` gives exactly `expected`. The page fills its parts from
 * separate requests, so one part being there says nothing of another.
 */
export async function waitForValues(
  read: () => Promise<string[]>,
  expected: string[],
  what: string,
  timeout = ACTION_TIMEOUT_MS,
) {
  const deadline = Date.now() + timeout;
  let last: string[] = [];
  while (Date.now() < deadline) {
    last = await read();
    if (JSON.stringify(last) === JSON.stringify(expected)) {
      return;
    }

    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  throw new Error(
    `expected ${what} ${JSON.stringify(expected)}, last saw ${JSON.stringify(last)}`,
  );
}

/** Wait until the live stream of the page's view is open. */
export async function waitUntilLive(page: Page): Promise<void> {
  await page.locator("[data-live='live']").waitFor();
}

/** Whether anything is wider than the viewport, and which elements are. */
export function horizontalOverflow(page: Page) {
  return page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const offenders = [...document.querySelectorAll("body *")]
      .filter((element) => {
        const box = element.getBoundingClientRect();
        return box.width > 0 && (box.right > width + 0.5 || box.left < -0.5);
      })
      .filter((element) => !element.closest(".visually-hidden, .skip-link"))
      .map((element) => `${element.tagName.toLowerCase()}.${element.className}`)
      .slice(0, 10);
    return { scrollWidth: document.documentElement.scrollWidth, width, offenders };
  });
}

/** Keep every state the live indicator passes through, however brief. */
export async function recordLiveStates(page: Page): Promise<void> {
  await page.evaluate(() => {
    const seen: string[] = [];
    (window as unknown as { liveStates: string[] }).liveStates = seen;
    new MutationObserver(() => {
      seen.push(document.querySelector("[data-live]")?.getAttribute("data-live") ?? "");
    }).observe(document.body, {
      attributes: true,
      subtree: true,
      attributeFilter: ["data-live"],
    });
  });
}

export function liveStates(page: Page): Promise<string[]> {
  return page.evaluate(
    () => (window as unknown as { liveStates: string[] }).liveStates,
  );
}
