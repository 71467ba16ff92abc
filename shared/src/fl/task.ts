import { z } from "zod";
import { ErrorCode, errorMessage, FlError } from "../errors.js";
import { DEFAULT_BOOTSTRAP_REPLICATES, MAX_BOOTSTRAP_REPLICATES } from "../metrics/evaluation-statistics.js";
import { ModelSpecSchema } from "./model-spec.js";
import { StageConfigSchema } from "./stages/index.js";
import { TASK_KIND_LIST, TASK_KINDS, type TaskKindDeclaration } from "./task-kinds.js";

/**
 * The task contract: what the coordinator asks a hospital to do, in one schema. The coordinator
 * builds every task through `buildTrainTask` / `buildEvaluateTask` (so it can never send what
 * a client would refuse), the transports carry it as JSON, and the hospital parses it once with
 * `parseTaskSpec` before touching any data.
 */

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

/** The parts of a training task every kind has. */
const trainTaskFields = {
  /** The network to build (the phase's network of the federation's model). */
  model: ModelSpecSchema,
  train: TrainHyperSchema,
  /** Glob patterns of tensors that stay at the hospital this phase (not uploaded, not replaced). */
  local: z.array(z.string().min(1)).default([]),
  /** Fraction of the site's labels the supervised losses may use. */
  labelFraction: z.number().gt(0).max(1).default(1),
  /** FedProx proximal weight μ (0 = plain local training). */
  fedproxMu: z.number().min(0).default(0),
  /** Seed of this round's local randomness (batch order, augmentation, label subset). */
  seed: z.number().int(),
  /** 1-based round within the phase, and the phase's length: a learning-rate schedule spans the phase. */
  roundInPhase: z.number().int().min(1).default(1),
  phaseRounds: z.number().int().min(1).default(1),
  /** The phase's update pipeline; the client runs the stages that have a client part. */
  pipeline: z.array(StageConfigSchema).default([]),
  /** What the round promises about privacy; a site's privacy policy checks it before training. */
  privacy: z
    .strictObject({
      /** How many sites were sent this round's task (the cohort the update is aggregated in). */
      cohort: z.number().int().min(0).default(0),
      /** Whether the coordinator will see only the cohort's sum (secure aggregation). */
      secureAggregation: z.boolean().default(false),
      /** Differential privacy of the round, with the accountant's ε before and after it. */
      dp: z
        .strictObject({
          mode: z.enum(["central", "distributed"]),
          noiseMultiplier: z.number().min(0),
          clipNorm: z.number().positive(),
          delta: z.number().gt(0).lt(1),
          epsilonBefore: z.number().min(0),
          epsilonAfter: z.number().min(0),
          epsilonBudget: z.number().positive().optional(),
        })
        .optional(),
    })
    .prefault({}),
};

function trainTaskOf<const Name extends string, Options extends z.ZodType>(
  kind: TaskKindDeclaration<Name, Options>,
) {
  return z.strictObject({
    ...trainTaskFields,
    task: z.literal(kind.name),
    options: kind.options.prefault({} as never),
  });
}

type TrainTaskVariants<Kinds extends readonly unknown[]> = {
  readonly [I in keyof Kinds]: Kinds[I] extends TaskKindDeclaration<infer Name, infer Options>
    ? ReturnType<typeof trainTaskOf<Name, Options>>
    : never;
};

/** A training task: one variant per declared task kind, told apart by `task`. */
export const TrainTaskSchema = z.discriminatedUnion(
  "task",
  TASK_KIND_LIST.map((kind: TaskKindDeclaration<string, z.ZodType>) =>
    trainTaskOf(kind),
  ) as unknown as TrainTaskVariants<typeof TASK_KIND_LIST>,
);
export type TrainTask = z.infer<typeof TrainTaskSchema>;
/** A training task as the coordinator writes it (defaults optional). */
export type TrainTaskInput = z.input<typeof TrainTaskSchema>;

/** The training task of one kind. */
export type TrainTaskOf<K extends TrainTask["task"]> = Extract<TrainTask, { task: K }>;

/** An evaluation task: score the global model on a held-out split. */
export const EvaluateTaskSchema = z.strictObject({
  model: ModelSpecSchema,
  split: z.enum(["val", "test"]).default("test"),
  /** The kind of the phase whose model is evaluated. */
  task: z.enum(TASK_KINDS).default("classify"),
  /** Stratified bootstrap resamples of the split the site sends with its statistics (0: none). */
  bootstrap: z.number().int().min(0).max(MAX_BOOTSTRAP_REPLICATES).default(DEFAULT_BOOTSTRAP_REPLICATES),
  /** Also scan temperatures on the site's validation split (federated temperature scaling). */
  temperatureScaling: z.boolean().default(false),
  /** The round's seed; each site mixes in its own id, so its resamples are its own and reproducible. */
  seed: z.number().int().min(0).max(0xffff_ffff).default(0),
});
export type EvaluateTask = z.infer<typeof EvaluateTaskSchema>;
export type EvaluateTaskInput = z.input<typeof EvaluateTaskSchema>;

/** What a task asks for, by kind of work. */
export type TaskSpec =
  | { readonly kind: "train"; readonly spec: TrainTask }
  | { readonly kind: "evaluate"; readonly spec: EvaluateTask };

/** A task as it travels: which round and model it is for, and what to do. */
export type FlTask = TaskEnvelope & TaskSpec;

export interface TaskEnvelope {
  readonly taskId: string;
  /** 1-based global round. */
  readonly round: number;
  /** The phase's name in the plan. */
  readonly phase: string;
  readonly modelVersion: number;
  readonly modelSha256: string;
  readonly modelBytes: number;
  /** Wall-clock time (ms since the epoch) after which the coordinator stops waiting. */
  readonly deadlineMs: number;
}

/** Validates a training task on the coordinator, filling defaults; throws on a bug in the builder. */
export function buildTrainTask(input: TrainTaskInput): TrainTask {
  return TrainTaskSchema.parse(input);
}

export function buildEvaluateTask(input: EvaluateTaskInput): EvaluateTask {
  return EvaluateTaskSchema.parse(input);
}

/** The JSON a transport carries for a task's spec. */
export function encodeTaskSpec(task: TaskSpec): string {
  return JSON.stringify(task.spec);
}

/**
 * Parses a task's spec as received. FlError(InvalidArgument) names every problem and suggests
 * the usual cause (a client older than its coordinator).
 */
export function parseTaskSpec(kind: string, json: string): TaskSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (error) {
    throw new FlError(ErrorCode.InvalidArgument, `the task's config is not JSON: ${errorMessage(error)}`, {
      cause: error,
    });
  }
  if (kind === "train") return { kind, spec: parseWith(TrainTaskSchema, raw) };
  if (kind === "evaluate") return { kind, spec: parseWith(EvaluateTaskSchema, raw) };
  throw new FlError(
    ErrorCode.InvalidArgument,
    `the coordinator sent a task of kind "${kind}"; this client runs "train" and "evaluate" tasks (is it older than the coordinator?)`,
  );
}

function parseWith<S extends z.ZodType>(schema: S, raw: unknown): z.infer<S> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
  throw new FlError(
    ErrorCode.InvalidArgument,
    `the coordinator sent a task this client cannot run (${problems}); is the client older than the coordinator?`,
  );
}
