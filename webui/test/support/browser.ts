/**
 * Debian's Chromium driven by playwright-core, and the suites that need it
 * with a timer server: skipped when either is missing, failing instead when
 * `CI` is `"true"`.
 */

import { accessSync, constants, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  type Browser,
  type BrowserContext,
  chromium,
  type Page,
} from "playwright-core";
import { type ServerOptions, serverCommand, TimerServer } from "./server.js";

export const CHROMIUM = "/usr/bin/chromium";

// This machine has no network but loopback: these flags keep Chromium from
// calling out at start. Playwright adds --headless, --no-sandbox and a fresh
// --user-data-dir itself.
const CHROMIUM_ARGS = [
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** How long one browser action or wait may take before the test fails. */
export const ACTION_TIMEOUT_MS = 7_000;

const here = dirname(fileURLToPath(import.meta.url));
/**
 * Where the tests save their screenshots: test-results/ of webui, unless
 * TIMERUI_SCREENSHOTS names another folder (../docs/images refreshes the
 * README's), so that a test run leaves the tracked images alone.
 */
export const IMAGES = process.env.TIMERUI_SCREENSHOTS
  ? resolve(process.env.TIMERUI_SCREENSHOTS)
  : join(here, "..", "..", "..", "test-results");

function chromiumPresent(): boolean {
  try {
    accessSync(CHROMIUM, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function missing(): string | undefined {
  if (serverCommand() === undefined) {
    return "no timer server: set TIMERUI_SERVER or put timerserver on PATH";
  }

  if (!chromiumPresent()) {
    return `no Chromium at ${CHROMIUM}: install Debian's chromium package (apt-get install chromium)`;
  }

  return undefined;
}

export interface Harness {
  server: TimerServer;
  browser: Browser;
  /** A new page in its own context, at `width` x 900 unless told. */
  open(hash: string, options?: PageOptions): Promise<Page>;
}

export interface PageOptions {
  width?: number;
  height?: number;
  timezoneId?: string;
}

/**
 * A suite with one server and one browser for all its tests. Each test
 * opens pages through the harness; they are closed after each suite.
 * `serverOptions` shape the server, with its settings file for instance.
 */
export function describeUi(
  name: string,
  body: (harness: Harness) => void,
  serverOptions: ServerOptions = {},
): void {
  const reason = missing();
  if (reason !== undefined) {
    if (process.env.CI === "true") {
      describe(name, () => {
        test("the timer server and Chromium are available", () => {
          throw new Error(`CI is "true" but there is ${reason}`);
        });
      });
    } else {
      describe(name, { skip: reason }, () => {
        body(unavailable());
      });
    }

    return;
  }

  describe(name, () => {
    const contexts: BrowserContext[] = [];
    let server: TimerServer | undefined;
    let browser: Browser | undefined;
    const harness: Harness = {
      get server() {
        if (!server) {
          throw new Error("the server is not started");
        }

        return server;
      },
      set server(value: TimerServer) {
        server = value;
      },
      get browser() {
        if (!browser) {
          throw new Error("the browser is not started");
        }

        return browser;
      },
      async open(hash, options = {}) {
        const context = await harness.browser.newContext({
          viewport: { width: options.width ?? 1440, height: options.height ?? 900 },
          timezoneId: options.timezoneId ?? "Europe/Berlin",
          locale: "en-GB",
          acceptDownloads: true,
        });
        context.setDefaultTimeout(ACTION_TIMEOUT_MS);
        contexts.push(context);
        const page = await context.newPage();
        page.on("pageerror", (error) => {
          process.stderr.write(`page error: ${error.message}\n`);
        });
        await page.goto(`${harness.server.baseUrl}/${hash}`);
        return page;
      },
    };

    before(async () => {
      const [started, launched] = await Promise.all([
        TimerServer.start(serverOptions),
        chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS }),
      ]);
      server = started;
      browser = launched;
      mkdirSync(IMAGES, { recursive: true });
    });

    after(async () => {
      await Promise.all(contexts.map((context) => context.close().catch(() => {})));
      await browser?.close();
      await server?.stop();
    });

    body(harness);
  });
}

function unavailable(): Harness {
  const fail = (): never => {
    throw new Error("skipped: no server or browser");
  };
  return {
    get server() {
      return fail();
    },
    get browser() {
      return fail();
    },
    open: fail,
  };
}
