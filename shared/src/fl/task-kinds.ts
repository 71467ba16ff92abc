import { z } from "zod";
import type { ModelPhase, ModelSpec } from "./model-spec.js";

/**
 * The task kinds a phase can train, each declared once: its options (validated where the plan is
 * loaded and again, as part of the task, where it runs), whether it learns from labels, whether
 * its model is evaluated as a classifier, and which network of the unet-multitask model (which
 * heads) it trains. The coordinator and the hospital both read this table; the hospital's trainer
 * of each kind is registered in `client/src/training/tasks/index.ts`.
 *
 * Omitted options take the trainers' documented defaults (docs/methods.md).
 */

const ClassifyOptionsSchema = z
  .object({
    /** For the unet-multitask model: focal loss instead of weighted cross-entropy. */
    classificationLoss: z.enum(["cross-entropy", "focal"]).optional(),
    focalGamma: z.number().min(0).optional(),
    /** Linear probe: the encoder (weights and batch-norm statistics) stays frozen. */
    mode: z.enum(["fine-tune", "linear-probe"]).optional(),
    augment: z.boolean().default(true),
  })
  .strict();

const MultitaskOptionsSchema = ClassifyOptionsSchema.extend({
  /** λ of cls + λ·(BCE + soft Dice); default 2/3 (≈ 0.6 classification, 0.4 segmentation). */
  segmentationWeight: z.number().min(0).optional(),
}).strict();

const MocoOptionsSchema = z
  .object({
    temperature: z.number().positive().optional(),
    momentum: z.number().min(0).max(1).optional(),
    queueSize: z.number().int().min(1).optional(),
    shuffleBnGroups: z.number().int().min(1).optional(),
  })
  .strict();

const InpaintingOptionsSchema = z
  .object({
    loss: z.enum(["l1", "l2"]).optional(),
    fill: z.enum(["mean", "zero"]).optional(),
    augment: z.boolean().default(true),
  })
  .strict();

/** What one task kind is, as both sides need to know it. */
export interface TaskKindDeclaration<Name extends string, Options extends z.ZodType> {
  readonly name: Name;
  /** The kind's `options` in a phase (and in each task). */
  readonly options: Options;
  /** Learns from labels: the phase's label fraction applies. Self-supervised kinds use every image. */
  readonly supervised: boolean;
  /** Its model has a classification head: the plan's evaluations run after its rounds. */
  readonly evaluates: boolean;
  /** The unet-multitask network it trains: which heads the model carries in its phase. */
  readonly network: ModelPhase;
  /** Architectures with a trainer for this kind. */
  readonly architectures: readonly ModelSpec["architecture"][];
}

function declare<const Name extends string, Options extends z.ZodType>(
  declaration: TaskKindDeclaration<Name, Options>,
): TaskKindDeclaration<Name, Options> {
  return Object.freeze(declaration);
}

export const CLASSIFY = declare({
  name: "classify",
  options: ClassifyOptionsSchema,
  supervised: true,
  evaluates: true,
  network: "multitask",
  architectures: ["small-cnn", "unet-multitask"],
});

export const MULTITASK = declare({
  name: "multitask",
  options: MultitaskOptionsSchema,
  supervised: true,
  evaluates: true,
  network: "multitask",
  architectures: ["unet-multitask"],
});

export const MOCO = declare({
  name: "moco",
  options: MocoOptionsSchema,
  supervised: false,
  evaluates: false,
  network: "moco",
  architectures: ["unet-multitask"],
});

export const INPAINTING = declare({
  name: "inpainting",
  options: InpaintingOptionsSchema,
  supervised: false,
  evaluates: false,
  network: "inpainting",
  architectures: ["unet-multitask"],
});

/**
 * Every task kind: the one registration of a new kind. The task schema (task.ts) is built from
 * this list, and the hospital's trainer registry must then name a trainer for the new kind.
 */
export const TASK_KIND_LIST = [CLASSIFY, MULTITASK, MOCO, INPAINTING] as const;

type KindList = typeof TASK_KIND_LIST;
export type TaskKindName = KindList[number]["name"];

/** The declarations by name. */
export const TASK_KIND_DECLARATIONS = Object.fromEntries(TASK_KIND_LIST.map((k) => [k.name, k])) as {
  readonly [K in TaskKindName]: Extract<KindList[number], { name: K }>;
};
export const TASK_KINDS = TASK_KIND_LIST.map((k) => k.name) as unknown as [TaskKindName, ...TaskKindName[]];

/** The parsed options of a kind. */
export type TaskOptions<K extends TaskKindName> = z.infer<(typeof TASK_KIND_DECLARATIONS)[K]["options"]>;

export function taskKind<K extends TaskKindName>(name: K): (typeof TASK_KIND_DECLARATIONS)[K] {
  return TASK_KIND_DECLARATIONS[name];
}

/** The network a task kind trains on a model (the small CNN has one network for everything). */
export function networkFor(model: ModelSpec, kind: TaskKindName): ModelSpec {
  if (model.architecture === "small-cnn") return model;
  return { ...model, phase: taskKind(kind).network };
}

/** Problems with a phase's options, as "key: message" strings (empty when valid). */
export function taskOptionProblems(kind: TaskKindName, options: unknown): string[] {
  const result = taskKind(kind).options.safeParse(options);
  return result.success
    ? []
    : result.error.issues.map((i) => `${i.path.join(".") || "(options)"}: ${i.message}`);
}
