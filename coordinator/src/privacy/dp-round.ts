import { z } from "zod";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import { UNCLIPPED_METRIC } from "../../../shared/src/fl/stages/dp-clip.js";
import { buildTrainTask, type TaskSpec, type TrainTaskInput } from "../../../shared/src/fl/task.js";
import type { Plan } from "../plan.js";
import { DpLedger, type DpLedgerState, type RoundDp } from "./dp-ledger.js";
import { resolveDp } from "./dp-plan.js";

/** The plan's DP ledger, resumed from the state committed with the last round; none without DP. */
export function openDpLedger(plan: Plan, saved: unknown): DpLedger | undefined {
  const dp = plan.privacy?.dp;
  if (!dp) return undefined;
  const resolved = resolveDp(dp, {
    rounds: plan.phases.reduce((sum, p) => sum + p.rounds, 0),
    strategy: plan.strategy.name,
    phasePipelines: plan.phases.map((p) => p.pipeline.map((s) => s.stage)),
    secureAggregation: plan.secureAggregation,
  });
  if ("problems" in resolved) throw new FlError(ErrorCode.InvalidConfig, resolved.problems.join("; "));
  if (saved === undefined) return new DpLedger(resolved.settings);
  const state = LedgerStateSchema.safeParse(saved);
  if (!state.success)
    throw new FlError(
      ErrorCode.InvalidConfig,
      `the state database's privacy ledger is unreadable (${state.error.issues[0]?.message ?? "?"}); the spent ε cannot be resumed, so the federation does not go on`,
    );
  if (state.data.accountant.orders.length !== state.data.accountant.rdp.length)
    throw new FlError(
      ErrorCode.InvalidConfig,
      "the state database's privacy ledger has a malformed accountant",
    );
  return new DpLedger(resolved.settings, state.data);
}

const LedgerStateSchema = z.strictObject({
  accountant: z.strictObject({
    orders: z.array(z.number().int().min(2)).min(1),
    rdp: z.array(z.number().min(0)),
  }),
  clipNorm: z.number().positive(),
  rounds: z.number().int().min(0),
  epsilon: z.number().min(0),
}) satisfies z.ZodType<DpLedgerState>;

/**
 * The round's training task: the cohort it is sent to, and under DP the round's stages (central:
 * the site's clip, the coordinator's re-clip and noise; distributed: the site's clip and noise
 * share, the coordinator's fixed denominator) and the accountant's promise.
 */
export function roundTrainTask(task: TaskSpec, cohort: number, dp: RoundDp | undefined): TaskSpec {
  if (task.kind !== "train") return task;
  const { spec } = task;
  return {
    kind: "train",
    spec: buildTrainTask({
      ...spec,
      pipeline: dp ? [...spec.pipeline, ...dp.stages] : spec.pipeline,
      privacy: dp ? dp.task : { ...spec.privacy, cohort },
    } as TrainTaskInput),
  };
}

/** Metrics that say how many sites were clipped, or by how much: the count DP noises. */
const CLIP_METRICS = new Set([UNCLIPPED_METRIC, "clip.clipped", "clip.norm"]);

/**
 * The round's training metrics as published (round metrics, rounds.json, events): without the
 * un-noised count of unclipped sites (and `clip.clipped`, its complement, and `clip.norm`),
 * which may leave the coordinator only as the noised fraction.
 */
export function publishedTrainMetrics(metrics: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(metrics).filter(([key]) => !CLIP_METRICS.has(key)));
}

export { UNCLIPPED_METRIC };
