import { z } from "zod";

/**
 * What model a federation trains. Sent to every client with each task, so that all sites
 * build the same architecture; the weights then arrive separately.
 */
export const ModelSpecSchema = z
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
export type ModelSpec = z.infer<typeof ModelSpecSchema>;

export const DEFAULT_MODEL_SPEC: ModelSpec = {
  architecture: "small-cnn",
  imageSize: 64,
  widths: [16, 32, 64],
  numClasses: 4,
  seed: 1,
};
