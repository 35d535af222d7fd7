import {
  createCallbackHandler,
  reschedule,
  type Timer,
  type TimerClient,
} from "@timerkernel/client";

/** Schedule the first run of the nightly report; the receiver schedules the rest. */
export async function startNightlyReport(
  client: TimerClient,
  hookUrl: string,
  firstRunAt: Date,
): Promise<Timer> {
  const { timer } = await client.createTimer("reports", {
    id: "nightly-report",
    fireAt: firstRunAt,
    callback: { url: hookUrl },
    payload: { run: 1 },
  });
  return timer;
}

/**
 * The receiver of the report's timer: run the report, then answer with the
 * next fire time and the next run's payload. The timer fires again then,
 * with its attempts back at zero; a failed run answers 500 and is retried.
 */
export function nightlyReportHandler(
  secret: string,
  runReport: (run: number) => Promise<void>,
  intervalSeconds = 24 * 60 * 60,
): (request: Request) => Promise<Response> {
  return createCallbackHandler({
    secret,
    onCallback: async (callback) => {
      const { run } = callback.payload as { run: number };
      await runReport(run);
      return reschedule({
        nextFireAt: new Date(callback.fireAt.getTime() + intervalSeconds * 1000),
        payload: { run: run + 1 },
      });
    },
  });
}
