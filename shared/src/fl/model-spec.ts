import { z } from "zod";

/**
 * The issue-3 reference classifier: stages of plain convolutions, global pooling, a linear head.
 */
export const SmallCnnSpecSchema = z
  .object({
    architecture: z.literal("small-cnn"),
    /** Input images are imageSize x imageSize x 1. */
    imageSize: z.number().int().min(16).max(1024),
    /** Filters per stage; each stage halves the resolution. */
    widths: z.array(z.number().int().min(1).max(1024)).min(1).max(8),
    numClasses: z.number().int().min(2).max(64),
    /** Seed of the weight initialisers: the same seed gives the same initial global model. */
    seed: z.number().int().min(0),
  })
  .strict();
export type SmallCnnSpec = z.infer<typeof SmallCnnSpecSchema>;

/** Encoder presets of the U-Net multi-task network (see resnet.ts for what each one is). */
export const ENCODER_PRESET_NAMES = ["tiny", "resnet18"] as const;
export type EncoderPresetName = (typeof ENCODER_PRESET_NAMES)[number];

/** How much each preset's encoder divides the input resolution; the input size must be a multiple. */
export const ENCODER_TOTAL_STRIDE: Readonly<Record<EncoderPresetName, number>> = { tiny: 16, resnet18: 32 };

/**
 * Which of the paper's training phases the federation's global model is for. Each phase trains a
 * different subset of the same network, so the global model (and its weights manifest) differs:
 * - `multitask`: encoder + U-Net decoder + classification head (outputs class and mask logits);
 * - `moco`: encoder + projection head (the query network of MoCo v2);
 * - `inpainting`: encoder + U-Net decoder with a reconstruction output.
 */
export const MODEL_PHASES = ["multitask", "moco", "inpainting"] as const;
export type ModelPhase = (typeof MODEL_PHASES)[number];

/**
 * The paper's network (Ridzuan et al., MIUA 2022): a ResNet-style encoder shared by a
 * classification head, a U-Net segmentation decoder, and the self-supervised heads.
 */
export const UnetMultitaskSpecSchema = z
  .object({
    architecture: z.literal("unet-multitask"),
    /** `tiny` for CPU simulation and tests, `resnet18` for GPUs. */
    encoder: z.enum(ENCODER_PRESET_NAMES),
    /** Input images are imageSize x imageSize x 1; a multiple of the encoder's total stride (16 or 32). */
    imageSize: z.number().int().min(32).max(1024),
    numClasses: z.number().int().min(2).max(64),
    /** Seed of the weight initialisers: the same seed gives the same initial weights in every phase. */
    seed: z.number().int().min(0),
    /** Output size of the MoCo projection head (MoCo v2: 128). */
    projectionDim: z.number().int().min(8).max(2048).default(128),
    /** Which phase's model `buildModel` returns; default `multitask`. */
    phase: z.enum(MODEL_PHASES).default("multitask"),
  })
  .strict()
  .superRefine((spec, context) => {
    const stride = ENCODER_TOTAL_STRIDE[spec.encoder];
    if (spec.imageSize % stride !== 0) {
      context.addIssue({
        code: "custom",
        path: ["imageSize"],
        message: `the ${spec.encoder} encoder downsamples by ${stride}: imageSize must be a multiple of ${stride} (got ${spec.imageSize})`,
      });
    }
  });
export type UnetMultitaskSpec = z.infer<typeof UnetMultitaskSpecSchema>;

/**
 * What model a federation trains. Sent to every client with each task, so that all sites
 * build the same architecture; the weights then arrive separately.
 */
export const ModelSpecSchema = z.discriminatedUnion("architecture", [
  SmallCnnSpecSchema,
  UnetMultitaskSpecSchema,
]);
export type ModelSpec = z.infer<typeof ModelSpecSchema>;

export const DEFAULT_MODEL_SPEC: ModelSpec = {
  architecture: "small-cnn",
  imageSize: 64,
  widths: [16, 32, 64],
  numClasses: 4,
  seed: 1,
};
