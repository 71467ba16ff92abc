import { z } from "zod";

/** Hyper-parameters a client receives for a supervised classification round. */
export const TrainHyperSchema = z
  .object({
    epochs: z.number().int().min(1).max(1000).default(1),
    batchSize: z.number().int().min(1).max(4096).default(16),
    learningRate: z.number().positive().max(10).default(1e-3),
    /** Inverse class frequency weights counter the 28/47/17/8 % imbalance. */
    classWeighting: z.enum(["none", "inverse-frequency"]).default("inverse-frequency"),
    /** Caps local steps per round so that sites with more data do not take much longer. 0 = no cap. */
    maxStepsPerRound: z.number().int().min(0).default(0),
  })
  .strict();
export type TrainHyper = z.infer<typeof TrainHyperSchema>;

export const PhaseSchema = z
  .object({
    name: z.string().min(1).max(64),
    task: z.literal("classify"),
    rounds: z.number().int().min(1).max(100_000),
    train: TrainHyperSchema.default(TrainHyperSchema.parse({})),
  })
  .strict();
export type Phase = z.infer<typeof PhaseSchema>;

export const PlanSchema = z
  .object({
    phases: z.array(PhaseSchema).min(1),
    /** A round needs at least this many accepted updates; sampling waits for this many clients. */
    minClients: z.number().int().min(1).default(2),
    /** A round starts only once this many clients are connected (default: minClients). */
    minAvailableClients: z.number().int().min(1).optional(),
    /** Fraction of connected clients sampled each round (at least minClients). */
    fraction: z.number().gt(0).max(1).default(1),
    roundTimeoutSec: z.number().positive().default(900),
    /** Evaluate the global model every N rounds (0 = only at the end). */
    evaluateEvery: z.number().int().min(0).default(1),
    evaluationTimeoutSec: z.number().positive().default(300),
    /** A round that ends with fewer than minClients updates is retried this many times in total. */
    maxRoundAttempts: z.number().int().min(1).default(3),
    seed: z.number().int().min(0).default(0),
    strategy: z
      .object({ name: z.literal("fedavg") })
      .strict()
      .default({ name: "fedavg" }),
  })
  .strict();
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
