/**
 * A local HTTP server that records each request and answers from a queue of
 * replies, for the client's unit tests: the client talks real HTTP to it.
 */

import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  method: string;
  /** The path and query as sent. */
  url: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
  /** `performance.now()` when the request arrived. */
  at: number;
}

export type Reply =
  | {
      status: number;
      headers?: Record<string, string>;
      /** A string is sent as it is; anything else as JSON. */
      body?: unknown;
      /** Wait this long before answering. */
      delayMs?: number;
      /** Send the headers at once, and the body after `delayMs`. */
      slowBody?: boolean;
    }
  /** Close the connection without answering. */
  | "reset";

export class StubServer {
  readonly requests: RecordedRequest[] = [];
  readonly #server: Server;
  readonly #replies: Reply[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  #onRequest: (() => void)[] = [];

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(): Promise<StubServer> {
    const server = createServer();
    const stub = new StubServer(server);
    server.on("request", (request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        const url = new URL(request.url ?? "/", "http://stub");
        stub.requests.push({
          method: request.method ?? "",
          url: request.url ?? "",
          path: url.pathname,
          query: url.searchParams,
          headers: request.headers,
          body: Buffer.concat(chunks).toString("utf8"),
          at: performance.now(),
        });
        const waiting = stub.#onRequest;
        stub.#onRequest = [];
        for (const wake of waiting) {
          wake();
        }

        const reply = stub.#replies.shift() ?? {
          status: 599,
          body: "the stub has no reply queued",
        };
        if (reply === "reset") {
          request.socket.destroy();
          return;
        }

        const body =
          reply.body === undefined
            ? ""
            : typeof reply.body === "string"
              ? reply.body
              : JSON.stringify(reply.body);
        const headers = {
          ...(typeof reply.body === "string" || reply.body === undefined
            ? {}
            : { "Content-Type": "application/json" }),
          ...reply.headers,
        };
        const send = () => {
          response.writeHead(reply.status, headers);
          response.end(body);
        };
        if (reply.slowBody) {
          response.writeHead(reply.status, headers);
          response.write(body.slice(0, 1));
          stub.#later(reply.delayMs ?? 0, () => response.end(body.slice(1)));
        } else if (reply.delayMs) {
          stub.#later(reply.delayMs, send);
        } else {
          send();
        }
      });
    });

    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return stub;
  }

  get url(): string {
    const { port } = this.#server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  /** Queue replies, answered in order, one per request. */
  reply(...replies: Reply[]): this {
    this.#replies.push(...replies);
    return this;
  }

  /** The only request recorded; fails if there were more or none. */
  single(): RecordedRequest {
    if (this.requests.length !== 1) {
      throw new Error(`expected one request, got ${this.requests.length}`);
    }

    return this.requests[0] as RecordedRequest;
  }

  /** Wait until `count` requests have arrived, at most `timeoutMs`. */
  async received(count: number, timeoutMs = 5_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (this.requests.length < count) {
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new Error(`${count} requests expected within ${timeoutMs} ms`);
      }

      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#onRequest.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  reset(): void {
    this.requests.length = 0;
    this.#replies.length = 0;
  }

  async close(): Promise<void> {
    for (const timer of this.#timers) {
      clearTimeout(timer);
    }

    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #later(ms: number, action: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      action();
    }, ms);
    this.#timers.add(timer);
  }
}

/** A timer as the server sends it, with `overrides` on top. */
export function wireTimer(
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    namespace: "shop",
    id: "cart-1",
    fire_at: "2026-12-03T08:00:00.000Z",
    callback: { url: "https://shop.example/hook", timeout_seconds: 10, headers: {} },
    payload: { cart: 1 },
    retry_policy: {
      max_attempts: 10,
      initial_interval_seconds: 1,
      backoff_coefficient: 2,
      max_interval_seconds: 600,
      max_duration_seconds: null,
    },
    status: "scheduled",
    attempts: 0,
    next_attempt_at: "2026-12-03T08:00:00.000Z",
    last_error: null,
    created_at: "2026-12-01T08:00:00.000Z",
    updated_at: "2026-12-01T08:00:00.000Z",
    executed_at: null,
    version: 1,
    ...overrides,
  };
}

/** An error body of the contract. */
export function errorBody(
  code: string,
  message: string,
  details: Record<string, unknown> = {},
): Record<string, unknown> {
  return { error: { code, message, details } };
}
