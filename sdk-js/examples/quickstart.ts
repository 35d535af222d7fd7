import { TimerClient } from "@timerkernel/client";

export async function quickStart(baseUrl = "http://127.0.0.1:8080"): Promise<void> {
  const client = new TimerClient({ baseUrl });

  const { timer } = await client.createTimer("demo", {
    id: "order-1234-reminder",
    delaySeconds: 30,
    callback: { url: "http://127.0.0.1:9000/hooks/reminder" },
    payload: { order: 1234, kind: "reminder" },
  });
  console.log(timer.status, timer.fireAt.toISOString(), timer.version);

  for await (const scheduled of client.iterateTimers("demo", { status: "scheduled" })) {
    console.log(scheduled.id, scheduled.fireAt);
  }
}
