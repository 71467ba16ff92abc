import { ErrorCode, errorMessage, FlError } from "../errors.js";
import { isFlEventType } from "./event.js";
import type { FlEvent } from "./types.js";

/**
 * Upper bound of an encoded event. NATS allows 1 MiB by default, but events are meant to be
 * small (ids, counts, metrics); anything near this size is a bug such as weights in `data`.
 */
export const MAX_EVENT_BYTES = 64 * 1024;

const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** What is wrong with `value` as an event, or undefined when it is a well-formed event. */
function eventProblem(value: unknown): string | undefined {
  if (!isPlainObject(value)) return "is not a JSON object";
  if (!isFlEventType(value.type)) return `has unknown type ${JSON.stringify(value.type)}`;
  if (typeof value.federationId !== "string" || value.federationId.length === 0) {
    return "has no federationId";
  }
  if (
    typeof value.timestamp !== "string" ||
    !ISO_TIMESTAMP.test(value.timestamp) ||
    !Number.isFinite(Date.parse(value.timestamp))
  ) {
    return `has a timestamp that is not ISO 8601: ${JSON.stringify(value.timestamp)}`;
  }
  if (value.round !== undefined && !(Number.isSafeInteger(value.round) && (value.round as number) >= 0)) {
    return `has a round that is not a non-negative integer: ${JSON.stringify(value.round)}`;
  }
  if (value.siteId !== undefined && (typeof value.siteId !== "string" || value.siteId.length === 0)) {
    return "has a siteId that is not a non-empty string";
  }
  if (!isPlainObject(value.data)) return "has data that is not an object";
  return undefined;
}

/**
 * Serialises an event to UTF-8 JSON. Throws `FlError(InvalidArgument)` for a malformed event or
 * data that JSON cannot represent (BigInt, cycles), and `FlError(TooLarge)` above
 * {@link MAX_EVENT_BYTES}.
 */
export function encodeEvent(event: FlEvent): Uint8Array {
  const problem = eventProblem(event);
  if (problem !== undefined) {
    throw new FlError(ErrorCode.InvalidArgument, `cannot publish event: it ${problem}`);
  }
  let json: string;
  try {
    json = JSON.stringify({
      type: event.type,
      federationId: event.federationId,
      timestamp: event.timestamp,
      round: event.round,
      siteId: event.siteId,
      data: event.data,
    });
  } catch (error) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `cannot publish ${event.type} event: data is not JSON-serialisable (${errorMessage(error)})`,
      { cause: error },
    );
  }
  const bytes = new TextEncoder().encode(json);
  if (bytes.byteLength > MAX_EVENT_BYTES) {
    throw new FlError(
      ErrorCode.TooLarge,
      `${event.type} event is ${bytes.byteLength} bytes, above the ${MAX_EVENT_BYTES}-byte limit; ` +
        "keep event data to ids, counts and metrics (weights travel over gRPC)",
    );
  }
  return bytes;
}

export type DecodeEventResult = { ok: true; event: FlEvent } | { ok: false; reason: string };

/**
 * Parses and validates an encoded event from an untrusted source. Unknown top-level fields are
 * dropped; the result is frozen. Never throws.
 */
export function decodeEvent(bytes: Uint8Array): DecodeEventResult {
  if (bytes.byteLength > MAX_EVENT_BYTES) {
    return { ok: false, reason: `payload is ${bytes.byteLength} bytes, above ${MAX_EVENT_BYTES}` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    return { ok: false, reason: `payload is not UTF-8 JSON (${errorMessage(error)})` };
  }
  const problem = eventProblem(parsed);
  if (problem !== undefined) return { ok: false, reason: `payload ${problem}` };
  const value = parsed as Record<string, unknown> & FlEvent;
  const event: { -readonly [K in keyof FlEvent]: FlEvent[K] } = {
    type: value.type,
    federationId: value.federationId,
    timestamp: value.timestamp,
    data: Object.freeze({ ...value.data }),
  };
  if (value.round !== undefined) event.round = value.round;
  if (value.siteId !== undefined) event.siteId = value.siteId;
  return { ok: true, event: Object.freeze(event) };
}
