import * as tf from "@tensorflow/tfjs-core";
import type { ImageSet } from "../../../shared/src/ml/data/types.js";

/** Images per forward pass: bounds memory at any image size the analysis runs on. */
export const BATCH = 32;

/** The given images of a set as an [n, size, size, 1] tensor. */
export function imagesTensor(set: ImageSet, indices: readonly number[]): tf.Tensor4D {
  const pixels = set.size * set.size;
  const out = new Float32Array(indices.length * pixels);
  indices.forEach((index, row) => {
    out.set(set.images.subarray(index * pixels, (index + 1) * pixels), row * pixels);
  });
  return tf.tensor4d(out, [indices.length, set.size, set.size, 1]);
}

/** Runs `fn` over the images in batches and concatenates the rows of its 2-d outputs. */
export async function mapBatches(
  set: ImageSet,
  indices: readonly number[],
  fn: (x: tf.Tensor4D) => tf.Tensor,
): Promise<Float32Array> {
  const parts: Float32Array[] = [];
  for (let start = 0; start < indices.length; start += BATCH) {
    const x = imagesTensor(set, indices.slice(start, start + BATCH));
    const y = fn(x);
    parts.push((await y.data()) as Float32Array);
    tf.dispose([x, y]);
  }
  const out = new Float32Array(parts.reduce((sum, p) => sum + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Indices of the labelled images of a set. */
export function labelled(set: ImageSet): number[] {
  const out: number[] = [];
  for (let i = 0; i < set.count; i++) if ((set.labels[i] as number) >= 0) out.push(i);
  return out;
}
