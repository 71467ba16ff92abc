import { z } from "zod";
import type { ModelSpec } from "../../shared/src/fl/model-spec.js";
import { StageConfigSchema } from "../../shared/src/fl/stages/index.js";
import { TrainHyperSchema } from "../../shared/src/fl/task.js";
import { TASK_KINDS, taskKind, taskOptionProblems } from "../../shared/src/fl/task-kinds.js";
import {
  DEFAULT_BOOTSTRAP_REPLICATES,
  MAX_BOOTSTRAP_REPLICATES,
} from "../../shared/src/metrics/evaluation-statistics.js";
import { PlanPrivacySchema, resolveDp } from "./privacy/dp-plan.js";
import { SecureAggregationConfigSchema, secAggPlanProblems } from "./secagg-config.js";
import { StrategyConfigSchema } from "./strategy/registry.js";

const PhaseSchema = z
  .object({
    name: z.string().min(1).max(64),
    task: z.enum(TASK_KINDS),
    rounds: z.number().int().min(1).max(100_000),
    train: TrainHyperSchema.default(TrainHyperSchema.parse({})),
    /** Task-specific options (temperature, loss weights, ...), validated by the hospital's trainer. */
    options: z.record(z.string(), z.unknown()).default({}),
    /** Glob patterns of tensors that never leave the hospital in this phase (e.g. "*moving_*" for FedBN). */
    local: z.array(z.string().min(1)).default([]),
    /** Glob patterns of tensors reset to the seeded initial model when the phase starts (new heads). */
    reinitialize: z.array(z.string().min(1)).default([]),
    /** Fraction of each hospital's labels used for supervised losses (the rest count as unlabelled). */
    labelFraction: z.number().gt(0).max(1).default(1),
    /** FedProx proximal weight μ (0 = plain local training). */
    fedproxMu: z.number().min(0).default(0),
    /** The phase's update pipeline, in order: `{ stage: "clip-l2", maxNorm: 1 }`, … (none: updates pass unchanged). */
    pipeline: z.array(StageConfigSchema).default([]),
  })
  .strict();
export type Phase = z.infer<typeof PhaseSchema>;

export const PlanSchema = z
  .object({
    phases: z.array(PhaseSchema).min(1),
    /** A round needs at least this many accepted updates; sampling waits for this many clients. */
    minSites: z.number().int().min(1).default(2),
    /** A round starts only once this many clients are connected (default: minSites). */
    minAvailableSites: z.number().int().min(1).optional(),
    /** Fraction of connected clients sampled each round (at least minSites). */
    fraction: z.number().gt(0).max(1).default(1),
    roundTimeoutSec: z.number().positive().default(900),
    /** Evaluate the global model every N rounds (0 = only at the end). */
    evaluateEvery: z.number().int().min(0).default(1),
    evaluationTimeoutSec: z.number().positive().default(300),
    /** Stratified bootstrap resamples each site sends with its evaluation (0: no confidence intervals). */
    evaluationBootstrap: z
      .number()
      .int()
      .min(0)
      .max(MAX_BOOTSTRAP_REPLICATES)
      .default(DEFAULT_BOOTSTRAP_REPLICATES),
    /** Sites also score their validation split at candidate temperatures (federated temperature scaling). */
    evaluationTemperatureScaling: z.boolean().default(false),
    /** A round that ends with fewer than minSites updates is retried this many times in total. */
    maxRoundAttempts: z.number().int().min(1).default(3),
    seed: z.number().int().min(0).default(0),
    /** fedavg (default), fedavgm, fedadam, fedyogi, median, trimmed-mean or krum with their options. */
    strategy: StrategyConfigSchema.default({ name: "fedavg" }),
    /** `dp`: differential privacy over the whole federation (coordinator/src/privacy/dp-plan.ts). */
    privacy: PlanPrivacySchema.optional(),
    /** The coordinator sees only each round's sum (coordinator/src/secagg-config.ts); absent: off. */
    secureAggregation: SecureAggregationConfigSchema.optional(),
  })
  .strict()
  .superRefine((plan, context) => {
    for (const [path, message] of secAggPlanProblems(plan))
      context.addIssue({ code: "custom", path: path.split("."), message });
  })
  .superRefine((plan, context) => {
    // Caught here rather than as a failed round: a plan whose rounds may aggregate too few updates for Krum.
    const { strategy, minSites } = plan;
    if (strategy.name !== "krum") return;
    const needed = Math.max(2 * strategy.byzantine + 3, strategy.select + strategy.byzantine);
    if (minSites < needed)
      context.addIssue({
        code: "custom",
        path: ["minSites"],
        message: `krum with byzantine ${strategy.byzantine} and select ${strategy.select} needs minSites ≥ ${needed} (n > 2f + 2 and n ≥ m + f)`,
      });
  })
  .superRefine((plan, context) => {
    // An ε the accountant can never reach, or a budget spent by the first round, is a config error.
    const dp = plan.privacy?.dp;
    if (!dp) return;
    const resolved = resolveDp(dp, {
      rounds: plan.phases.reduce((sum, p) => sum + p.rounds, 0),
      strategy: plan.strategy.name,
      phasePipelines: plan.phases.map((p) => p.pipeline.map((s) => s.stage)),
      secureAggregation: plan.secureAggregation !== undefined,
    });
    if ("problems" in resolved)
      for (const problem of resolved.problems)
        context.addIssue({ code: "custom", path: [], message: problem });
  });
export type Plan = z.infer<typeof PlanSchema>;
/** A plan as written in a config file (defaults optional). */
export type PlanInput = z.input<typeof PlanSchema>;

export interface RoundSlot {
  /** 1-based global round number. */
  readonly round: number;
  readonly phase: Phase;
  /** 1-based round number within the phase. */
  readonly roundInPhase: number;
}

export function totalRounds(plan: Plan): number {
  return plan.phases.reduce((sum, p) => sum + p.rounds, 0);
}

/** Which phase a global round belongs to. */
export function slotOf(plan: Plan, round: number): RoundSlot {
  let start = 1;
  for (const phase of plan.phases) {
    if (round < start + phase.rounds) return { round, phase, roundInPhase: round - start + 1 };
    start += phase.rounds;
  }
  throw new RangeError(`round ${round} is beyond the plan's ${totalRounds(plan)} rounds`);
}

export function shouldEvaluate(plan: Plan, round: number): boolean {
  if (round === totalRounds(plan)) return true;
  return plan.evaluateEvery > 0 && round % plan.evaluateEvery === 0;
}

/** Problems of a plan for a model, as "path: message" lines (empty when it fits). */
export function planProblems(plan: Plan, model: ModelSpec): string[] {
  const problems: string[] = [];
  for (const [i, phase] of plan.phases.entries()) {
    for (const problem of taskOptionProblems(phase.task, phase.options))
      problems.push(`plan.phases.${i}.options.${problem}`);
    if (model.architecture === "small-cnn" && Object.keys(phase.options).length > 0) {
      problems.push(
        `plan.phases.${i}.options: the small-cnn trainer takes no options (they apply to unet-multitask)`,
      );
    }
    if (
      model.architecture === "small-cnn" &&
      (phase.train.optimizer !== "adam" || phase.train.schedule !== "constant" || phase.train.weightDecay > 0)
    ) {
      problems.push(
        `plan.phases.${i}.train: the small-cnn trainer uses Adam at a constant rate; optimizer, schedule and weightDecay apply to unet-multitask`,
      );
    }
    const { architectures } = taskKind(phase.task);
    if (!architectures.includes(model.architecture)) {
      problems.push(
        `plan.phases.${i}.task: "${phase.task}" needs the ${architectures.join(" or ")} architecture; ${model.architecture} has no trainer for it`,
      );
    }
  }
  const names = plan.phases.map((p) => p.name);
  for (const name of new Set(names)) {
    if (names.filter((n) => n === name).length > 1)
      problems.push(`plan.phases: the phase name "${name}" is used twice`);
  }
  return problems;
}
