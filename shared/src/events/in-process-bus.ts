import { encodeEvent } from "./codec.js";
import { createHandlerRegistry, defaultEventLog } from "./handlers.js";
import type { EventBus } from "./types.js";

export interface InProcessEventBusOptions {
  /** Where handler failures and drops are reported (default: one line on stderr). */
  log?: (line: string) => void;
}

/**
 * The default bus: delivers to handlers in this process, synchronously, before `publish`
 * resolves. Events are validated exactly as the NATS bus validates them, so a simulation fails
 * on an oversized or non-JSON event just as a deployment would.
 */
export function createInProcessEventBus(options: InProcessEventBusOptions = {}): EventBus {
  const log = options.log ?? defaultEventLog;
  const handlers = createHandlerRegistry(log);
  let closed = false;

  return {
    async publish(event) {
      encodeEvent(event);
      if (closed) {
        log(`bus is closed; dropped ${event.type} event`);
        return;
      }
      handlers.dispatch(event);
    },
    subscribe(handler, filter) {
      if (closed) {
        log("bus is closed; subscription ignored");
        return () => {};
      }
      return handlers.add(handler, filter);
    },
    async close() {
      closed = true;
      handlers.clear();
    },
  };
}
