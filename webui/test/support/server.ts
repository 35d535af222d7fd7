/**
 * A real timer server for the browser tests, on 127.0.0.1 with SQLite in a
 * temporary directory: `$TIMERUI_SERVER` (an absolute path), else
 * `timerserver` on PATH.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, isAbsolute, join } from "node:path";

// A cold Python start with migrations takes one or two seconds here.
const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;
const KILL_TIMEOUT_MS = 5_000;
const LOG_LIMIT = 64 * 1024;

/** The server executable, or `undefined` when there is none. */
export function serverCommand(): string | undefined {
  const configured = process.env.TIMERUI_SERVER;
  if (configured) {
    if (!isAbsolute(configured)) {
      throw new Error(`TIMERUI_SERVER must be an absolute path, not ${configured}`);
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

export interface ServerOptions {
  /** Serve the database of another server's directory. */
  directory?: string;
  port?: number;
  /** Fire no timers: an API process beside the one that runs them. */
  noRunner?: boolean;
  /** The text of a timerserver.toml, written to the directory and passed. */
  settings?: string;
}

export class TimerServer {
  readonly baseUrl: string;
  private output = "";
  private settings: string | undefined;

  private constructor(
    private readonly child: ChildProcess,
    private readonly exited: Promise<void>,
    readonly port: number,
    readonly directory: string,
    private ownsDirectory: boolean,
  ) {
    this.baseUrl = `http://127.0.0.1:${port}`;
    const record = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString("utf8")).slice(-LOG_LIMIT);
    };
    child.stdout?.on("data", record);
    child.stderr?.on("data", record);
  }

  /** Start a server and wait, a bounded time, until `/readyz` answers 200. */
  static async start(options: ServerOptions = {}): Promise<TimerServer> {
    const command = serverCommand();
    if (command === undefined) {
      throw new Error("no timer server: set TIMERUI_SERVER or put timerserver on PATH");
    }

    const ownsDirectory = options.directory === undefined;
    const directory = options.directory ?? mkdtempSync(join(tmpdir(), "timerui-"));
    const port = options.port ?? (await freePort());
    const args = [
      "serve",
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--storage",
      `sqlite:///${join(directory, "timers.db")}`,
    ];
    if (options.noRunner) {
      args.push("--no-runner");
    }

    if (options.settings !== undefined) {
      const file = join(directory, "timerserver.toml");
      writeFileSync(file, options.settings);
      args.push("--config", file);
    }

    const child = spawn(command, args, {
      // Its own directory, so that no timerserver.toml of the caller is read.
      cwd: directory,
      env: serverEnvironment(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    // Should the test process die without stopping it, the server goes too.
    const killOnExit = () => child.kill("SIGKILL");
    let failure: Error | undefined;
    process.once("exit", killOnExit);
    const exited = new Promise<void>((resolve) => {
      child.once("exit", () => {
        process.off("exit", killOnExit);
        resolve();
      });
      child.once("error", (error) => {
        process.off("exit", killOnExit);
        failure = error;
        resolve();
      });
    });

    const server = new TimerServer(child, exited, port, directory, ownsDirectory);
    server.settings = options.settings;
    try {
      await server.waitUntilReady(() => failure);
    } catch (error) {
      await server.stop();
      throw error;
    }

    return server;
  }

  logs(): string {
    return this.output;
  }

  /** SIGTERM, then SIGKILL if it has not exited within 10 s. */
  async stop(): Promise<void> {
    await this.terminate();
    if (this.ownsDirectory) {
      rmSync(this.directory, { recursive: true, force: true });
    }
  }

  /**
   * Stop, run `whileStopped`, and start again on the same port and
   * database. The new server takes over the directory: stopping it removes
   * the directory.
   */
  async restart(
    whileStopped: () => Promise<void> = async () => {},
  ): Promise<TimerServer> {
    await this.terminate();
    await whileStopped();
    const next = await TimerServer.start({
      directory: this.directory,
      port: this.port,
      ...(this.settings === undefined ? {} : { settings: this.settings }),
    });
    next.ownsDirectory = this.ownsDirectory;
    this.ownsDirectory = false;
    return next;
  }

  private async terminate(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) {
      return;
    }

    this.child.kill("SIGTERM");
    if (!(await within(this.exited, STOP_TIMEOUT_MS))) {
      this.child.kill("SIGKILL");
      await within(this.exited, KILL_TIMEOUT_MS);
    }
  }

  private async waitUntilReady(failure: () => Error | undefined): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      const error = failure();
      if (error) {
        throw new Error(`the timer server did not start: ${error.message}`);
      }

      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`the timer server exited before it was ready:\n${this.output}`);
      }

      try {
        const response = await fetch(`${this.baseUrl}/readyz`, {
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
      `the timer server was not ready within ${READY_TIMEOUT_MS} ms:\n${this.output}`,
    );
  }
}

/**
 * The caller's environment without its TIMERSERVER_ variables: the server
 * reads each as a setting, and the tests define the server they need.
 */
function serverEnvironment(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith("TIMERSERVER_")),
  );
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

export function freePort(): Promise<number> {
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
