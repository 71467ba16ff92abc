import type { ImageSet } from "../../shared/src/ml/data/types.js";
import { Rng } from "../../shared/src/random.js";

/**
 * A toy image set that both tasks can learn: class c puts a bright square (its opacity mask) in
 * quadrant c of a noisy background. `unlabelled` images get label -1.
 */
export function toyImageSet(options: {
  count: number;
  size: number;
  seed: number;
  unlabelled?: number;
}): ImageSet {
  const { count, size } = options;
  const rng = new Rng(options.seed);
  const pixels = size * size;
  const images = new Float32Array(count * pixels);
  const masks = new Uint8Array(count * pixels);
  const labels = new Int32Array(count);
  const half = size / 2;
  const side = Math.max(2, Math.floor(size / 4));
  for (let i = 0; i < count; i++) {
    const label = i % 4;
    labels[i] = i < (options.unlabelled ?? 0) ? -1 : label;
    const x0 = (label % 2) * half + Math.floor(rng.next() * (half - side));
    const y0 = Math.floor(label / 2) * half + Math.floor(rng.next() * (half - side));
    for (let p = 0; p < pixels; p++) images[i * pixels + p] = 0.2 + 0.1 * rng.next();
    for (let y = y0; y < y0 + side; y++) {
      for (let x = x0; x < x0 + side; x++) {
        images[i * pixels + y * size + x] = 0.8 + 0.1 * rng.next();
        masks[i * pixels + y * size + x] = 1;
      }
    }
  }
  const ids = Array.from({ length: count }, (_, i) => `img${i}`);
  return { size, count, images, labels, masks, imageIds: ids, studyIds: ids, patientIds: ids };
}

/**
 * Images that differ from each other everywhere (three Gaussian blobs of random place, size and
 * brightness on a random background): what instance discrimination (MoCo) can learn to tell apart.
 */
export function blobImageSet(options: { count: number; size: number; seed: number }): ImageSet {
  const { count, size } = options;
  const rng = new Rng(options.seed);
  const pixels = size * size;
  const images = new Float32Array(count * pixels);
  for (let i = 0; i < count; i++) {
    const background = 0.1 + 0.3 * rng.next();
    const blobs = Array.from({ length: 3 }, () => ({
      x: rng.next() * size,
      y: rng.next() * size,
      sigma: size * (0.05 + 0.2 * rng.next()),
      amplitude: 0.6 * rng.next(),
    }));
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        let v = background;
        for (const b of blobs)
          v += b.amplitude * Math.exp(-((x - b.x) ** 2 + (y - b.y) ** 2) / (2 * b.sigma ** 2));
        images[i * pixels + y * size + x] = Math.min(1, v);
      }
    }
  }
  const ids = Array.from({ length: count }, (_, i) => `blob${i}`);
  return {
    size,
    count,
    images,
    labels: new Int32Array(count).fill(-1),
    masks: new Uint8Array(count * pixels),
    imageIds: ids,
    studyIds: ids,
    patientIds: ids,
  };
}
