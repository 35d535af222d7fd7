import { TimerClient } from "@timerkernel/client";

/** A client of a server that wants a token, for the billing service. */
export function billingClient(baseUrl: string, token: string): TimerClient {
  return new TimerClient({
    baseUrl, // default http://127.0.0.1:8080
    token, // sent as Authorization: Bearer <token>
    timeoutMs: 10_000, // per attempt; default 30,000
    maxRetries: 5, // retries after the first attempt; default 3
    userAgent: "billing/2.1", // sent before timerkernel-js/0.1.0
  });
}
