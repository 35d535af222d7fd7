/**
 * The text/event-stream format, read from a fetch response: EventSource
 * cannot send the Authorization header that an API key needs.
 */

export interface EventStreamHandlers {
  /** A complete event: its `event` field (`message` by default) and data. */
  event(type: string, data: string): void;
  /** The server's `retry` field: how long to wait before reconnecting. */
  retry(milliseconds: number): void;
}

// CR, LF and CRLF all end a line. A CR that ends the text so far waits for
// the next chunk, which may start with the LF of the same line end.
const LINE_END = /\r\n|\r(?!$)|\n/;

/** Turns the chunks of a stream into events as they arrive. */
export class EventStreamParser {
  private rest = "";
  private type = "";
  private data: string[] = [];

  constructor(private readonly handlers: EventStreamHandlers) {}

  push(text: string): void {
    const lines = (this.rest + text).split(LINE_END);
    this.rest = lines.pop() ?? "";
    for (const line of lines) {
      this.readLine(line);
    }
  }

  private readLine(line: string): void {
    if (line === "") {
      this.dispatch();
      return;
    }

    // A line that starts with a colon is a comment, such as a keep-alive.
    if (line.startsWith(":")) {
      return;
    }

    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const raw = colon < 0 ? "" : line.slice(colon + 1);
    const value = raw.startsWith(" ") ? raw.slice(1) : raw;
    if (field === "event") {
      this.type = value;
    } else if (field === "data") {
      this.data.push(value);
    } else if (field === "retry" && /^\d+$/.test(value)) {
      this.handlers.retry(Number(value));
    }
  }

  // A blank line ends an event; one without data is no event at all.
  private dispatch(): void {
    const { type, data } = this;
    this.type = "";
    this.data = [];
    if (data.length > 0) {
      this.handlers.event(type || "message", data.join("\n"));
    }
  }
}

/**
 * Feed `body` to `parser` until the stream ends. It rejects when the
 * connection breaks, and with an AbortError when the fetch is aborted.
 */
export async function readEventStream(
  body: ReadableStream<Uint8Array>,
  parser: EventStreamParser,
): Promise<void> {
  const reader = body.getReader();
  // `stream: true` keeps a character split across two chunks whole.
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        return;
      }

      parser.push(decoder.decode(value, { stream: true }));
    }
  } finally {
    // Should a handler throw, the connection must not stay open behind it.
    reader.cancel().catch(() => {});
  }
}
