import {
  AlreadyExistsError,
  type CreateTimerRequest,
  InvalidArgumentError,
  type Timer,
  type TimerClient,
} from "@timerkernel/client";

/**
 * Create a timer, or say why the server refused it when the caller can
 * act on the reason. Other errors (the server unreachable, say) are thrown.
 */
export async function createOrExplain(
  client: TimerClient,
  namespace: string,
  request: CreateTimerRequest,
): Promise<Timer | string> {
  try {
    const { timer } = await client.createTimer(namespace, request);
    return timer;
  } catch (error) {
    if (error instanceof AlreadyExistsError) {
      const fireAt = error.existing?.fireAt.toISOString();
      return `${request.id} already holds another timer, due at ${fireAt}`;
    }

    if (error instanceof InvalidArgumentError) {
      // One entry per bad field: { field: "callback.timeout_seconds", reason }.
      return error.fields.map(({ field, reason }) => `${field}: ${reason}`).join("; ");
    }

    throw error;
  }
}
