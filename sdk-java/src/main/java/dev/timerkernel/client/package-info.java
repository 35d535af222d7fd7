/**
 * The Java client of the timer service: {@link dev.timerkernel.client.TimerClient} for the
 * REST API, and {@link dev.timerkernel.client.WebhookVerifier}, {@link
 * dev.timerkernel.client.CallbackDelivery}, {@link dev.timerkernel.client.RescheduleAnswer}
 * and {@link dev.timerkernel.client.WebhookHandler} for the receivers of deliveries.
 *
 * <p>Every exception is unchecked and rooted at {@link
 * dev.timerkernel.client.TimerKernelException}:
 *
 * <pre>
 * TimerKernelException
 * ├── ApiException                   the server answered an error: status, code, message, details, request id
 * │   ├── InvalidArgumentException     400 invalid_argument (fieldViolations)
 * │   ├── UnauthenticatedException     401 unauthenticated
 * │   ├── PermissionDeniedException    403 permission_denied
 * │   ├── NotFoundException            404 not_found
 * │   ├── AlreadyExistsException       409 already_exists (existing)
 * │   ├── PreconditionFailedException  412 precondition_failed
 * │   ├── PayloadTooLargeException     413 payload_too_large
 * │   ├── InternalException            500 internal
 * │   └── UnavailableException         503 unavailable (retryAfter)
 * ├── ConnectionException            the server could not be reached, or the connection broke
 * ├── RequestTimeoutException        no answer within the timeout
 * └── WebhookException               a callback request that is not a delivery
 *     └── WebhookSignatureException    its signature is refused
 * </pre>
 */
package dev.timerkernel.client;
