import { z } from "zod";
import type { TaskKindName } from "./task-config.js";

/**
 * The `options` of each task kind, validated where the plan is loaded (coordinator) and again
 * where the task runs (hospital). Omitted options take the trainers' documented defaults
 * (docs/methods.md).
 */
export const ClassifyOptionsSchema = z
  .object({
    /** For the unet-multitask model: focal loss instead of weighted cross-entropy. */
    classificationLoss: z.enum(["cross-entropy", "focal"]).optional(),
    focalGamma: z.number().min(0).optional(),
    /** Linear probe: the encoder (weights and batch-norm statistics) stays frozen. */
    mode: z.enum(["fine-tune", "linear-probe"]).optional(),
    augment: z.boolean().default(true),
  })
  .strict();

export const MultitaskOptionsSchema = ClassifyOptionsSchema.extend({
  /** λ of cls + λ·(BCE + soft Dice); default 2/3 (≈ 0.6 classification, 0.4 segmentation). */
  segmentationWeight: z.number().min(0).optional(),
}).strict();

export const MocoOptionsSchema = z
  .object({
    temperature: z.number().positive().optional(),
    momentum: z.number().min(0).max(1).optional(),
    queueSize: z.number().int().min(1).optional(),
    shuffleBnGroups: z.number().int().min(1).optional(),
  })
  .strict();

export const InpaintOptionsSchema = z
  .object({
    loss: z.enum(["l1", "l2"]).optional(),
    fill: z.enum(["mean", "zero"]).optional(),
    augment: z.boolean().default(true),
  })
  .strict();

const SCHEMAS: Readonly<Record<TaskKindName, z.ZodType>> = {
  classify: ClassifyOptionsSchema,
  multitask: MultitaskOptionsSchema,
  moco: MocoOptionsSchema,
  inpaint: InpaintOptionsSchema,
};

/** Problems with a phase's options, as "key: message" strings (empty when valid). */
export function taskOptionProblems(task: TaskKindName, options: unknown): string[] {
  const result = SCHEMAS[task].safeParse(options);
  return result.success
    ? []
    : result.error.issues.map((i) => `${i.path.join(".") || "(options)"}: ${i.message}`);
}
