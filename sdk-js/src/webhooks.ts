/**
 * Helpers for the endpoint that receives callbacks.
 *
 * They use only Web APIs (`crypto.subtle`, `Request`, `Response`,
 * `TextEncoder`), so they run in browsers, service workers, edge runtimes
 * and Node.js alike. On Node.js 18, where `crypto` is not a global, pass
 * `subtle: (await import("node:crypto")).webcrypto.subtle`.
 */

import { readTime, writeCallback, writeRetryPolicy, writeTime } from "./_wire.js";
import { WebhookError } from "./errors.js";
import type { CallbackInput, RetryPolicyInput } from "./models.js";

/** The header that carries the signature of a callback. */
export const SIGNATURE_HEADER = "Timer-Signature";
/** How far the signing time may be from the receiver's clock, either way. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

/** A signing secret: text (taken as UTF-8) or bytes. */
export type Secret = string | Uint8Array;
/** One secret, or several while one replaces another. */
export type Secrets = Secret | readonly Secret[];
/** A body as received: text or its raw bytes. */
export type RawBody = string | Uint8Array | ArrayBuffer;

/** How a signature is checked. */
export interface VerifyOptions {
  /** Default 300 seconds. */
  toleranceSeconds?: number;
  /** The receiver's clock. Default: now. */
  now?: Date;
  /** Web Crypto's `SubtleCrypto`. Default: `globalThis.crypto.subtle`. */
  subtle?: SubtleCrypto;
}

/** The body of a callback request. */
export interface TimerCallback {
  namespace: string;
  id: string;
  /** The fire time this delivery is for: with namespace and id, the dedup key. */
  fireAt: Date;
  /** 1-based attempt number. */
  attempt: number;
  payload: unknown;
}

const encoder = new TextEncoder();

/**
 * Whether `header` is a valid `Timer-Signature` of `body`.
 *
 * The header is `t=<unix seconds>,v1=<hex>[,v1=<hex>...]`; it is valid when
 * `t` is within the tolerance of `now` and any `v1` is the HMAC-SHA256 of
 * `"<t>." + body` under any of the secrets. Signatures are compared in
 * constant time. `body` must be the raw body as received: parsing and
 * re-serializing JSON changes the bytes.
 */
export async function verifySignature(
  header: string | null | undefined,
  body: RawBody,
  secrets: Secrets,
  options: VerifyOptions = {},
): Promise<boolean> {
  const keys = secretList(secrets);
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (!Number.isFinite(tolerance) || tolerance < 0) {
    throw new RangeError(`toleranceSeconds must be a number >= 0, not ${tolerance}`);
  }

  const parsed = parseSignatureHeader(header ?? "");
  if (parsed === null) {
    return false;
  }

  const nowMs = (options.now ?? new Date()).getTime();
  if (Number.isNaN(nowMs)) {
    // NaN would pass the tolerance check below, which compares with ">".
    throw new RangeError("now is an invalid Date");
  }

  if (Math.abs(nowMs - parsed.timestamp * 1000) > tolerance * 1000) {
    return false;
  }

  const subtle = subtleCrypto(options.subtle);
  const signed = signedBytes(parsed.timestampText, body);
  for (const key of keys) {
    const expected = await hmacSha256(subtle, key, signed);
    for (const candidate of parsed.signatures) {
      if (constantTimeEqual(expected, candidate)) {
        return true;
      }
    }
  }

  return false;
}

/**
 * The `Timer-Signature` header the service sends for `body`: one `v1` per
 * secret, in order. For testing a receiver.
 */
export async function signCallback(
  body: RawBody,
  secrets: Secrets,
  options: { timestamp?: Date; subtle?: SubtleCrypto } = {},
): Promise<string> {
  const keys = secretList(secrets);
  const at = options.timestamp ?? new Date();
  writeTime(at, "timestamp");
  const timestamp = Math.floor(at.getTime() / 1000);
  const subtle = subtleCrypto(options.subtle);
  const signed = signedBytes(String(timestamp), body);
  const parts = [`t=${timestamp}`];
  for (const key of keys) {
    parts.push(`v1=${toHex(await hmacSha256(subtle, key, signed))}`);
  }

  return parts.join(",");
}

/**
 * Read a callback body into its typed form.
 *
 * @throws WebhookError if the body is not a callback of the contract.
 */
export function parseCallback(body: RawBody): TimerCallback {
  let text: string;
  try {
    text =
      typeof body === "string"
        ? body
        : new TextDecoder("utf-8", { fatal: true }).decode(body);
  } catch {
    throw new WebhookError("the callback body is not UTF-8 text");
  }

  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new WebhookError("the callback body is not JSON");
  }

  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new WebhookError("the callback body is not a JSON object");
  }

  const {
    namespace,
    id,
    fire_at: fireAt,
    attempt,
    payload,
  } = data as Record<string, unknown>;
  if (typeof namespace !== "string" || namespace === "") {
    throw new WebhookError("the callback body has no namespace");
  }

  if (typeof id !== "string" || id === "") {
    throw new WebhookError("the callback body has no id");
  }

  const fireTime = typeof fireAt === "string" ? readTime(fireAt) : null;
  if (fireTime === null) {
    throw new WebhookError("the callback body has no fire_at time");
  }

  if (typeof attempt !== "number" || !Number.isSafeInteger(attempt) || attempt < 1) {
    throw new WebhookError("the callback body has no attempt number");
  }

  return { namespace, id, fireAt: fireTime, attempt, payload: payload ?? null };
}

/** What a reschedule answer may change besides the fire time. */
export interface RescheduleChanges {
  /** Replaces the timer's payload for the next firing. */
  payload?: unknown;
  /** Replaces the timer's callback whole. */
  callback?: CallbackInput;
  /** Replaces the timer's retry policy whole. */
  retryPolicy?: RetryPolicyInput;
}

/** When the timer is to fire next: give either `nextFireAt` or `nextDelaySeconds`. */
export type RescheduleOptions = RescheduleChanges &
  (
    | { nextFireAt: Date; nextDelaySeconds?: undefined }
    | { nextDelaySeconds: number; nextFireAt?: undefined }
  );

/**
 * The answer of a callback that asks for the timer to fire again.
 *
 * `body` is the JSON the service reads; `toResponse()` makes the `200`
 * answer of it, and `JSON.stringify` gives its text.
 */
export class RescheduleAnswer {
  /** The answer in the wire's snake_case names, as the service reads it. */
  readonly body: Readonly<Record<string, unknown>>;

  /** Use `reschedule()`, which checks what it is given, to build one. */
  constructor(body: Record<string, unknown>) {
    this.body = Object.freeze({ ...body });
  }

  /** What `JSON.stringify` writes: the body. */
  toJSON(): Record<string, unknown> {
    return { ...this.body };
  }

  /** The `200` answer with the body as JSON. */
  toResponse(): Response {
    return new Response(JSON.stringify(this.body), {
      status: 200,
      headers: { "Content-Type": "application/json" },
    });
  }
}

/**
 * Build the answer that reschedules the timer: it fires again at
 * `nextFireAt` or after `nextDelaySeconds`, with `attempts` back at 0.
 */
export function reschedule(options: RescheduleOptions): RescheduleAnswer {
  const body: Record<string, unknown> = {};
  if (options.nextFireAt !== undefined && options.nextDelaySeconds !== undefined) {
    throw new TypeError("give nextFireAt or nextDelaySeconds, not both");
  }

  if (options.nextFireAt !== undefined) {
    body.next_fire_at = writeTime(options.nextFireAt, "nextFireAt");
  } else if (options.nextDelaySeconds !== undefined) {
    const delay = options.nextDelaySeconds;
    if (typeof delay !== "number" || !Number.isFinite(delay) || delay < 0) {
      throw new RangeError(`nextDelaySeconds must be a number >= 0, not ${delay}`);
    }

    body.next_delay_seconds = delay;
  } else {
    throw new TypeError("give nextFireAt or nextDelaySeconds");
  }

  if (options.payload !== undefined) {
    body.payload = options.payload;
  }

  if (options.callback !== undefined) {
    body.callback = writeCallback(options.callback);
  }

  if (options.retryPolicy !== undefined) {
    body.retry_policy = writeRetryPolicy(options.retryPolicy);
  }

  return new RescheduleAnswer(body);
}

/**
 * What a callback function returns: a reschedule answer, a `Response` of
 * its own, or nothing for a plain "delivered".
 */
export type CallbackResult = RescheduleAnswer | Response | undefined;

/** How a callback handler checks and answers requests. */
export interface CallbackHandlerOptions {
  /** The signing secret(s) the server was started with. */
  secret: Secrets;
  /** Default 300 seconds. */
  toleranceSeconds?: number;
  /** The receiver's clock. Default: `() => new Date()`. */
  now?: () => Date;
  /** Web Crypto's `SubtleCrypto`. Default: `globalThis.crypto.subtle`. */
  subtle?: SubtleCrypto;
  /**
   * Called with each verified callback and its request (whose body has
   * been read); what it returns is the answer.
   */
  onCallback: (
    callback: TimerCallback,
    request: Request,
  ) => CallbackResult | Promise<CallbackResult> | Promise<void>;
}

/**
 * A handler of callback requests for any server that speaks Web `Request`
 * and `Response` (`toNodeHandler` adapts it to Node's `http`).
 *
 * It answers `405` to anything but `POST`, `401` when the signature is
 * missing or invalid, `400` when the body is not a callback, and otherwise
 * what `onCallback` returns: `204` for nothing, `200` with the JSON of a
 * `RescheduleAnswer`, or its own `Response`. Any answer but a `2xx` makes
 * the service retry the delivery. An error thrown by `onCallback` rejects
 * the returned promise, so that the server in front logs it and answers
 * `500`, which the service also retries.
 */
export function createCallbackHandler(
  options: CallbackHandlerOptions,
): (request: Request) => Promise<Response> {
  secretList(options.secret);
  const now = options.now ?? (() => new Date());

  return async (request: Request): Promise<Response> => {
    if (request.method !== "POST") {
      return plain(405, "only POST is accepted", { Allow: "POST" });
    }

    const body = new Uint8Array(await request.arrayBuffer());
    const valid = await verifySignature(
      request.headers.get(SIGNATURE_HEADER),
      body,
      options.secret,
      {
        now: now(),
        toleranceSeconds: options.toleranceSeconds,
        subtle: options.subtle,
      },
    );
    if (!valid) {
      return plain(401, "missing or invalid Timer-Signature");
    }

    let callback: TimerCallback;
    try {
      callback = parseCallback(body);
    } catch (error) {
      if (error instanceof WebhookError) {
        return plain(400, error.message);
      }

      throw error;
    }

    const result = await options.onCallback(callback, request);
    if (result instanceof RescheduleAnswer) {
      return result.toResponse();
    }

    if (result instanceof Response) {
      return result;
    }

    return new Response(null, { status: 204 });
  };
}

function plain(
  status: number,
  text: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(text, {
    status,
    headers: { "Content-Type": "text/plain; charset=utf-8", ...headers },
  });
}

// -- signature plumbing -------------------------------------------------

interface ParsedSignature {
  timestamp: number;
  /** The timestamp as it was written: the signed bytes hold this text. */
  timestampText: string;
  signatures: Uint8Array[];
}

function parseSignatureHeader(header: string): ParsedSignature | null {
  let timestampText: string | undefined;
  const signatures: Uint8Array[] = [];
  for (const part of header.split(",")) {
    const separator = part.indexOf("=");
    if (separator < 0) {
      continue;
    }

    const key = part.slice(0, separator).trim();
    const value = part.slice(separator + 1).trim();
    if (key === "t") {
      if (timestampText !== undefined) {
        // Two timestamps leave it open which one was signed.
        return null;
      }

      timestampText = value;
    } else if (key === "v1") {
      const bytes = fromHex(value);
      if (bytes !== null) {
        signatures.push(bytes);
      }
    }
  }

  if (timestampText === undefined || !/^\d{1,15}$/.test(timestampText)) {
    return null;
  }

  if (signatures.length === 0) {
    return null;
  }

  return { timestamp: Number(timestampText), timestampText, signatures };
}

function secretList(secrets: Secrets): Uint8Array[] {
  const list =
    typeof secrets === "string" || secrets instanceof Uint8Array ? [secrets] : secrets;
  if (!Array.isArray(list) || list.length === 0) {
    throw new TypeError("give at least one signing secret");
  }

  return list.map((secret: Secret) => {
    const key = typeof secret === "string" ? encoder.encode(secret) : secret;
    if (!(key instanceof Uint8Array) || key.length === 0) {
      throw new TypeError("a signing secret must be a non-empty string or Uint8Array");
    }

    return key;
  });
}

function subtleCrypto(given: SubtleCrypto | undefined): SubtleCrypto {
  const subtle = given ?? globalThis.crypto?.subtle;
  if (subtle === undefined) {
    throw new TypeError(
      "Web Crypto is not available: pass the subtle option (on Node.js 18, " +
        'subtle: (await import("node:crypto")).webcrypto.subtle)',
    );
  }

  return subtle;
}

function signedBytes(timestampText: string, body: RawBody): Uint8Array {
  const prefix = encoder.encode(`${timestampText}.`);
  const bytes =
    typeof body === "string"
      ? encoder.encode(body)
      : body instanceof Uint8Array
        ? body
        : new Uint8Array(body);
  const signed = new Uint8Array(prefix.length + bytes.length);
  signed.set(prefix, 0);
  signed.set(bytes, prefix.length);
  return signed;
}

async function hmacSha256(
  subtle: SubtleCrypto,
  secret: Uint8Array,
  data: Uint8Array,
): Promise<Uint8Array> {
  const key = await subtle.importKey(
    "raw",
    secret as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(
    await subtle.sign("HMAC", key, data as Uint8Array<ArrayBuffer>),
  );
}

/** Compare without an early return: the time taken tells nothing of the match. */
function constantTimeEqual(left: Uint8Array, right: Uint8Array): boolean {
  if (left.length !== right.length) {
    return false;
  }

  let difference = 0;
  for (let index = 0; index < left.length; index++) {
    difference |= (left[index] as number) ^ (right[index] as number);
  }

  return difference === 0;
}

function fromHex(text: string): Uint8Array | null {
  if (!/^[0-9a-fA-F]{64}$/.test(text)) {
    return null;
  }

  const bytes = new Uint8Array(32);
  for (let index = 0; index < 32; index++) {
    bytes[index] = Number.parseInt(text.slice(index * 2, index * 2 + 2), 16);
  }

  return bytes;
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
