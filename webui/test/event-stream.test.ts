import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { EventStreamParser, readEventStream } from "../src/eventStream.js";

interface Parsed {
  events: { type: string; data: string }[];
  retries: number[];
}

function parserInto(parsed: Parsed): EventStreamParser {
  return new EventStreamParser({
    event(type, data) {
      parsed.events.push({ type, data });
    },
    retry(milliseconds) {
      parsed.retries.push(milliseconds);
    },
  });
}

function parse(...chunks: string[]): Parsed {
  const parsed: Parsed = { events: [], retries: [] };
  const parser = parserInto(parsed);
  for (const chunk of chunks) {
    parser.push(chunk);
  }

  return parsed;
}

// The fetch-based reader of the live updates; the browser tests run it
// against the server, these the parts of the format that server never sends.
describe("the event stream parser", () => {
  test("reads what the server sends: retry, ready, keep-alive, a change", () => {
    const parsed = parse(
      "retry: 2000\nevent: ready\ndata: {}\n\n",
      ": keep-alive\n\n",
      'event: created\ndata: {"kind": "created"}\n\n',
    );

    assert.deepEqual(parsed.retries, [2000]);
    assert.deepEqual(parsed.events, [
      { type: "ready", data: "{}" },
      { type: "created", data: '{"kind": "created"}' },
    ]);
  });

  test("joins the data lines of one event with line breaks", () => {
    const parsed = parse("event: note\ndata: one\ndata:two\ndata\ndata:  three\n\n");

    assert.deepEqual(parsed.events, [{ type: "note", data: "one\ntwo\n\n three" }]);
  });

  test("takes any line end, also split between chunks", () => {
    const parsed = parse("data: a\r", "\ndata: b\r\n\r", "\ndata: c\r\rdata: d\n\n");

    assert.deepEqual(parsed.events, [
      { type: "message", data: "a\nb" },
      { type: "message", data: "c" },
      { type: "message", data: "d" },
    ]);
  });

  test("dispatches nothing without data, nor an event the stream cut short", () => {
    const parsed = parse("event: empty\n\n", "retry: soon\n\n", "data: cut");

    assert.deepEqual(parsed, { events: [], retries: [] });
  });

  test("keeps a character whose bytes two chunks share", async () => {
    const bytes = new TextEncoder().encode("data: café\n\n");
    const split = bytes.length - 3;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.slice(0, split));
        controller.enqueue(bytes.slice(split));
        controller.close();
      },
    });
    const parsed: Parsed = { events: [], retries: [] };

    await readEventStream(body, parserInto(parsed));

    assert.deepEqual(parsed.events, [{ type: "message", data: "café" }]);
  });
});
