/** An HTTP endpoint on 127.0.0.1 for the server's callbacks, and a queue to wait on them. */

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

import { toNodeHandler } from "@timerkernel/client";

export class Receiver {
  /** Every request that reached the endpoint, signed or not. */
  readonly requests: Request[] = [];
  readonly #server: Server;

  private constructor(server: Server) {
    this.#server = server;
  }

  /** Serve `handler` through the SDK's Node adapter. */
  static async start(
    handler: (request: Request) => Promise<Response>,
  ): Promise<Receiver> {
    let receiver: Receiver | undefined;
    const server = createServer(
      toNodeHandler(async (request) => {
        receiver?.requests.push(request.clone());
        return handler(request);
      }),
    );
    receiver = new Receiver(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return receiver;
  }

  url(path = "/hooks/timer"): string {
    const { port } = this.#server.address() as AddressInfo;
    return `http://127.0.0.1:${port}${path}`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** Items that arrive over time, and a bounded wait for the next that matches. */
export class Inbox<T> {
  readonly items: T[] = [];
  #waiters: (() => void)[] = [];

  push(item: T): void {
    this.items.push(item);
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) {
      wake();
    }
  }

  /** The first item that matches, waiting at most `timeoutMs` for it. */
  async waitFor(
    description: string,
    match: (item: T) => boolean,
    timeoutMs = 15_000,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.items.find(match);
      if (found !== undefined) {
        return found;
      }

      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`${description}: not within ${timeoutMs} ms`);
      }

      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}
