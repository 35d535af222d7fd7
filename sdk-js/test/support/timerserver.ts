/**
 * Starts a real timer server for the integration tests, each run its own,
 * on 127.0.0.1 with SQLite in a temporary directory.
 *
 * The executable is `$TIMERSDK_SERVER` (an absolute path), else
 * `timerserver` on `PATH`. Without either the suites are skipped, except
 * when `CI` is `"true"`: there a missing server fails the run.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, isAbsolute, join } from "node:path";
import { describe, test } from "node:test";

// The server is ready within a second or so; 5 s leave room for a busy machine.
const READY_TIMEOUT_MS = 5_000;
const STOP_TIMEOUT_MS = 10_000;
const KILL_TIMEOUT_MS = 5_000;
const LOG_LIMIT = 64 * 1024;
const START_TRIES = 3;

/** The timer server executable, or `undefined` when there is none. */
export function timerServerCommand(): string | undefined {
  const configured = process.env.TIMERSDK_SERVER;
  if (configured) {
    if (!isAbsolute(configured)) {
      throw new Error(`TIMERSDK_SERVER must be an absolute path, not ${configured}`);
    }

    return configured;
  }

  for (const directory of (process.env.PATH ?? "").split(delimiter)) {
    if (!directory) {
      continue;
    }

    const candidate = join(directory, "timerserver");
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this directory of PATH.
    }
  }

  return undefined;
}

/**
 * A `describe` for tests that need the server: skipped when there is no
 * server, failing instead when `CI` is `"true"`.
 */
export function describeWithServer(name: string, body: () => void): void {
  if (timerServerCommand() !== undefined) {
    describe(name, body);
    return;
  }

  const reason = "no timer server: set TIMERSDK_SERVER or put timerserver on PATH";
  if (process.env.CI === "true") {
    describe(name, () => {
      test("the timer server is available", () => {
        throw new Error(`CI is "true" but there is ${reason}`);
      });
    });
    return;
  }

  describe(name, { skip: reason }, body);
}

export interface TimerServer {
  readonly baseUrl: string;
  /** The secret the server signs callbacks with. */
  readonly secret: string;
  /** What the server printed, for a failing test's message. */
  logs(): string;
  /** SIGTERM, then SIGKILL if it has not exited within 10 s. */
  stop(): Promise<void>;
}

/** Start a server and wait, a bounded time, until it is ready. */
export async function startTimerServer(secret: string): Promise<TimerServer> {
  const command = timerServerCommand();
  if (command === undefined) {
    throw new Error("no timer server: set TIMERSDK_SERVER or put timerserver on PATH");
  }

  let lastError: unknown;
  for (let attempt = 0; attempt < START_TRIES; attempt++) {
    // Another process may take the free port before the server binds it; a
    // new port is tried then.
    try {
      return await startOnce(command, secret, await freePort());
    } catch (error) {
      lastError = error;
    }
  }

  throw lastError;
}

async function startOnce(
  command: string,
  secret: string,
  port: number,
): Promise<TimerServer> {
  const directory = mkdtempSync(join(tmpdir(), "timerkernel-js-"));
  const child = spawn(
    command,
    [
      "serve",
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--storage",
      `sqlite:///${join(directory, "timers.db")}`,
    ],
    {
      // Its own directory, so that no timerserver.toml of the caller is read.
      cwd: directory,
      env: { ...serverEnvironment(), TIMERSERVER_CALLBACKS__SIGNING_SECRET: secret },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  const record = (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-LOG_LIMIT);
  };
  child.stdout?.on("data", record);
  child.stderr?.on("data", record);
  // Should this process end without stopping the server (an uncaught error,
  // say), the server must not outlive it.
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => {
      process.off("exit", killOnExit);
      resolve();
    });
    child.once("error", (error) => {
      output += `\n${String(error)}`;
      resolve();
    });
  });

  const baseUrl = `http://127.0.0.1:${port}`;
  const server: TimerServer = {
    baseUrl,
    secret,
    logs: () => output,
    stop: async () => {
      await stop(child, exited);
      rmSync(directory, { recursive: true, force: true });
    },
  };

  try {
    await waitUntilReady(baseUrl, child, () => output);
  } catch (error) {
    await server.stop();
    throw error;
  }

  return server;
}

/**
 * The caller's environment without its TIMERSERVER_ variables: the server
 * reads each as a setting, and the tests define the server they need
 * themselves.
 */
function serverEnvironment(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith("TIMERSERVER_")),
  );
}

async function waitUntilReady(
  baseUrl: string,
  child: ChildProcess,
  logs: () => string,
): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the timer server exited before it was ready:\n${logs()}`);
    }

    try {
      const response = await fetch(`${baseUrl}/readyz`, {
        signal: AbortSignal.timeout(1000),
      });
      await response.arrayBuffer();
      if (response.status === 200) {
        return;
      }
    } catch {
      // Not listening yet.
    }

    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  throw new Error(
    `the timer server was not ready within ${READY_TIMEOUT_MS} ms:\n${logs()}`,
  );
}

async function stop(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return;
  }

  child.kill("SIGTERM");
  if (await within(exited, STOP_TIMEOUT_MS)) {
    return;
  }

  child.kill("SIGKILL");
  await within(exited, KILL_TIMEOUT_MS);
}

async function within(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** Poll `check` until it gives a value, a bounded time. */
export async function eventually<T>(
  description: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check();
    if (value !== undefined) {
      return value;
    }

    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  throw new Error(`${description}: not within ${timeoutMs} ms`);
}
