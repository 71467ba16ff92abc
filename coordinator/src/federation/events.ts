import { errorMessage } from "../../../shared/src/errors.js";
import { type MakeEventFields, makeEvent } from "../../../shared/src/events/event.js";
import type { EventBus, FlEventType } from "../../../shared/src/events/types.js";
import type { Clock } from "./clock.js";

/** Publishes the federation's events, stamped by its clock. */
export interface FederationEvents {
  /** Never rejects: an event bus that is down must not stop a round, so failures are logged. */
  publish(type: FlEventType, fields?: MakeEventFields): Promise<void>;
}

export function federationEvents(options: {
  readonly federationId: string;
  readonly bus: EventBus;
  readonly clock: Clock;
  readonly log: (line: string) => void;
}): FederationEvents {
  const { federationId, bus, clock, log } = options;
  return {
    async publish(type, fields = {}) {
      try {
        await bus.publish(makeEvent(type, federationId, fields, () => new Date(clock.now())));
      } catch (error) {
        log(`event ${type} not published: ${errorMessage(error)}`);
      }
    },
  };
}
