import type * as tfc from "@tensorflow/tfjs-core";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import type { ImageSet } from "../../../shared/src/ml/data/types.js";
import type { InpaintingNetwork } from "../../../shared/src/ml/model/networks.js";
import { trainableVariables } from "../../../shared/src/ml/model/networks.js";
import type { LoadedBackend } from "../../../shared/src/ml/tf/backend.js";
import { Rng } from "../../../shared/src/random.js";
import { type AugmentOptions, augmentBatch, LIGHT_AUGMENT_OPTIONS } from "./augment.js";
import { allIndices, checkImageSize, gatherImages, planBatches } from "./batches.js";
import { maskedReconstructionLoss } from "./losses.js";
import { isDecayedWeight, ScheduledOptimizer } from "./optimizer.js";
import { type LocalRoundOptions, type LocalRoundResult, runSteps } from "./round.js";

type Tf = LoadedBackend["tf"];

/** How the random rectangles hiding parts of an image are drawn. */
export interface InpaintingMaskOptions {
  /** Rectangles per image, uniform in [min, max] (inclusive). */
  readonly rectangles: readonly [number, number];
  /** Each side, as a fraction of the image side, uniform in [min, max]; at least one pixel. */
  readonly sideFraction: readonly [number, number];
}

/** 1-3 rectangles of 10-30 % of the side: at most ~27 % of an image hidden. */
export const DEFAULT_INPAINTING_MASKS: InpaintingMaskOptions = {
  rectangles: [1, 3],
  sideFraction: [0.1, 0.3],
};

/** A rectangle in pixels: columns x .. x + width - 1, rows y .. y + height - 1. */
export interface PixelRect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

function checkMaskOptions(size: number, options: InpaintingMaskOptions): void {
  const [rMin, rMax] = options.rectangles;
  const [fMin, fMax] = options.sideFraction;
  if (!Number.isInteger(rMin) || !Number.isInteger(rMax) || rMin < 1 || rMax < rMin) {
    throw new FlError(
      ErrorCode.InvalidConfig,
      `inpainting rectangles [${rMin}, ${rMax}] must be integers with 1 <= min <= max`,
    );
  }
  if (!(fMin > 0 && fMin <= fMax && fMax <= 1)) {
    throw new FlError(
      ErrorCode.InvalidConfig,
      `inpainting sideFraction [${fMin}, ${fMax}] must satisfy 0 < min <= max <= 1`,
    );
  }
  if (!Number.isInteger(size) || size < 1)
    throw new FlError(ErrorCode.InvalidArgument, `image size ${size} must be a positive integer`);
}

/** The rectangles of `count` images, each fully inside a size x size image. Pure given `rng`. */
export function sampleInpaintingRects(
  rng: Rng,
  count: number,
  size: number,
  options: InpaintingMaskOptions = DEFAULT_INPAINTING_MASKS,
): PixelRect[][] {
  checkMaskOptions(size, options);
  const [rMin, rMax] = options.rectangles;
  const [fMin, fMax] = options.sideFraction;
  const side = () => Math.max(1, Math.min(size, Math.round((fMin + (fMax - fMin) * rng.next()) * size)));
  return Array.from({ length: count }, () => {
    const n = rMin + Math.floor(rng.next() * (rMax - rMin + 1));
    return Array.from({ length: n }, () => {
      const width = side();
      const height = side();
      return {
        x: Math.floor(rng.next() * (size - width + 1)),
        y: Math.floor(rng.next() * (size - height + 1)),
        width,
        height,
      };
    });
  });
}

/** Rasterises per-image rectangles into n x size x size masks, 1 = hidden (overlaps count once). */
export function rasterizeRects(rects: readonly (readonly PixelRect[])[], size: number): Uint8Array {
  const masks = new Uint8Array(rects.length * size * size);
  rects.forEach((imageRects, image) => {
    const base = image * size * size;
    for (const r of imageRects) {
      for (let row = r.y; row < r.y + r.height; row++)
        masks.fill(1, base + row * size + r.x, base + row * size + r.x + r.width);
    }
  });
  return masks;
}

/** Random rectangular inpainting masks, n x size x size row-major, 1 = hidden. Seeded by `rng`. */
export function sampleInpaintingMasks(
  rng: Rng,
  n: number,
  size: number,
  options: InpaintingMaskOptions = DEFAULT_INPAINTING_MASKS,
): Uint8Array {
  return rasterizeRects(sampleInpaintingRects(rng, n, size, options), size);
}

/** Options of an inpainting round. */
export interface InpaintingRoundOptions extends LocalRoundOptions {
  readonly masks?: InpaintingMaskOptions;
  /** L1 (default) or L2 error on the hidden pixels. */
  readonly loss?: "l1" | "l2";
  /** What hidden pixels are replaced by: the image's mean (default) or 0. */
  readonly fill?: "mean" | "zero";
  /** Augmentations before masking; default LIGHT_AUGMENT_OPTIONS, false for none. */
  readonly augment?: AugmentOptions | false;
}

/**
 * One round of inpainting pre-training: random rectangles of each image are hidden, the
 * encoder-decoder reconstructs the image, and the loss is the error on the hidden pixels only
 * (normalised by their number). Trains encoder and decoder together; uses every image (labels
 * are not needed).
 */
export async function trainInpaintingRound(
  tf: Tf,
  network: InpaintingNetwork,
  images: ImageSet,
  options: InpaintingRoundOptions,
): Promise<LocalRoundResult> {
  checkImageSize(images, network.layers.spec.imageSize);
  if (images.count === 0) throw new FlError(ErrorCode.DataError, "this site has no training images");
  const batches = planBatches(allIndices(images), options);
  const variables = trainableVariables(network.model);
  const decayed = trainableVariables(network.model, isDecayedWeight);
  const optimizer = new ScheduledOptimizer(tf, options.optimizer, options.firstStep);
  const augment = options.augment === undefined ? LIGHT_AUGMENT_OPTIONS : options.augment;
  const size = images.size;
  try {
    const metrics = await runSteps(
      batches,
      (batch, index) => {
        const rng = Rng.derive(options.seed, index, 0x1a7);
        const hidden = sampleInpaintingMasks(rng, batch.length, size, options.masks);
        return tf.tidy(() => {
          const raw = gatherImages(tf, images, batch);
          const target = augment ? augmentBatch(tf, raw, rng, { augment }).images : raw;
          const mask = tf.tensor4d(Float32Array.from(hidden), [batch.length, size, size, 1]);
          const fill = options.fill === "zero" ? tf.zerosLike(target) : tf.mean(target, [1, 2, 3], true);
          const input = tf.add(tf.mul(target, tf.sub(1, mask)), tf.mul(fill, mask)) as tfc.Tensor4D;
          const learningRate = optimizer.learningRate;
          const cost = optimizer.minimize(
            () => {
              const { reconstruction } = network.run(input, { training: true });
              return maskedReconstructionLoss(reconstruction, target, mask, options.loss ?? "l1");
            },
            variables,
            decayed,
          );
          return { loss: cost.dataSync()[0] as number, learningRate };
        });
      },
      options,
    );
    return { numExamples: images.count, metrics };
  } finally {
    optimizer.dispose();
  }
}
