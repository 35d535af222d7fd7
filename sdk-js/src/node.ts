/**
 * An adapter from a Web `(Request) => Promise<Response>` handler to the
 * request listener of Node's `http` and `https` servers.
 *
 * It is typed by the shapes it uses instead of Node's own types, so this
 * package needs no Node.js types and stays importable in browsers.
 */

/** What the adapter reads of Node's `http.IncomingMessage`. */
export interface NodeRequestLike extends AsyncIterable<Uint8Array | string> {
  method?: string | undefined;
  url?: string | undefined;
  headers: Record<string, string | string[] | undefined>;
}

/** What the adapter uses of Node's `http.ServerResponse`. */
export interface NodeResponseLike {
  readonly headersSent?: boolean;
  writeHead(statusCode: number, headers: Record<string, string | string[]>): unknown;
  end(body?: Uint8Array | string): unknown;
}

/** How the adapter reads requests. */
export interface NodeHandlerOptions {
  /** Bodies over this size are answered `413` unread. Default 1 MiB. */
  maxBodyBytes?: number;
  /**
   * Told of an error the handler threw; the request is answered `500`.
   * Default: `console.error`.
   */
  onError?: (error: unknown) => void;
}

/** The default of `NodeHandlerOptions.maxBodyBytes`. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

const encoder = new TextEncoder();

/**
 * Serve a Web handler, such as `createCallbackHandler`'s, from Node's `http`:
 *
 * ```ts
 * http.createServer(toNodeHandler(createCallbackHandler({ ... }))).listen(9000);
 * ```
 */
export function toNodeHandler(
  handler: (request: Request) => Promise<Response>,
  options: NodeHandlerOptions = {},
): (request: NodeRequestLike, response: NodeResponseLike) => void {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const onError = options.onError ?? ((error: unknown) => console.error(error));

  return (request, response) => {
    serve(handler, request, response, maxBodyBytes).catch((error: unknown) => {
      onError(error);
      if (!response.headersSent) {
        response.writeHead(500, { "Content-Type": "text/plain; charset=utf-8" });
      }

      response.end("internal error");
    });
  };
}

async function serve(
  handler: (request: Request) => Promise<Response>,
  incoming: NodeRequestLike,
  outgoing: NodeResponseLike,
  maxBodyBytes: number,
): Promise<void> {
  const method = (incoming.method ?? "GET").toUpperCase();
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming.headers)) {
    for (const one of Array.isArray(value)
      ? value
      : value === undefined
        ? []
        : [value]) {
      headers.append(name, one);
    }
  }

  let body: Uint8Array | undefined;
  if (method !== "GET" && method !== "HEAD") {
    body = await readBody(incoming, maxBodyBytes);
    if (body === undefined) {
      outgoing.writeHead(413, {
        "Content-Type": "text/plain; charset=utf-8",
        Connection: "close",
      });
      outgoing.end(`the body is over ${maxBodyBytes} bytes`);
      return;
    }
  }

  const host = headers.get("host") ?? "localhost";
  const init: RequestInit = { method, headers };
  if (body !== undefined) {
    init.body = body as Uint8Array<ArrayBuffer>;
  }

  const answer = await handler(
    new Request(`http://${host}${incoming.url ?? "/"}`, init),
  );

  const answerHeaders: Record<string, string | string[]> = {};
  answer.headers.forEach((value, name) => {
    answerHeaders[name] = value;
  });
  const cookies = answer.headers.getSetCookie?.() ?? [];
  if (cookies.length > 0) {
    answerHeaders["set-cookie"] = cookies;
  }

  const bytes = new Uint8Array(await answer.arrayBuffer());
  outgoing.writeHead(answer.status, answerHeaders);
  outgoing.end(bytes);
}

/**
 * The whole body, or `undefined` if it is over the limit. The rest of a
 * body over the limit is read and dropped, not left unread: leaving the
 * loop early would destroy the socket before the 413 is written.
 */
async function readBody(
  incoming: NodeRequestLike,
  maxBodyBytes: number,
): Promise<Uint8Array | undefined> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of incoming) {
    const bytes = typeof chunk === "string" ? encoder.encode(chunk) : chunk;
    size += bytes.length;
    if (size <= maxBodyBytes) {
      chunks.push(bytes);
    }
  }

  if (size > maxBodyBytes) {
    return undefined;
  }

  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.length;
  }

  return body;
}
