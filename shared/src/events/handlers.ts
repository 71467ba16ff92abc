import { errorMessage } from "../errors.js";
import { matchesFilter } from "./event.js";
import type { EventFilter, EventHandler, FlEvent } from "./types.js";

/** Local fan-out shared by both buses: handlers with filters, isolated from each other's errors. */
export interface HandlerRegistry {
  /** Registers a handler (the filter is copied); returns an idempotent remove function. */
  add(handler: EventHandler, filter?: EventFilter): () => void;
  /** Calls every matching handler synchronously; failures are logged, never thrown. */
  dispatch(event: FlEvent): void;
  /** Removes every handler. */
  clear(): void;
  /** Number of registered handlers. */
  readonly size: number;
}

/** Default sink for bus diagnostics: one line on stderr. */
export function defaultEventLog(line: string): void {
  process.stderr.write(`[events] ${line}\n`);
}

export function createHandlerRegistry(log: (line: string) => void): HandlerRegistry {
  // A Set of wrapper objects, so that the same function subscribed twice gets two deliveries
  // and two independent unsubscribe functions.
  const entries = new Set<{ handler: EventHandler; filter: EventFilter | undefined }>();

  const reportFailure = (event: FlEvent, error: unknown) =>
    log(`event handler failed on ${event.type}: ${errorMessage(error)}`);

  return {
    add(handler, filter) {
      // A copy, so that a caller changing its filter later does not change what is delivered.
      const copy: EventFilter | undefined = filter && (filter.types ? { types: filter.types.slice() } : {});
      const entry = { handler, filter: copy };
      entries.add(entry);
      return () => {
        entries.delete(entry);
      };
    },
    dispatch(event) {
      // Snapshot: handlers may subscribe or unsubscribe while being called.
      for (const entry of [...entries]) {
        if (!entries.has(entry) || !matchesFilter(event, entry.filter)) continue;
        try {
          const result: unknown = entry.handler(event);
          if (result instanceof Promise) result.catch((error: unknown) => reportFailure(event, error));
        } catch (error) {
          reportFailure(event, error);
        }
      }
    },
    clear() {
      entries.clear();
    },
    get size() {
      return entries.size;
    },
  };
}
