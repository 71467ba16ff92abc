import { errorMessage } from "../errors.js";
import { encodeEvent } from "./codec.js";
import { createHandlerRegistry, defaultEventLog } from "./handlers.js";
import type { EventBus, FlEvent } from "./types.js";

/** Events waiting for the outward bus; beyond this the oldest are dropped (and counted). */
const DEFAULT_QUEUE_LIMIT = 10_000;
const DEFAULT_DRAIN_TIMEOUT_MS = 5_000;

export interface LocalFirstBusOptions {
  /** Where every event is copied after local delivery (the NATS bus). Closed by `close()`. */
  outward: EventBus;
  /** Where dropped copies and handler failures are reported (default: one line on stderr). */
  log?: (line: string) => void;
  /** See {@link DEFAULT_QUEUE_LIMIT}. */
  queueLimit?: number;
  /** `close()` waits this long for queued copies before closing the outward bus. */
  drainTimeoutMs?: number;
}

/**
 * The coordinator's bus when an outward bus (NATS) is configured. Its own bookkeeping (report
 * files, progress, the completion `fl simulate` waits for) subscribes here and is fed in this
 * process, synchronously, before `publish` resolves, as on the in-process bus; every event is
 * then copied to the outward bus in publish order without waiting for it. A broker that is slow
 * or gone therefore delays or loses only the copy, never a report or the end of the federation.
 * Subscribers see only this process's events (nothing is echoed back through the broker).
 */
export function createLocalFirstBus(options: LocalFirstBusOptions): EventBus {
  const { outward } = options;
  const log = options.log ?? defaultEventLog;
  const queueLimit = options.queueLimit ?? DEFAULT_QUEUE_LIMIT;
  const drainTimeoutMs = options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
  const handlers = createHandlerRegistry(log);
  const queue: FlEvent[] = [];
  let dropped = 0;
  let pumping: Promise<void> | undefined;
  let closed = false;

  // One copy in flight at a time, so the outward log keeps the order the federation published.
  const pump = async () => {
    for (let next = queue.shift(); next !== undefined && !closed; next = queue.shift()) {
      try {
        await outward.publish(next);
      } catch (error) {
        log(`${next.type} event not copied to the event bus: ${errorMessage(error)}`);
      }
    }
    if (dropped > 0 && queue.length === 0) {
      log(`${dropped} events were not copied to the event bus while it lagged (queue limit ${queueLimit})`);
      dropped = 0;
    }
  };

  const startPump = () => {
    pumping ??= pump().finally(() => {
      pumping = undefined;
      if (queue.length > 0 && !closed) startPump();
    });
  };

  return {
    async publish(event) {
      encodeEvent(event);
      if (closed) {
        log(`bus is closed; dropped ${event.type} event`);
        return;
      }
      handlers.dispatch(event);
      queue.push(event);
      if (queue.length > queueLimit) {
        queue.shift();
        dropped += 1;
        if (dropped === 1)
          log(
            `the event bus lags ${queueLimit} events behind: dropping the oldest copies until it catches up`,
          );
      }
      startPump();
    },
    subscribe(handler, filter) {
      if (closed) {
        log("bus is closed; subscription ignored");
        return () => {};
      }
      return handlers.add(handler, filter);
    },
    async close() {
      if (closed) return;
      handlers.clear();
      if (pumping !== undefined) {
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, drainTimeoutMs);
        });
        await Promise.race([pumping, deadline]);
        clearTimeout(timer);
      }
      closed = true;
      if (queue.length > 0) log(`closing with ${queue.length} events not copied to the event bus`);
      queue.length = 0;
      await outward.close();
    },
  };
}
