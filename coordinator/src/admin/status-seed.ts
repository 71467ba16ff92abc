import { type EvaluationSummary, summariseEvaluations } from "../report.js";
import type { EvaluationRecord, RoundRecord, SiteRecord, UpdateRecord } from "../store/records.js";
import { type PrivacyStatus, privacyOf } from "./privacy-status.js";

/**
 * What a coordinator that starts on an existing state.db already knows: its rounds, evaluations,
 * updates and sites, so that `fl status` and the dashboard's curve show the whole federation
 * after a restart, not only what happened since.
 */
export interface StatusSeed {
  readonly rounds: readonly {
    readonly round: number;
    readonly phase: string;
    readonly attempt: number;
    readonly outcome: "completed" | "failed";
    readonly at: string;
    readonly trainLoss: number | null;
    readonly accepted: number;
    readonly reason?: string;
  }[];
  readonly evaluations: readonly {
    readonly round: number;
    readonly modelVersion: number;
    readonly at: string;
    readonly pooled: Readonly<Record<string, number>>;
  }[];
  readonly updates: { readonly accepted: number; readonly rejected: Readonly<Record<string, number>> };
  /** The (ε, δ) after the last committed round, when the plan has differential privacy. */
  readonly privacy?: PrivacyStatus;
  readonly sites: readonly {
    readonly siteId: string;
    readonly lastSeenMs: number | null;
    readonly backend: string | null;
  }[];
}

/**
 * The pooled numbers the `evaluation.completed` event carries (evaluation-intake.ts), from a
 * summary of stored reports: the same keys, so a restored point and a live one plot alike.
 */
export function pooledMetrics(summary: EvaluationSummary): Record<string, number> {
  const { pooled, ranking, statistics, segmentation } = summary;
  return {
    accuracy: pooled.accuracy,
    macroF1: pooled.macroF1,
    count: pooled.count,
    ...(ranking?.macroAuc !== undefined && { macroAuc: ranking.macroAuc }),
    ...(ranking?.mAP !== undefined && { mAP: ranking.mAP }),
    ...(statistics && { ece: statistics.ece, brier: statistics.brier }),
    ...(segmentation && { dice: segmentation.globalDice }),
  };
}

/** Pure: the seed from what the state store lists. */
export function statusSeed(stored: {
  readonly rounds: readonly RoundRecord[];
  readonly evaluations: readonly EvaluationRecord[];
  readonly updates: readonly UpdateRecord[];
  readonly sites: readonly SiteRecord[];
}): StatusSeed {
  const rounds = stored.rounds
    .filter(
      (r): r is RoundRecord & { status: "completed" | "failed" } =>
        r.status === "completed" || r.status === "failed",
    )
    .sort((a, b) => a.round - b.round || a.attempt - b.attempt)
    .map((r) => {
      const trainLoss = r.metrics["train.loss"];
      return {
        round: r.round,
        phase: r.phase,
        attempt: r.attempt,
        outcome: r.status,
        at: new Date(r.endedAtMs ?? r.startedAtMs).toISOString(),
        trainLoss: typeof trainLoss === "number" && Number.isFinite(trainLoss) ? trainLoss : null,
        accepted: r.acceptedCount,
        ...(r.status === "failed" &&
          r.failures.length > 0 && { reason: r.failures.map((f) => `${f.siteId}: ${f.reason}`).join("; ") }),
      };
    });
  const received = new Map<number, number>();
  for (const e of stored.evaluations)
    received.set(e.modelVersion, Math.max(received.get(e.modelVersion) ?? 0, e.receivedAtMs));
  const evaluations = summariseEvaluations(stored.evaluations)
    .filter((s) => s.pooled.count > 0)
    .map((s) => ({
      round: s.round,
      modelVersion: s.modelVersion,
      at: new Date(received.get(s.modelVersion) ?? 0).toISOString(),
      pooled: pooledMetrics(s),
    }));
  const rejected: Record<string, number> = {};
  let accepted = 0;
  for (const u of stored.updates) {
    if (u.status === "accepted") accepted++;
    else {
      // Stored as "<code>: <message>" (upload-intake.ts); counted by code, as the live events are.
      const code = /^(FL_[A-Z_]+)\b/.exec(u.reason ?? "")?.[1] ?? "UNKNOWN";
      rejected[code] = (rejected[code] ?? 0) + 1;
    }
  }
  const sites = stored.sites.map((s) => ({
    siteId: s.siteId,
    lastSeenMs: s.lastJoinedAtMs,
    backend: typeof s.info?.backend === "string" && s.info.backend ? s.info.backend : null,
  }));
  const lastCommitted = stored.rounds
    .filter((r) => r.status === "completed")
    .sort((a, b) => a.round - b.round)
    .at(-1);
  const privacy = privacyOf(lastCommitted?.metrics);
  return { rounds, evaluations, updates: { accepted, rejected }, sites, ...(privacy && { privacy }) };
}
