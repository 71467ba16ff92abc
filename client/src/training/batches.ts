import type * as tfc from "@tensorflow/tfjs-core";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import type { ImageSet } from "../../../shared/src/ml/data/types.js";
import type { LoadedBackend } from "../../../shared/src/ml/tf/backend.js";
import { Rng } from "../../../shared/src/random.js";

type Tf = LoadedBackend["tf"];

/** How many steps a round runs and in which order it visits images. */
export interface StepPlanOptions {
  /** Passes over the selected images; default 1. */
  readonly epochs?: number;
  readonly batchSize: number;
  /** Cap on the round's steps; 0 or absent for no cap. */
  readonly maxSteps?: number;
}

/**
 * The batches of a round: a seeded shuffle per epoch, cut into full batches. The last partial
 * batch of an epoch is dropped (a batch of one or two images gives batch-norm useless
 * statistics), unless there are fewer images than a batch: then each batch is all of them.
 * Pure.
 */
export function planBatches(
  indices: readonly number[],
  options: StepPlanOptions & { seed: number },
): number[][] {
  if (indices.length === 0) return [];
  if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
    throw new FlError(
      ErrorCode.InvalidConfig,
      `batchSize must be a positive integer (got ${options.batchSize})`,
    );
  }
  const epochs = options.epochs ?? 1;
  const perEpoch = Math.max(1, Math.floor(indices.length / options.batchSize));
  const total = options.maxSteps ? Math.min(options.maxSteps, perEpoch * epochs) : perEpoch * epochs;
  const batches: number[][] = [];
  for (let epoch = 0; batches.length < total; epoch++) {
    const order = Rng.derive(options.seed, epoch).shuffle([...indices]);
    for (let b = 0; b < perEpoch && batches.length < total; b++) {
      batches.push(order.slice(b * options.batchSize, (b + 1) * options.batchSize));
    }
  }
  return batches;
}

/** Indices of images with a class label (label >= 0). */
export function labelledIndices(set: ImageSet): number[] {
  const out: number[] = [];
  for (let i = 0; i < set.count; i++) if ((set.labels[i] as number) >= 0) out.push(i);
  return out;
}

export function allIndices(set: ImageSet): number[] {
  return Array.from({ length: set.count }, (_, i) => i);
}

/** [batch, size, size, 1] float32 images of the given indices. */
export function gatherImages(tf: Tf, set: ImageSet, indices: readonly number[]): tfc.Tensor4D {
  const pixels = set.size * set.size;
  const out = new Float32Array(indices.length * pixels);
  indices.forEach((index, row) => {
    out.set(set.images.subarray(index * pixels, (index + 1) * pixels), row * pixels);
  });
  return tf.tensor4d(out, [indices.length, set.size, set.size, 1]);
}

/** [batch, size, size, 1] float32 0/1 opacity masks of the given indices. */
export function gatherMasks(tf: Tf, set: ImageSet, indices: readonly number[]): tfc.Tensor4D {
  const pixels = set.size * set.size;
  const out = new Float32Array(indices.length * pixels);
  indices.forEach((index, row) => {
    const mask = set.masks.subarray(index * pixels, (index + 1) * pixels);
    for (let p = 0; p < pixels; p++) out[row * pixels + p] = mask[p] as number;
  });
  return tf.tensor4d(out, [indices.length, set.size, set.size, 1]);
}

/** Throws a clear error when the data's image size is not the model's. */
export function checkImageSize(set: ImageSet, imageSize: number): void {
  if (set.size !== imageSize) {
    throw new FlError(
      ErrorCode.InvalidConfig,
      `the site's images are ${set.size}x${set.size} but the model expects ${imageSize}x${imageSize}: make the data's image size and model.imageSize equal`,
    );
  }
}
