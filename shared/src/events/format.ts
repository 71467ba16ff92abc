import type { FlEvent } from "./types.js";

function formatValue(value: unknown): string {
  if (typeof value === "number")
    return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(4)));
  if (typeof value === "string") return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
}

/**
 * One human-readable line per event, for terminals and logs:
 * `2024-05-01T10:00:00.000Z round.completed round=3 site=st-marys accepted=2 loss=0.4123`.
 * Data keys keep their order; non-integers are shown with 4 significant digits.
 */
export function formatEventLine(event: FlEvent): string {
  const parts = [event.timestamp, event.type];
  if (event.round !== undefined) parts.push(`round=${event.round}`);
  if (event.siteId !== undefined) parts.push(`site=${formatValue(event.siteId)}`);
  for (const [key, value] of Object.entries(event.data)) parts.push(`${key}=${formatValue(value)}`);
  return parts.join(" ");
}

/** One JSON line per event (no trailing newline), for `jq` and log shippers. */
export function formatEventJson(event: FlEvent): string {
  return JSON.stringify(event);
}
