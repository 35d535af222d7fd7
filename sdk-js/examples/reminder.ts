import type { Timer, TimerClient } from "@timerkernel/client";

const DAY_SECONDS = 24 * 60 * 60;

/**
 * Remind the customer of a cart in 24 hours. The id names the cart, so a
 * retried or repeated call finds the timer it made instead of a second one.
 */
export async function remindOfCart(
  client: TimerClient,
  cartId: string,
  hookUrl: string,
): Promise<Timer> {
  const { timer } = await client.createTimer("shop", {
    id: `cart-${cartId}-reminder`,
    delaySeconds: DAY_SECONDS,
    callback: { url: hookUrl, timeoutSeconds: 5 },
    payload: { cartId, kind: "reminder" },
    retryPolicy: { maxAttempts: 5, initialIntervalSeconds: 30 },
  });
  return timer;
}
