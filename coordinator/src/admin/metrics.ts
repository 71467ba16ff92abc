import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { FlEvent } from "../../../shared/src/events/types.js";

/** Seconds: a round runs from seconds (a smoke test) to hours (ResNet on a slow site). */
const ROUND_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200];
/** Seconds: folding and stepping a model, from a small CNN to a robust strategy over ResNet deltas. */
const AGGREGATION_BUCKETS = [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * The coordinator's Prometheus metrics, in a registry of its own (several coordinators in one
 * test process must not share counters), fed by the federation's events and by the observed
 * transport calls. Names are documented in docs/deploy.md, "Watching a running federation".
 */
export class FederationMetrics {
  readonly registry = new Registry();
  private readonly roundsCompleted: Counter;
  private readonly roundsFailed: Counter;
  private readonly updatesAccepted: Counter;
  private readonly updatesRejected: Counter<"reason">;
  private readonly uploadBytes: Counter;
  private readonly roundDuration: Histogram;
  private readonly aggregationDuration: Histogram;
  private readonly evaluations: Counter;
  private readonly currentRound: Gauge;
  private readonly openUploads: Gauge;
  private readonly tlsRefusals: Counter<"reason">;
  /** When each round's current attempt started (ms), for its duration. */
  private readonly roundStarts = new Map<number, number>();

  constructor(options: { federationId: string; sitesConnected: () => number; sitesEnrolled: () => number }) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    // The federation as an info metric, not a label on every series: Prometheus's own target
    // labels already tell coordinators apart.
    new Gauge({
      name: "fl_federation_info",
      help: "The federation this coordinator runs",
      labelNames: ["federation"],
      registers,
    }).set({ federation: options.federationId }, 1);
    this.roundsCompleted = new Counter({
      name: "fl_rounds_completed_total",
      help: "Rounds committed (a new global model version each)",
      registers,
    });
    this.roundsFailed = new Counter({
      name: "fl_rounds_failed_total",
      help: "Round attempts that failed (too few updates before the deadline)",
      registers,
    });
    this.updatesAccepted = new Counter({
      name: "fl_updates_accepted_total",
      help: "Site updates accepted into a round",
      registers,
    });
    this.updatesRejected = new Counter({
      name: "fl_updates_rejected_total",
      help: "Site updates refused, by reason code",
      labelNames: ["reason"],
      registers,
    });
    this.uploadBytes = new Counter({
      name: "fl_upload_bytes_total",
      help: "Sealed update bytes received from sites, refused uploads included",
      registers,
    });
    this.roundDuration = new Histogram({
      name: "fl_round_duration_seconds",
      help: "Time from the start of a round's committed attempt to its commit (failed attempts: fl_rounds_failed_total)",
      buckets: ROUND_BUCKETS,
      registers,
    });
    this.aggregationDuration = new Histogram({
      name: "fl_aggregation_duration_seconds",
      help: "Time to aggregate a round's updates, step the server optimiser and commit the new version",
      buckets: AGGREGATION_BUCKETS,
      registers,
    });
    this.evaluations = new Counter({
      name: "fl_evaluations_completed_total",
      help: "Evaluations of a model version completed",
      registers,
    });
    this.currentRound = new Gauge({
      name: "fl_round",
      help: "The round running now (or last run)",
      registers,
    });
    this.openUploads = new Gauge({
      name: "fl_uploads_open",
      help: "Update uploads in flight",
      registers,
    });
    this.tlsRefusals = new Counter({
      name: "fl_tls_handshake_failures_total",
      help: "TLS clients refused for their certificate or TLS settings, by reason (revoked: each call refused by tls.crl)",
      labelNames: ["reason"],
      registers,
    });
    new Gauge({
      name: "fl_sites_connected",
      help: "Sites with a live session",
      registers,
      collect() {
        this.set(options.sitesConnected());
      },
    });
    new Gauge({
      name: "fl_sites_enrolled",
      help: "Sites on the allowlist",
      registers,
      collect() {
        this.set(options.sitesEnrolled());
      },
    });
  }

  event(event: FlEvent): void {
    const at = Date.parse(event.timestamp);
    switch (event.type) {
      case "round.started":
        if (event.round === undefined) return;
        this.currentRound.set(event.round);
        this.roundStarts.set(event.round, at);
        return;
      case "round.completed":
        this.roundsCompleted.inc();
        this.observeRound(event, at);
        if (typeof event.data.aggregationMs === "number")
          this.aggregationDuration.observe(event.data.aggregationMs / 1000);
        return;
      case "round.failed":
        this.roundsFailed.inc();
        if (event.round !== undefined) this.roundStarts.delete(event.round);
        return;
      case "update.accepted":
        this.updatesAccepted.inc();
        return;
      case "update.rejected":
        this.updatesRejected.inc({
          reason: typeof event.data.code === "string" ? event.data.code : "UNKNOWN",
        });
        return;
      case "evaluation.completed":
        this.evaluations.inc();
        return;
      default:
        return;
    }
  }

  uploadOpened(): void {
    this.openUploads.inc();
  }

  uploadClosed(): void {
    this.openUploads.dec();
  }

  uploadChunk(bytes: number): void {
    this.uploadBytes.inc(bytes);
  }

  /** A TLS client refused (the transport's reason, a closed set of label values). */
  tlsRefused(reason: string): void {
    this.tlsRefusals.inc({ reason });
  }

  /** The Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private observeRound(event: FlEvent, at: number): void {
    if (event.round === undefined) return;
    const started = this.roundStarts.get(event.round);
    if (started === undefined) return;
    this.roundStarts.delete(event.round);
    this.roundDuration.observe(Math.max(0, at - started) / 1000);
  }
}
