/** The adapter from a Web handler to Node's http server, over real HTTP. */

import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, test } from "node:test";

import { type NodeHandlerOptions, toNodeHandler } from "@timerkernel/client";

async function serve(
  handler: (request: Request) => Promise<Response>,
  options?: NodeHandlerOptions,
): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer(toNodeHandler(handler, options));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe("toNodeHandler", () => {
  test("hands the handler the method, URL, headers and body, and sends its answer", async () => {
    const seen: { method: string; url: string; header: string | null; body: string }[] =
      [];
    const server = await serve(async (request) => {
      seen.push({
        method: request.method,
        url: request.url,
        header: request.headers.get("timer-id"),
        body: await request.text(),
      });
      return new Response(JSON.stringify({ next_delay_seconds: 1 }), {
        status: 200,
        headers: { "Content-Type": "application/json", "X-Answer": "yes" },
      });
    });

    try {
      const response = await fetch(`${server.url}/hooks/timer?x=1`, {
        method: "POST",
        headers: { "Timer-Id": "cart-1" },
        body: "ü-body",
      });

      assert.equal(response.status, 200);
      assert.equal(response.headers.get("x-answer"), "yes");
      assert.deepEqual(await response.json(), { next_delay_seconds: 1 });
      assert.equal(seen.length, 1);
      assert.equal(seen[0]?.method, "POST");
      assert.equal(new URL(seen[0]?.url ?? "").pathname, "/hooks/timer");
      assert.equal(new URL(seen[0]?.url ?? "").search, "?x=1");
      assert.equal(seen[0]?.header, "cart-1");
      assert.equal(seen[0]?.body, "ü-body");
    } finally {
      await server.close();
    }
  });

  test("a body over the limit is answered 413 without calling the handler", async () => {
    let called = false;
    const server = await serve(
      async () => {
        called = true;
        return new Response(null, { status: 204 });
      },
      { maxBodyBytes: 10 },
    );

    try {
      const response = await fetch(server.url, {
        method: "POST",
        body: "x".repeat(11),
      });

      assert.equal(response.status, 413);
      assert.equal(called, false);
    } finally {
      await server.close();
    }
  });

  test("a handler that throws is answered 500 and the error is reported", async () => {
    const reported: unknown[] = [];
    const server = await serve(
      async () => {
        throw new Error("boom");
      },
      { onError: (error) => reported.push(error) },
    );

    try {
      const response = await fetch(server.url, { method: "POST", body: "{}" });

      assert.equal(response.status, 500);
      assert.equal(await response.text(), "internal error");
      assert.equal(reported.length, 1);
      assert.equal((reported[0] as Error).message, "boom");
    } finally {
      await server.close();
    }
  });

  test("a GET has no body", async () => {
    const server = await serve(
      async (request) => new Response(`${request.method} ${request.body}`),
    );

    try {
      const response = await fetch(server.url);

      assert.equal(await response.text(), "GET null");
    } finally {
      await server.close();
    }
  });
});
