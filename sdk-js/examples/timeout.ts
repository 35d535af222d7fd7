import { NotFoundError, type TimerClient } from "@timerkernel/client";

/**
 * Run `work` under a timeout kept by the timer service: if this process
 * dies or hangs, the timer fires and `hookUrl` learns that the job timed
 * out. When the work finishes in time, the timer is deleted.
 */
export async function runWithTimeout<T>(
  client: TimerClient,
  jobId: string,
  hookUrl: string,
  work: () => Promise<T>,
  timeoutSeconds = 15 * 60,
): Promise<T> {
  const id = `job-${jobId}-timeout`;
  await client.createTimer("jobs", {
    id,
    delaySeconds: timeoutSeconds,
    callback: { url: hookUrl },
    payload: { jobId },
  });

  // A failed job keeps its timer: the timeout handler is where it is noticed.
  const result = await work();

  try {
    await client.deleteTimer("jobs", id);
  } catch (error) {
    // Already fired (and purged) or deleted by a retry: nothing left to cancel.
    if (!(error instanceof NotFoundError)) {
      throw error;
    }
  }

  return result;
}
