import type { TlsRefusal, TlsRefusalReason } from "./tls-refusal.js";

/** A client that keeps reconnecting is logged once in this long per address and reason. */
export const REFUSAL_LOG_WINDOW_MS = 60_000;
/** Past this many remembered (address, reason) pairs, expired ones are dropped: a scan stays small. */
const MAX_REMEMBERED = 1024;

export interface RefusalReporter {
  /** Counts every refusal; logs it unless the same address was logged for this reason within the window. */
  refused(peer: string, refusal: TlsRefusal): void;
}

/**
 * Refused TLS clients in the coordinator's log, rate-limited per client address and reason. A
 * misconfigured hospital retries every few hundred milliseconds, and each retry comes from a new
 * port, so the address without the port is the key. Written here rather than with a rate-limit
 * library because what is needed is "once per key per window, with the count left out", which the
 * token-bucket libraries do not say, and the counts go to the metric anyway.
 */
export function createRefusalReporter(options: {
  log: (line: string) => void;
  count?: ((reason: TlsRefusalReason) => void) | undefined;
  windowMs?: number;
  now?: () => number;
}): RefusalReporter {
  const windowMs = options.windowMs ?? REFUSAL_LOG_WINDOW_MS;
  const now = options.now ?? Date.now;
  const seen = new Map<string, { loggedAt: number; suppressed: number }>();
  const prune = (at: number) => {
    for (const [key, entry] of seen) if (at - entry.loggedAt >= windowMs) seen.delete(key);
  };
  return {
    refused(peer, refusal) {
      options.count?.(refusal.reason);
      const at = now();
      const key = `${hostOf(peer)} ${refusal.reason}`;
      const entry = seen.get(key);
      if (entry && at - entry.loggedAt < windowMs) {
        entry.suppressed++;
        return;
      }
      const repeats = entry?.suppressed ?? 0;
      if (seen.size >= MAX_REMEMBERED) prune(at);
      seen.set(key, { loggedAt: at, suppressed: 0 });
      const since =
        repeats > 0 ? ` (${repeats} more from ${hostOf(peer)} for this reason since it was last logged)` : "";
      const issuedTo =
        refusal.commonName === undefined ? "" : ` (certificate issued to "${refusal.commonName}")`;
      options.log(
        `refused a TLS client at ${peer}${issuedTo}: ${refusal.explanation}${since}. Repeats from this address are counted in fl_tls_handshake_failures_total{reason="${refusal.reason}"} and logged at most once every ${Math.round(windowMs / 1000)} s`,
      );
    },
  };
}

/** "10.0.0.5:41234" → "10.0.0.5"; "::1:41234" → "::1" (grpc-js's getPeer() writes IPv6 without brackets). */
export function hostOf(peer: string): string {
  const colon = peer.lastIndexOf(":");
  return colon < 0 ? peer : peer.slice(0, colon);
}
