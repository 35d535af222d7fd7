/**
 * The errors the client throws.
 *
 * ```text
 * TimerClientError
 * ├── ApiError                  an error answer: status, code, message, details
 * │   ├── InvalidArgumentError      400 invalid_argument (fields)
 * │   ├── UnauthenticatedError      401 unauthenticated
 * │   ├── PermissionDeniedError     403 permission_denied
 * │   ├── NotFoundError             404 not_found
 * │   ├── AlreadyExistsError        409 already_exists (existing)
 * │   ├── PreconditionFailedError   412 precondition_failed
 * │   ├── PayloadTooLargeError      413 payload_too_large
 * │   ├── InternalError             500 internal
 * │   └── UnavailableError          503 unavailable
 * ├── ConnectionError           no answer: refused, reset, DNS, TLS
 * ├── TimeoutError              no answer within the timeout
 * ├── RequestAbortedError       the caller's AbortSignal fired
 * ├── InvalidResponseError      an answer that is not what the contract says
 * └── WebhookError              a callback body that is not a callback
 * ```
 *
 * Mistakes in the arguments of a call (an invalid `Date`, a bad option) are
 * thrown as the built-in `TypeError` or `RangeError`, before any request.
 */

import type { FieldViolation, Timer } from "./models.js";

/** The root of every error this SDK throws for a failed call. */
export class TimerClientError extends Error {
  override name = "TimerClientError";
}

/** The error codes of the contract; servers of later versions may add more. */
export type ErrorCode =
  | "invalid_argument"
  | "unauthenticated"
  | "permission_denied"
  | "not_found"
  | "already_exists"
  | "precondition_failed"
  | "payload_too_large"
  | "unavailable"
  | "internal"
  // Any other code the server sends, kept as it came.
  | (string & {});

/** What an error answer is made of. */
export interface ApiErrorInit {
  status: number;
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
  requestId?: string | undefined;
  headers?: Headers;
  /** For `already_exists`: the stored timer, read from `details.existing`. */
  existing?: Timer | null;
}

/**
 * The server answered with an error status.
 *
 * `message` is the server's own message; `code` is the contract's error
 * code, or, for an answer without the contract's error body (a proxy's
 * page, say), the code that the status stands for, or `"unknown"`.
 */
export class ApiError extends TimerClientError {
  override name = "ApiError";
  /** The HTTP status. */
  readonly status: number;
  readonly code: ErrorCode;
  /** `error.details` of the body; `{}` when there are none. */
  readonly details: Record<string, unknown>;
  /** The answer's `X-Request-Id` (or `Request-Id`) header, when there is one. */
  readonly requestId: string | undefined;
  /** The headers of the answer. */
  readonly headers: Headers;

  constructor(init: ApiErrorInit) {
    super(init.message);
    this.status = init.status;
    this.code = init.code;
    this.details = init.details ?? {};
    this.requestId = init.requestId;
    this.headers = init.headers ?? new Headers();
  }
}

/** 400 `invalid_argument`: the request is malformed; `fields` names each bad field. */
export class InvalidArgumentError extends ApiError {
  override name = "InvalidArgumentError";

  /** Each bad field with its reason, from `details.fields`. */
  get fields(): FieldViolation[] {
    const fields = this.details.fields;
    if (!Array.isArray(fields)) {
      return [];
    }

    return fields.flatMap((entry: unknown) => {
      if (typeof entry !== "object" || entry === null) {
        return [];
      }

      const { field, reason } = entry as Record<string, unknown>;
      return typeof field === "string" && typeof reason === "string"
        ? [{ field, reason }]
        : [];
    });
  }
}

/** 401 `unauthenticated`: the bearer token is missing or wrong. */
export class UnauthenticatedError extends ApiError {
  override name = "UnauthenticatedError";
}

/** 403 `permission_denied`: the token does not cover this namespace. */
export class PermissionDeniedError extends ApiError {
  override name = "PermissionDeniedError";
}

/** 404 `not_found`: no such timer (or route). */
export class NotFoundError extends ApiError {
  override name = "NotFoundError";
}

/** 409 `already_exists`: the id holds a timer with a different definition. */
export class AlreadyExistsError extends ApiError {
  override name = "AlreadyExistsError";
  /** The stored timer, from `details.existing`; `null` if the server sent none. */
  readonly existing: Timer | null;

  constructor(init: ApiErrorInit) {
    super(init);
    this.existing = init.existing ?? null;
  }
}

/** 412 `precondition_failed`: the expected version is not the timer's version. */
export class PreconditionFailedError extends ApiError {
  override name = "PreconditionFailedError";

  /** The version the request expected, from `details.expected_version`. */
  get expectedVersion(): number | null {
    return numberOrNull(this.details.expected_version);
  }

  /** The timer's version when the request was refused, from `details.version`. */
  get currentVersion(): number | null {
    return numberOrNull(this.details.version);
  }
}

/** 413 `payload_too_large`: the body or the payload is over its limit. */
export class PayloadTooLargeError extends ApiError {
  override name = "PayloadTooLargeError";
}

/** 500 `internal`: a bug in the server. */
export class InternalError extends ApiError {
  override name = "InternalError";
}

/** 503 `unavailable`: the server's storage cannot be reached; retried by default. */
export class UnavailableError extends ApiError {
  override name = "UnavailableError";
}

/**
 * The request got no answer: the connection was refused or broke.
 *
 * The request may or may not have reached the server.
 */
export class ConnectionError extends TimerClientError {
  override name = "ConnectionError";
}

/**
 * No answer came within the timeout.
 *
 * Not a `ConnectionError`: the server may still be working on the request.
 */
export class TimeoutError extends TimerClientError {
  override name = "TimeoutError";
  /** The timeout that ran out, in milliseconds. */
  readonly timeoutMs: number;

  constructor(timeoutMs: number, options?: ErrorOptions) {
    super(`no answer within ${timeoutMs} ms`, options);
    this.timeoutMs = timeoutMs;
  }
}

/** The caller's `AbortSignal` fired; `cause` is the signal's reason. */
export class RequestAbortedError extends TimerClientError {
  override name = "RequestAbortedError";
}

/** A success status with a body that the contract does not allow. */
export class InvalidResponseError extends TimerClientError {
  override name = "InvalidResponseError";
}

/** A callback request whose body is not a callback of the contract. */
export class WebhookError extends TimerClientError {
  override name = "WebhookError";
}

type ApiErrorClass = new (init: ApiErrorInit) => ApiError;

const CLASSES: Record<string, ApiErrorClass> = {
  invalid_argument: InvalidArgumentError,
  unauthenticated: UnauthenticatedError,
  permission_denied: PermissionDeniedError,
  not_found: NotFoundError,
  already_exists: AlreadyExistsError,
  precondition_failed: PreconditionFailedError,
  payload_too_large: PayloadTooLargeError,
  unavailable: UnavailableError,
  internal: InternalError,
};

/** The code an error status stands for, for answers without the contract's body. */
export const CODES_BY_STATUS: Readonly<Record<number, ErrorCode>> = {
  400: "invalid_argument",
  401: "unauthenticated",
  403: "permission_denied",
  404: "not_found",
  409: "already_exists",
  412: "precondition_failed",
  413: "payload_too_large",
  500: "internal",
  503: "unavailable",
};

/** Build the error of an error answer, of the class its code names. */
export function createApiError(init: ApiErrorInit): ApiError {
  const Class = Object.hasOwn(CLASSES, init.code) ? CLASSES[init.code] : undefined;
  return new (Class ?? ApiError)(init);
}

function numberOrNull(value: unknown): number | null {
  return typeof value === "number" ? value : null;
}
