import type { FlEvent } from "../../../shared/src/events/types.js";
import { PLAN_COMPLETE_REASON } from "../../../shared/src/fl/protocol-constants.js";
import type { TaskProgress } from "../federation/task-board.js";
import { type PrivacyStatus, privacyOf } from "./privacy-status.js";
import type { StatusSeed } from "./status-seed.js";

/** What `GET /status` answers (and `fl status` prints): the federation as this coordinator sees it. */
export interface FederationStatus {
  readonly federationId: string;
  /** starting: not yet running its plan; running; then how `run()` ended. */
  readonly state: "starting" | "running" | "completed" | "failed";
  /** Why it failed or stopped; absent while it runs or once it completed. */
  readonly reason?: string;
  readonly startedAt: string | null;
  readonly plan: {
    /** The phase of the latest round started, null before the first. */
    readonly phase: string | null;
    /** The round running now (or last run), null before the first. */
    readonly round: number | null;
    readonly attempt: number | null;
    readonly completedRounds: number;
    readonly totalRounds: number | null;
  };
  readonly sites: readonly SiteStatus[];
  /**
   * Over the whole federation: what the state store holds when this coordinator started, then
   * live (updates refused before their signature was checked are not stored: those count only
   * since the start).
   */
  readonly updates: { readonly accepted: number; readonly rejected: Readonly<Record<string, number>> };
  readonly lastRound: {
    readonly round: number;
    readonly outcome: "completed" | "failed";
    readonly at: string;
    readonly accepted?: number;
    readonly reason?: string;
  } | null;
  readonly lastEvaluation: {
    readonly round: number | null;
    readonly modelVersion: number | null;
    readonly at: string;
    readonly pooled: Readonly<Record<string, number>>;
  } | null;
  /** Differential privacy spent so far (after the last committed round), when the plan has it. */
  readonly privacy?: PrivacyStatus;
  readonly generatedAt: string;
}

export interface SiteStatus {
  readonly siteId: string;
  /** never: has not joined since this coordinator started; lost: left or missed its heartbeats. */
  readonly state: "connected" | "lost" | "never";
  readonly lastSeen: string | null;
  readonly backend: string | null;
  /** Why the site was lost. */
  readonly lostReason?: string;
  readonly task: {
    readonly round: number;
    readonly kind: string;
    readonly progress: number;
    readonly status: string;
  } | null;
}

/** What the dashboard's learning curve is drawn from: every round and evaluation seen so far. */
export interface FederationHistory {
  readonly rounds: readonly {
    readonly round: number;
    readonly outcome: "completed" | "failed";
    readonly at: string;
    /** The sites' training loss, weighted by examples (`train.loss` of the round's metrics). */
    readonly trainLoss: number | null;
  }[];
  readonly evaluations: readonly NonNullable<FederationStatus["lastEvaluation"]>[];
}

interface SiteEntry {
  state: SiteStatus["state"];
  lastSeenMs: number | undefined;
  backend: string | undefined;
  lostReason: string | undefined;
  task: SiteStatus["task"];
}

/**
 * Folds the coordinator's events, its sites' task progress and signs of life into the status an
 * operator asks for. Pure: it is told the time with each input, and reads nothing itself.
 */
export class StatusTracker {
  private state: FederationStatus["state"] = "starting";
  private reason: string | undefined;
  private privacy: PrivacyStatus | undefined;
  private startedAt: string | null = null;
  private phase: string | null = null;
  private round: number | null = null;
  private attempt: number | null = null;
  private completedRounds = 0;
  private totalRounds: number | null = null;
  private accepted = 0;
  private readonly rejected = new Map<string, number>();
  private lastRound: FederationStatus["lastRound"] = null;
  private lastEvaluation: FederationStatus["lastEvaluation"] = null;
  private readonly sites = new Map<string, SiteEntry>();
  private readonly rounds: FederationHistory["rounds"][number][] = [];
  private readonly evaluations: NonNullable<FederationStatus["lastEvaluation"]>[] = [];

  constructor(
    private readonly federationId: string,
    enrolled: Iterable<string>,
  ) {
    for (const siteId of enrolled) this.site(siteId);
  }

  /**
   * What the state store already holds (a restarted coordinator): rounds, evaluations and update
   * counts, and each site's last join and backend. Call it before the first event.
   */
  restore(seed: StatusSeed): void {
    for (const r of seed.rounds) {
      this.rounds.push({ round: r.round, outcome: r.outcome, at: r.at, trainLoss: r.trainLoss });
      if (r.outcome === "completed") this.completedRounds = Math.max(this.completedRounds, r.round);
    }
    const last = seed.rounds.at(-1);
    if (last) {
      this.round = last.round;
      this.phase = last.phase;
      this.attempt = last.attempt;
      this.lastRound = {
        round: last.round,
        outcome: last.outcome,
        at: last.at,
        ...(last.outcome === "completed" && { accepted: last.accepted }),
        ...(last.reason !== undefined && { reason: last.reason }),
      };
    }
    this.privacy = seed.privacy ?? this.privacy;
    for (const e of seed.evaluations) this.evaluations.push(e);
    this.lastEvaluation = this.evaluations.at(-1) ?? null;
    this.accepted += seed.updates.accepted;
    for (const [code, n] of Object.entries(seed.updates.rejected))
      this.rejected.set(code, (this.rejected.get(code) ?? 0) + n);
    for (const stored of seed.sites) {
      // Only sites still enrolled; they stay "never" (not joined since this start) until they do.
      const site = this.sites.get(stored.siteId);
      if (!site) continue;
      site.lastSeenMs ??= stored.lastSeenMs ?? undefined;
      site.backend ??= stored.backend ?? undefined;
    }
  }

  event(event: FlEvent): void {
    const at = Date.parse(event.timestamp);
    const data = event.data;
    switch (event.type) {
      case "federation.started":
        this.state = "running";
        this.startedAt = event.timestamp;
        this.totalRounds = numberOr(data.totalRounds, null);
        this.completedRounds = numberOr(data.resumedAfterRound, 0);
        break;
      case "federation.completed":
        this.state = "completed";
        this.clearTasks();
        break;
      case "site.joined": {
        if (!event.siteId) break;
        const site = this.site(event.siteId);
        site.state = "connected";
        site.lostReason = undefined;
        site.backend = typeof data.backend === "string" && data.backend ? data.backend : site.backend;
        site.lastSeenMs = at;
        break;
      }
      case "site.left": {
        if (!event.siteId) break;
        const site = this.site(event.siteId);
        site.state = "lost";
        site.lostReason = typeof data.reason === "string" ? data.reason : undefined;
        site.task = null;
        break;
      }
      case "site.enrolled":
        if (event.siteId) this.site(event.siteId);
        break;
      case "site.revoked":
        // No longer on the allowlist: not a site of this federation any more.
        if (event.siteId) this.sites.delete(event.siteId);
        break;
      case "round.started": {
        this.round = event.round ?? null;
        this.attempt = numberOr(data.attempt, null);
        this.phase = typeof data.phase === "string" ? data.phase : this.phase;
        this.clearTasks();
        const sampled = Array.isArray(data.sampled) ? data.sampled : [];
        for (const siteId of sampled) {
          if (typeof siteId !== "string" || event.round === undefined) continue;
          this.site(siteId).task = { round: event.round, kind: "train", progress: 0, status: "assigned" };
        }
        break;
      }
      case "round.completed":
        this.completedRounds = Math.max(this.completedRounds, event.round ?? 0);
        this.privacy = privacyOf(data.metrics) ?? this.privacy;
        this.lastRound = {
          round: event.round ?? 0,
          outcome: "completed",
          at: event.timestamp,
          ...(typeof data.accepted === "number" && { accepted: data.accepted }),
        };
        this.rounds.push({
          round: event.round ?? 0,
          outcome: "completed",
          at: event.timestamp,
          trainLoss:
            typeof data.metrics === "object" && data.metrics !== null
              ? numberOr((data.metrics as Record<string, unknown>)["train.loss"], null)
              : null,
        });
        this.clearTasks();
        break;
      case "round.failed":
        this.lastRound = {
          round: event.round ?? 0,
          outcome: "failed",
          at: event.timestamp,
          ...(typeof data.reason === "string" && { reason: data.reason }),
        };
        this.rounds.push({
          round: event.round ?? 0,
          outcome: "failed",
          at: event.timestamp,
          trainLoss: null,
        });
        this.clearTasks();
        break;
      case "update.accepted": {
        this.accepted++;
        if (!event.siteId) break;
        const site = this.site(event.siteId);
        site.lastSeenMs = at;
        if (site.task) site.task = { ...site.task, progress: 1, status: "update accepted" };
        break;
      }
      case "update.rejected": {
        const code = typeof data.code === "string" ? data.code : "UNKNOWN";
        this.rejected.set(code, (this.rejected.get(code) ?? 0) + 1);
        break;
      }
      case "evaluation.completed": {
        const pooled = typeof data.pooled === "object" && data.pooled !== null ? data.pooled : {};
        this.lastEvaluation = {
          round: event.round ?? null,
          modelVersion: numberOr(data.modelVersion, null),
          at: event.timestamp,
          pooled: Object.fromEntries(
            Object.entries(pooled).filter((entry): entry is [string, number] => typeof entry[1] === "number"),
          ),
        };
        this.evaluations.push(this.lastEvaluation);
        this.clearTasks();
        break;
      }
    }
  }

  progress(progress: TaskProgress, nowMs: number): void {
    const site = this.site(progress.siteId);
    site.lastSeenMs = nowMs;
    site.task = {
      round: progress.round,
      kind: progress.kind,
      progress: progress.progress,
      status: progress.status,
    };
  }

  /** An authenticated call from the site: it is alive. */
  seen(siteId: string, nowMs: number): void {
    const site = this.sites.get(siteId);
    if (site) site.lastSeenMs = nowMs;
  }

  /** How `run()` ended. */
  finished(result: { status: "completed" | "failed"; reason: string }): void {
    this.state = result.status;
    // A completed run has a reason only when it ended before its plan's end (the privacy budget).
    this.reason =
      result.status === "failed" || result.reason !== PLAN_COMPLETE_REASON ? result.reason : undefined;
    this.clearTasks();
  }

  snapshot(nowMs: number): FederationStatus {
    return {
      federationId: this.federationId,
      state: this.state,
      ...(this.reason !== undefined && { reason: this.reason }),
      ...(this.privacy && { privacy: this.privacy }),
      startedAt: this.startedAt,
      plan: {
        phase: this.phase,
        round: this.round,
        attempt: this.attempt,
        completedRounds: this.completedRounds,
        totalRounds: this.totalRounds,
      },
      sites: [...this.sites.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([siteId, site]) => ({
          siteId,
          state: site.state,
          lastSeen: site.lastSeenMs === undefined ? null : new Date(site.lastSeenMs).toISOString(),
          backend: site.backend ?? null,
          ...(site.lostReason !== undefined && { lostReason: site.lostReason }),
          task: site.task,
        })),
      updates: {
        accepted: this.accepted,
        rejected: Object.fromEntries([...this.rejected].sort(([a], [b]) => (a < b ? -1 : 1))),
      },
      lastRound: this.lastRound,
      lastEvaluation: this.lastEvaluation,
      generatedAt: new Date(nowMs).toISOString(),
    };
  }

  history(): FederationHistory {
    return { rounds: [...this.rounds], evaluations: [...this.evaluations] };
  }

  /** The number of sites on the allowlist now (the metrics' gauge). */
  enrolledSites(): number {
    return this.sites.size;
  }

  /** The number of sites connected now (the metrics' gauge). */
  connectedSites(): number {
    return [...this.sites.values()].filter((s) => s.state === "connected").length;
  }

  private site(siteId: string): SiteEntry {
    let site = this.sites.get(siteId);
    if (!site) {
      site = { state: "never", lastSeenMs: undefined, backend: undefined, lostReason: undefined, task: null };
      this.sites.set(siteId, site);
    }
    return site;
  }

  private clearTasks(): void {
    for (const site of this.sites.values()) site.task = null;
  }
}

function numberOr<T>(value: unknown, fallback: T): number | T {
  return typeof value === "number" && Number.isFinite(value) ? value : fallback;
}
