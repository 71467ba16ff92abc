import { ErrorCode, FlError } from "../errors.js";
import { EVENT_TYPES, type EventFilter, type FlEvent, type FlEventType } from "./types.js";

const EVENT_TYPE_SET: ReadonlySet<string> = new Set(EVENT_TYPES);

/** True for exactly the names in {@link EVENT_TYPES}. */
export function isFlEventType(value: unknown): value is FlEventType {
  return typeof value === "string" && EVENT_TYPE_SET.has(value);
}

/** Optional parts of an event; everything else is filled in by {@link makeEvent}. */
export interface MakeEventFields {
  /** Round number; must be a non-negative integer. */
  round?: number;
  /** Hospital site id; must be non-empty. */
  siteId?: string;
  /** Small JSON-serialisable details (copied, then frozen). */
  data?: Record<string, unknown>;
}

/**
 * Builds a frozen event stamped with `now()` (injectable for tests). Throws
 * `FlError(InvalidArgument)` for an unknown type, an empty federation id, a round that is not a
 * non-negative integer or an empty site id.
 */
export function makeEvent(
  type: FlEventType,
  federationId: string,
  fields: MakeEventFields = {},
  now: () => Date = () => new Date(),
): FlEvent {
  if (!isFlEventType(type)) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `unknown event type "${String(type)}"; use one of ${EVENT_TYPES.join(", ")}`,
    );
  }
  if (typeof federationId !== "string" || federationId.length === 0) {
    throw new FlError(ErrorCode.InvalidArgument, "an event needs a non-empty federationId");
  }
  const { round, siteId, data } = fields;
  if (round !== undefined && !(Number.isSafeInteger(round) && round >= 0)) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `event round must be a non-negative integer, got ${String(round)}`,
    );
  }
  if (siteId !== undefined && (typeof siteId !== "string" || siteId.length === 0)) {
    throw new FlError(ErrorCode.InvalidArgument, "event siteId must be a non-empty string when given");
  }
  const event: { -readonly [K in keyof FlEvent]: FlEvent[K] } = {
    type,
    federationId,
    timestamp: now().toISOString(),
    data: Object.freeze({ ...(data ?? {}) }),
  };
  if (round !== undefined) event.round = round;
  if (siteId !== undefined) event.siteId = siteId;
  return Object.freeze(event);
}

/** True when `event` passes `filter` (no filter, or no types listed, passes everything). */
export function matchesFilter(event: FlEvent, filter: EventFilter | undefined): boolean {
  const types = filter?.types;
  if (types === undefined || types.length === 0) return true;
  return types.includes(event.type);
}
