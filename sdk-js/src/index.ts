/**
 * The TypeScript and JavaScript client of the timer service.
 *
 * `TimerClient` wraps the REST API; `createCallbackHandler`,
 * `verifySignature`, `parseCallback` and `reschedule` serve the endpoint
 * that timers call.
 */

export {
  type ConditionalRequestOptions,
  DEFAULT_BASE_URL,
  DEFAULT_MAX_RETRIES,
  DEFAULT_RETRY_INITIAL_DELAY_MS,
  DEFAULT_RETRY_MAX_DELAY_MS,
  DEFAULT_TIMEOUT_MS,
  type FetchLike,
  type RequestOptions,
  TimerClient,
  type TimerClientOptions,
} from "./client.js";
export {
  AlreadyExistsError,
  ApiError,
  type ApiErrorInit,
  ConnectionError,
  type ErrorCode,
  InternalError,
  InvalidArgumentError,
  InvalidResponseError,
  NotFoundError,
  PayloadTooLargeError,
  PermissionDeniedError,
  PreconditionFailedError,
  RequestAbortedError,
  TimeoutError,
  TimerClientError,
  UnauthenticatedError,
  UnavailableError,
  WebhookError,
} from "./errors.js";
export type {
  Attempt,
  AttemptList,
  AttemptOutcome,
  BatchCreateItem,
  BatchCreateResult,
  Callback,
  CallbackInput,
  CreateTimerRequest,
  CreateTimerResult,
  ErrorKind,
  FieldViolation,
  LastError,
  ListTimersParams,
  Namespace,
  NamespaceCounts,
  NamespaceList,
  RetryPolicy,
  RetryPolicyInput,
  Timer,
  TimerFilters,
  TimerPage,
  TimerStatus,
  UpdateTimerRequest,
} from "./models.js";
export {
  DEFAULT_MAX_BODY_BYTES,
  type NodeHandlerOptions,
  type NodeRequestLike,
  type NodeResponseLike,
  toNodeHandler,
} from "./node.js";
export { SDK_NAME, VERSION } from "./version.js";
export {
  type CallbackHandlerOptions,
  type CallbackResult,
  createCallbackHandler,
  DEFAULT_TOLERANCE_SECONDS,
  parseCallback,
  type RawBody,
  RescheduleAnswer,
  type RescheduleChanges,
  type RescheduleOptions,
  reschedule,
  type Secret,
  type Secrets,
  SIGNATURE_HEADER,
  signCallback,
  type TimerCallback,
  type VerifyOptions,
  verifySignature,
} from "./webhooks.js";
