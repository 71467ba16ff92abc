import parsePrometheusTextFormat, { type ParsedFamily } from "parse-prometheus-text-format";
import { expect, it } from "vitest";
import { FederationMetrics } from "../../../../coordinator/src/admin/metrics.js";
import type { FlEvent, FlEventType } from "../../../../shared/src/events/types.js";

const T0 = Date.parse("2026-12-01T10:00:00.000Z");

function event(
  type: FlEventType,
  secondsAfter: number,
  round?: number,
  data: Record<string, unknown> = {},
): FlEvent {
  return {
    type,
    federationId: "f",
    timestamp: new Date(T0 + secondsAfter * 1000).toISOString(),
    ...(round !== undefined && { round }),
    data,
  };
}

function family(families: ParsedFamily[], name: string): ParsedFamily {
  const found = families.find((f) => f.name === name);
  if (!found) throw new Error(`no metric ${name} in ${families.map((f) => f.name).join(", ")}`);
  return found;
}

it("counts rounds, updates by reason, bytes and open uploads, and times rounds and aggregation, in valid text format", async () => {
  let connected = 2;
  const metrics = new FederationMetrics({
    federationId: "f",
    sitesConnected: () => connected,
    sitesEnrolled: () => 3,
  });
  metrics.event(event("round.started", 0, 1));
  metrics.event(event("update.accepted", 4, 1));
  metrics.event(event("update.rejected", 5, 1, { code: "FL_REPLAY" }));
  metrics.event(event("update.rejected", 6, 1, { code: "FL_REPLAY" }));
  metrics.event(event("update.rejected", 6, undefined, { code: "FL_SIGNATURE_INVALID" }));
  metrics.event(event("round.completed", 12, 1, { aggregationMs: 300 }));
  metrics.event(event("round.started", 20, 2));
  metrics.event(event("round.failed", 80, 2, { reason: "too few" }));
  metrics.uploadOpened();
  metrics.uploadOpened();
  metrics.uploadChunk(1000);
  metrics.uploadChunk(24);
  metrics.uploadClosed();
  connected = 1;

  const families = parsePrometheusTextFormat(await metrics.text());
  const value = (name: string, labels: Record<string, string> = {}) =>
    family(families, name).metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
      ?.value;
  expect(value("fl_rounds_completed_total")).toBe("1");
  expect(value("fl_rounds_failed_total")).toBe("1");
  expect(value("fl_updates_accepted_total")).toBe("1");
  expect(value("fl_updates_rejected_total", { reason: "FL_REPLAY" })).toBe("2");
  expect(value("fl_updates_rejected_total", { reason: "FL_SIGNATURE_INVALID" })).toBe("1");
  expect(value("fl_upload_bytes_total")).toBe("1024");
  expect(value("fl_uploads_open")).toBe("1");
  expect(value("fl_sites_connected")).toBe("1");
  expect(value("fl_sites_enrolled")).toBe("3");
  expect(value("fl_round")).toBe("2");
  const rounds = family(families, "fl_round_duration_seconds");
  expect(rounds.type).toBe("HISTOGRAM");
  // Round 1 was committed after 12 s (in the 15 s bucket, not the 5 s one); round 2's failed
  // attempt is counted, not timed.
  expect(rounds.metrics[0]).toMatchObject({ count: "1", sum: "12" });
  expect(rounds.metrics[0]?.buckets?.["5"]).toBe("0");
  expect(rounds.metrics[0]?.buckets?.["15"]).toBe("1");
  expect(family(families, "fl_aggregation_duration_seconds").metrics[0]).toMatchObject({
    count: "1",
    sum: "0.3",
  });
  expect(family(families, "fl_federation_info").metrics[0]).toEqual({
    value: "1",
    labels: { federation: "f" },
  });
  // The process metrics are there.
  expect(value("process_cpu_seconds_total")).toBeDefined();
  expect(family(families, "nodejs_eventloop_lag_seconds").type).toBe("GAUGE");
});

it("keeps two coordinators' counters apart in one process", async () => {
  const a = new FederationMetrics({ federationId: "a", sitesConnected: () => 0, sitesEnrolled: () => 1 });
  const b = new FederationMetrics({ federationId: "b", sitesConnected: () => 0, sitesEnrolled: () => 1 });
  a.event(event("update.accepted", 1, 1));
  const count = async (m: FederationMetrics) =>
    family(parsePrometheusTextFormat(await m.text()), "fl_updates_accepted_total").metrics[0]?.value;
  expect(await count(a)).toBe("1");
  expect(await count(b)).toBe("0");
});
