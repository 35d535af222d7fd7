/** Signatures, callback bodies, reschedule answers and the callback handler. */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";

import {
  createCallbackHandler,
  parseCallback,
  RescheduleAnswer,
  reschedule,
  signCallback,
  type TimerCallback,
  verifySignature,
  WebhookError,
} from "@timerkernel/client";

import { repositoryFile } from "../support/paths.js";

interface Vectors {
  signing: {
    name: string;
    secrets: string[];
    timestamp: number;
    body: string;
    header: string;
  }[];
  verifying: {
    name: string;
    header: string;
    secrets: string[];
    body: string;
    now: number;
    tolerance_seconds: number;
    valid: boolean;
  }[];
}

// The repository's shared vectors, read in place so every SDK checks the same cases.
const vectors = JSON.parse(
  readFileSync(repositoryFile("testdata", "signatures.json"), "utf8"),
) as Vectors;

const SECRET = "whsec_unit";
const BODY = JSON.stringify({
  namespace: "shop",
  id: "cart-1",
  fire_at: "2026-12-03T08:00:00.000Z",
  attempt: 2,
  payload: { cart: 1 },
});

describe("the shared vectors", () => {
  test("there are vectors of both kinds", () => {
    assert.ok(vectors.verifying.length >= 10);
    assert.ok(vectors.signing.length >= 3);
  });

  for (const vector of vectors.verifying) {
    test(`verifying: ${vector.name}`, async () => {
      const valid = await verifySignature(vector.header, vector.body, vector.secrets, {
        toleranceSeconds: vector.tolerance_seconds,
        now: new Date(vector.now * 1000),
      });

      assert.equal(valid, vector.valid);
    });
  }

  for (const vector of vectors.signing) {
    test(`signing: ${vector.name}`, async () => {
      const header = await signCallback(vector.body, vector.secrets, {
        timestamp: new Date(vector.timestamp * 1000),
      });

      assert.equal(header, vector.header);
      assert.ok(
        await verifySignature(
          header,
          new TextEncoder().encode(vector.body),
          vector.secrets,
          {
            now: new Date(vector.timestamp * 1000),
          },
        ),
      );
    });
  }
});

describe("verifySignature", () => {
  const now = new Date("2026-12-03T08:00:00Z");

  test("the body may be a string, bytes or an ArrayBuffer", async () => {
    const header = await signCallback(BODY, SECRET, { timestamp: now });
    const bytes = new TextEncoder().encode(BODY);

    for (const body of [BODY, bytes, bytes.buffer]) {
      assert.equal(await verifySignature(header, body, SECRET, { now }), true);
    }
  });

  test("a secret given as bytes is the same secret", async () => {
    const header = await signCallback(BODY, SECRET, { timestamp: now });

    assert.ok(
      await verifySignature(header, BODY, new TextEncoder().encode(SECRET), { now }),
    );
  });

  test("the default tolerance is five minutes", async () => {
    const header = await signCallback(BODY, SECRET, { timestamp: now });
    const later = (seconds: number) => new Date(now.getTime() + seconds * 1000);

    assert.equal(
      await verifySignature(header, BODY, SECRET, { now: later(300) }),
      true,
    );
    assert.equal(
      await verifySignature(header, BODY, SECRET, { now: later(301) }),
      false,
    );
    assert.equal(
      await verifySignature(header, BODY, SECRET, { now: later(-301) }),
      false,
    );
  });

  test("the clock defaults to now", async () => {
    const header = await signCallback(BODY, SECRET);

    assert.equal(await verifySignature(header, BODY, SECRET), true);
  });

  test("a missing header is invalid", async () => {
    assert.equal(await verifySignature(null, BODY, SECRET), false);
    assert.equal(await verifySignature(undefined, BODY, SECRET), false);
  });

  test("two timestamps are refused", async () => {
    const header = await signCallback(BODY, SECRET, { timestamp: now });

    const doubled = `t=${Math.floor(now.getTime() / 1000)},${header}`;

    assert.equal(await verifySignature(doubled, BODY, SECRET, { now }), false);
  });

  test("an invalid clock is a mistake, not a pass", async () => {
    const header = await signCallback(BODY, SECRET, { timestamp: now });

    await assert.rejects(
      verifySignature(header, BODY, SECRET, { now: new Date("nope") }),
      RangeError,
    );
  });

  test("no secret is a mistake, not an invalid signature", async () => {
    await assert.rejects(verifySignature("t=1,v1=00", BODY, []), TypeError);
    await assert.rejects(verifySignature("t=1,v1=00", BODY, ""), TypeError);
  });
});

describe("parseCallback", () => {
  test("reads the body into the typed callback", () => {
    const callback = parseCallback(BODY);

    assert.deepEqual(callback, {
      namespace: "shop",
      id: "cart-1",
      fireAt: new Date("2026-12-03T08:00:00.000Z"),
      attempt: 2,
      payload: { cart: 1 },
    } satisfies TimerCallback);
  });

  test("reads bytes as UTF-8", () => {
    const text = JSON.stringify({
      namespace: "café",
      id: "réveil-☕",
      fire_at: "2026-01-01T00:00:01Z",
      attempt: 1,
      payload: "naïve",
    });

    const callback = parseCallback(new TextEncoder().encode(text));

    assert.equal(callback.id, "réveil-☕");
    assert.equal(callback.payload, "naïve");
  });

  test("a null payload stays null", () => {
    const callback = parseCallback(
      '{"namespace":"a","id":"b","fire_at":"2026-01-01T00:00:00Z","attempt":1,"payload":null}',
    );

    assert.equal(callback.payload, null);
  });

  const BAD: [string, string | Uint8Array][] = [
    ["not JSON", "{nope"],
    ["not an object", "[1, 2]"],
    ["no namespace", '{"id":"b","fire_at":"2026-01-01T00:00:00Z","attempt":1}'],
    ["no id", '{"namespace":"a","fire_at":"2026-01-01T00:00:00Z","attempt":1}'],
    ["a bad fire_at", '{"namespace":"a","id":"b","fire_at":"soon","attempt":1}'],
    ["no fire_at", '{"namespace":"a","id":"b","attempt":1}'],
    [
      "a fire_at that is not RFC 3339",
      '{"namespace":"a","id":"b","fire_at":"2026","attempt":1}',
    ],
    [
      "attempt 0",
      '{"namespace":"a","id":"b","fire_at":"2026-01-01T00:00:00Z","attempt":0}',
    ],
    [
      "a text attempt",
      '{"namespace":"a","id":"b","fire_at":"2026-01-01T00:00:00Z","attempt":"1"}',
    ],
    ["bytes that are not UTF-8", new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])],
  ];
  for (const [name, body] of BAD) {
    test(`refuses ${name}`, () => {
      assert.throws(() => parseCallback(body), WebhookError);
    });
  }
});

describe("reschedule", () => {
  test("a delay, alone", () => {
    const answer = reschedule({ nextDelaySeconds: 3600 });

    assert.deepEqual(answer.body, { next_delay_seconds: 3600 });
    assert.equal(JSON.stringify(answer), '{"next_delay_seconds":3600}');
  });

  test("a time, with a new payload, callback and retry policy", () => {
    const answer = reschedule({
      nextFireAt: new Date("2026-12-04T10:00:00+02:00"),
      payload: { round: 2 },
      callback: { url: "https://next.example/", timeoutSeconds: 3 },
      retryPolicy: { maxAttempts: 2, backoffCoefficient: 1.5 },
    });

    assert.deepEqual(answer.body, {
      next_fire_at: "2026-12-04T08:00:00.000Z",
      payload: { round: 2 },
      callback: { url: "https://next.example/", timeout_seconds: 3 },
      retry_policy: { max_attempts: 2, backoff_coefficient: 1.5 },
    });
  });

  test("a null payload is sent, to clear it", () => {
    assert.deepEqual(reschedule({ nextDelaySeconds: 0, payload: null }).body, {
      next_delay_seconds: 0,
      payload: null,
    });
  });

  test("its response is a 200 with the JSON", async () => {
    const response = reschedule({ nextDelaySeconds: 5 }).toResponse();

    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "application/json");
    assert.deepEqual(await response.json(), { next_delay_seconds: 5 });
  });

  test("exactly one of the two times", () => {
    assert.throws(() => reschedule({} as never), TypeError);
    assert.throws(
      () => reschedule({ nextDelaySeconds: 1, nextFireAt: new Date() } as never),
      TypeError,
    );
  });

  test("refuses a negative or infinite delay and an invalid Date", () => {
    assert.throws(() => reschedule({ nextDelaySeconds: -1 }), RangeError);
    assert.throws(
      () => reschedule({ nextDelaySeconds: Number.POSITIVE_INFINITY }),
      RangeError,
    );
    assert.throws(() => reschedule({ nextFireAt: new Date("nope") }), RangeError);
  });
});

describe("createCallbackHandler", () => {
  const now = new Date("2026-12-03T08:00:00Z");

  async function signedRequest(body: string, secret = SECRET): Promise<Request> {
    return new Request("http://receiver.test/hooks/timer", {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        "Timer-Signature": await signCallback(body, secret, { timestamp: now }),
      },
      body,
    });
  }

  test("a verified callback that returns nothing is answered 204", async () => {
    const seen: TimerCallback[] = [];
    const handler = createCallbackHandler({
      secret: SECRET,
      now: () => now,
      onCallback: (callback) => {
        seen.push(callback);
      },
    });

    const response = await handler(await signedRequest(BODY));

    assert.equal(response.status, 204);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.id, "cart-1");
    assert.deepEqual(seen[0]?.fireAt, new Date("2026-12-03T08:00:00.000Z"));
  });

  test("a reschedule answer is answered 200 with its JSON", async () => {
    const handler = createCallbackHandler({
      secret: SECRET,
      now: () => now,
      onCallback: async () => reschedule({ nextDelaySeconds: 60, payload: { n: 2 } }),
    });

    const response = await handler(await signedRequest(BODY));

    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), {
      next_delay_seconds: 60,
      payload: { n: 2 },
    });
  });

  test("a Response of its own is passed through", async () => {
    const handler = createCallbackHandler({
      secret: SECRET,
      now: () => now,
      onCallback: () =>
        new Response("busy", { status: 503, headers: { "Retry-After": "9" } }),
    });

    const response = await handler(await signedRequest(BODY));

    assert.equal(response.status, 503);
    assert.equal(response.headers.get("retry-after"), "9");
  });

  test("any of several secrets verifies", async () => {
    const handler = createCallbackHandler({
      secret: ["new-secret", SECRET],
      now: () => now,
      onCallback: () => undefined,
    });

    const response = await handler(await signedRequest(BODY));

    assert.equal(response.status, 204);
  });

  test("a wrong signature is answered 401 and never reaches the callback", async () => {
    let called = false;
    const handler = createCallbackHandler({
      secret: SECRET,
      now: () => now,
      onCallback: () => {
        called = true;
      },
    });

    const response = await handler(await signedRequest(BODY, "another-secret"));

    assert.equal(response.status, 401);
    assert.equal(called, false);
  });

  test("a missing signature is answered 401", async () => {
    const handler = createCallbackHandler({
      secret: SECRET,
      onCallback: () => undefined,
    });

    const response = await handler(
      new Request("http://receiver.test/", { method: "POST", body: BODY }),
    );

    assert.equal(response.status, 401);
  });

  test("a stale signature is answered 401", async () => {
    const handler = createCallbackHandler({
      secret: SECRET,
      now: () => new Date(now.getTime() + 10 * 60_000),
      onCallback: () => undefined,
    });

    const response = await handler(await signedRequest(BODY));

    assert.equal(response.status, 401);
  });

  test("a tolerance of its own", async () => {
    const handler = createCallbackHandler({
      secret: SECRET,
      toleranceSeconds: 900,
      now: () => new Date(now.getTime() + 10 * 60_000),
      onCallback: () => undefined,
    });

    const response = await handler(await signedRequest(BODY));

    assert.equal(response.status, 204);
  });

  test("a signed body that is not a callback is answered 400", async () => {
    const handler = createCallbackHandler({
      secret: SECRET,
      now: () => now,
      onCallback: () => undefined,
    });

    const response = await handler(await signedRequest('{"hello": "world"}'));

    assert.equal(response.status, 400);
    assert.match(await response.text(), /namespace/);
  });

  test("anything but POST is answered 405", async () => {
    const handler = createCallbackHandler({
      secret: SECRET,
      onCallback: () => undefined,
    });

    const response = await handler(new Request("http://receiver.test/"));

    assert.equal(response.status, 405);
    assert.equal(response.headers.get("allow"), "POST");
  });

  test("an error of the callback rejects, for the server in front to answer 500", async () => {
    const handler = createCallbackHandler({
      secret: SECRET,
      now: () => now,
      onCallback: () => {
        throw new Error("database down");
      },
    });

    await assert.rejects(handler(await signedRequest(BODY)), /database down/);
  });

  test("a handler without a secret is refused at once", () => {
    assert.throws(
      () => createCallbackHandler({ secret: [], onCallback: () => undefined }),
      TypeError,
    );
  });

  test("RescheduleAnswer is what reschedule builds", () => {
    assert.ok(reschedule({ nextDelaySeconds: 1 }) instanceof RescheduleAnswer);
  });
});
