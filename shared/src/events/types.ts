/**
 * The event-bus contract: what the coordinator announces (rounds, clients, updates, evaluations)
 * and how observers (CLI watchers, dashboards, audit logs) receive it. Events are small JSON
 * documents; weights never travel on the bus.
 */

/** Every event kind, in lifecycle order. Subjects and filters use these names verbatim. */
export const EVENT_TYPES = [
  "federation.started",
  "federation.completed",
  "site.joined",
  "site.left",
  "site.enrolled",
  "site.revoked",
  "round.started",
  "round.completed",
  "round.failed",
  "update.accepted",
  "update.rejected",
  "evaluation.completed",
] as const;

export type FlEventType = (typeof EVENT_TYPES)[number];

export interface FlEvent {
  /** What happened. */
  readonly type: FlEventType;
  /** The federation (run) the event belongs to; a single NATS subject token (no dots, spaces, `*`, `>`). */
  readonly federationId: string;
  /** When it happened, ISO 8601 in UTC (`Date.prototype.toISOString`). */
  readonly timestamp: string;
  /** Round number (non-negative integer) for round-scoped events. */
  readonly round?: number;
  /** Hospital site id for client- and update-scoped events. */
  readonly siteId?: string;
  /**
   * Small, JSON-serialisable details: ids, counts, metrics, reason codes. Never weights, keys,
   * tokens or anything secret: the bus may be an audit log that outlives the run. Encoded events
   * are limited to {@link MAX_EVENT_BYTES}.
   */
  readonly data: Readonly<Record<string, unknown>>;
}

/** Narrows a subscription; an absent or empty `types` list means every type. */
export interface EventFilter {
  /** Only these event types reach the handler. */
  readonly types?: readonly FlEventType[];
}

/**
 * Receives events. It runs on the bus's delivery path, so it should be quick; an exception (or
 * a rejected promise from an async handler) is caught and logged and never reaches the publisher.
 */
export type EventHandler = (event: FlEvent) => void;

export interface EventBus {
  /**
   * Delivers `event` to subscribers (in-process) or sends it to the broker (NATS).
   *
   * Never rejects for a transport hiccup: an event that cannot be sent is logged and dropped
   * (or, with JetStream while disconnected, queued and sent on reconnect), so a round is never
   * lost because the bus is down. It does reject, with an `FlError`, for an event that breaks
   * this contract (unknown type, bad round, data that is not JSON or too large, wrong
   * federation): those are bugs in the caller. Publishing after `close()` logs and drops.
   */
  publish(event: FlEvent): Promise<void>;
  /**
   * Registers `handler` for events matching `filter`; returns a function that unsubscribes it
   * (idempotent). On the NATS bus, handlers also see events published by other processes
   * (and by this bus, echoed through the server).
   */
  subscribe(handler: EventHandler, filter?: EventFilter): () => void;
  /** Stops delivery and releases the transport (NATS: drains). Idempotent. */
  close(): Promise<void>;
}
