import { createServer, type Server } from "node:http";

import {
  createCallbackHandler,
  type TimerCallback,
  toNodeHandler,
} from "@timerkernel/client";

/**
 * An endpoint on Node's http server that takes only callbacks signed with
 * `secret` (requests with a missing, wrong or stale signature get 401).
 * Deliveries are at least once, so a repeat of the same namespace, id and
 * fire time is acknowledged without running `onTimer` again.
 */
export function startReceiver(
  port: number,
  secret: string,
  onTimer: (callback: TimerCallback) => Promise<void>,
): Server {
  // In production, a unique key in the application's database does this.
  const done = new Set<string>();

  const handler = createCallbackHandler({
    secret,
    onCallback: async (callback) => {
      const key = `${callback.namespace}/${callback.id}/${callback.fireAt.toISOString()}`;
      if (!done.has(key)) {
        await onTimer(callback);
        done.add(key);
      }
    },
  });

  return createServer(toNodeHandler(handler)).listen(port, "127.0.0.1");
}
