import { z } from "zod";
import { ModelSpecSchema } from "./model-spec.js";

/** What a phase trains: supervised classification, self-supervised pre-training, or multi-task. */
export const TASK_KINDS = ["classify", "moco", "inpaint", "multitask"] as const;
export type TaskKindName = (typeof TASK_KINDS)[number];

/** Optimisation hyper-parameters every local trainer understands. */
export const TrainHyperSchema = z
  .object({
    epochs: z.number().int().min(1).max(1000).default(1),
    batchSize: z.number().int().min(1).max(4096).default(16),
    learningRate: z.number().positive().max(10).default(1e-3),
    /** Inverse class frequency weights counter the 28/47/17/8 % imbalance. */
    classWeighting: z.enum(["none", "inverse-frequency"]).default("inverse-frequency"),
    /** Caps local steps per round so that sites with more data do not take much longer. 0 = no cap. */
    maxStepsPerRound: z.number().int().min(0).default(0),
    /** Local optimiser (unet-multitask trainers; the small CNN trains with Adam). */
    optimizer: z.enum(["adam", "sgd"]).default("adam"),
    /** SGD momentum. */
    momentum: z.number().min(0).max(1).default(0.9),
    /** `cosine`: decays from learningRate to 0 over the whole phase, after `warmupSteps` of linear warm-up. */
    schedule: z.enum(["constant", "cosine"]).default("constant"),
    warmupSteps: z.number().int().min(0).default(0),
    /** Decoupled weight decay on kernels. */
    weightDecay: z.number().min(0).default(0),
  })
  .strict();
export type TrainHyper = z.infer<typeof TrainHyperSchema>;

/**
 * The task a coordinator sends with a training round (PullTask's config_json). The coordinator
 * writes it from the plan; the hospital validates it before touching its data.
 */
export const TrainTaskConfigSchema = z.object({
  model: ModelSpecSchema,
  task: z.enum(TASK_KINDS),
  train: TrainHyperSchema,
  options: z.record(z.string(), z.unknown()).default({}),
  local: z.array(z.string()).default([]),
  labelFraction: z.number().gt(0).max(1).default(1),
  fedproxMu: z.number().min(0).default(0),
  seed: z.number().int(),
  roundInPhase: z.number().int().min(1).default(1),
  phaseRounds: z.number().int().min(1).default(1),
});
export type TrainTaskConfig = z.infer<typeof TrainTaskConfigSchema>;

export const EvaluateTaskConfigSchema = z.object({
  model: ModelSpecSchema,
  split: z.enum(["val", "test"]).default("test"),
  task: z.enum(TASK_KINDS).default("classify"),
});
export type EvaluateTaskConfig = z.infer<typeof EvaluateTaskConfigSchema>;
