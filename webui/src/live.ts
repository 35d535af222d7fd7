/** Live changes of one namespace's timers, from the server-sent events. */

import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, eventsUrl, send, type Timer } from "./api";
import { EventStreamParser, readEventStream } from "./eventStream";

export const EVENT_KINDS = [
  "created",
  "updated",
  "deleted",
  "delivered",
  "rescheduled",
  "retrying",
  "failed",
] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

export interface TimerEvent {
  kind: EventKind;
  timer: Timer;
}

/** `refused`: the key does not cover the namespace, so no retry would help. */
export type LiveState = "connecting" | "live" | "reconnecting" | "refused";

export interface LiveHandlers {
  onEvent(event: TimerEvent): void;
  /**
   * The subscription is live: after a reconnect changes may have been
   * missed, so what the view shows must be loaded again.
   */
  onReady(reconnected: boolean): void;
}

// The wait before the next try after an HTTP error, and after a dropped
// stream until the server has said how long to wait in its `retry` field.
const REOPEN_DELAY_MS = 5000;

export function useLiveEvents(namespace: string, handlers: LiveHandlers): LiveState {
  const [state, setState] = useState<LiveState>("connecting");
  const latest = useRef(handlers);
  latest.current = handlers;

  useEffect(() => {
    const stop = new AbortController();
    let reopen: ReturnType<typeof setTimeout> | undefined;
    let readyBefore = false;
    let retryMs: number | undefined;
    setState("connecting");

    const newParser = () =>
      new EventStreamParser({
        event(type, data) {
          if (type === "ready") {
            setState("live");
            latest.current.onReady(readyBefore);
            readyBefore = true;
            return;
          }

          const event = parseEvent(type, data);
          if (event) {
            latest.current.onEvent(event);
          }
        },
        retry(milliseconds) {
          retryMs = milliseconds;
        },
      });

    const open = async () => {
      // An HTTP error waits the longer delay, as EventSource gave up on one.
      let httpError = false;
      try {
        const response = await send(eventsUrl(namespace), {
          headers: { Accept: "text/event-stream" },
          cache: "no-store",
          signal: stop.signal,
        });
        const type = response.headers.get("Content-Type") ?? "";
        if (response.body && type.startsWith("text/event-stream")) {
          await readEventStream(response.body, newParser());
        } else {
          // Not the stream (a proxy's page, say): as bad as an HTTP error.
          await response.body?.cancel();
          httpError = true;
        }
      } catch (error) {
        if (stop.signal.aborted) {
          return;
        }

        // 401 brings the key form; 403 will not change without another key.
        if (error instanceof ApiError && [401, 403].includes(error.status)) {
          setState("refused");
          return;
        }

        // Status 0 is no answer at all, which waits as a dropped stream does.
        httpError = error instanceof ApiError && error.status > 0;
      }

      if (!stop.signal.aborted) {
        setState("reconnecting");
        const delay = httpError ? REOPEN_DELAY_MS : (retryMs ?? REOPEN_DELAY_MS);
        reopen = setTimeout(() => void open(), delay);
      }
    };

    void open();
    return () => {
      clearTimeout(reopen);
      stop.abort();
    };
  }, [namespace]);

  return state;
}

function parseEvent(type: string, data: string): TimerEvent | undefined {
  const kind = EVENT_KINDS.find((known) => known === type);
  if (kind === undefined) {
    return undefined;
  }

  try {
    const parsed = JSON.parse(data) as { timer?: Timer };
    return parsed.timer ? { kind, timer: parsed.timer } : undefined;
  } catch {
    return undefined;
  }
}

/** Call `action` at most once per `delayMs`, after the first request. */
export function useThrottled(action: () => void, delayMs: number): () => void {
  const latest = useRef(action);
  latest.current = action;
  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  useEffect(() => () => clearTimeout(pending.current), []);

  const request = useRef(() => {
    if (pending.current !== undefined) {
      return;
    }

    pending.current = setTimeout(() => {
      pending.current = undefined;
      latest.current();
    }, delayMs);
  });
  return request.current;
}
