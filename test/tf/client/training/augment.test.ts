import type * as tfc from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type AugmentParams,
  affineRow,
  applyAugmentation,
  augmentBatch,
  DEFAULT_AUGMENT_OPTIONS,
  gaussianTaps,
  sampleAugmentParams,
} from "../../../../client/src/training/augment.js";
import type { LoadedBackend } from "../../../../shared/src/ml/tf/backend.js";
import { Rng } from "../../../../shared/src/random.js";
import { expectClose, wasmBackend } from "../../../helpers/training.js";

let tf: LoadedBackend["tf"];
beforeAll(async () => {
  tf = await wasmBackend();
});

const SIZE = 16;

/** A deterministic, non-symmetric test image: a gradient plus a bright off-centre block. */
function pattern(count: number): tfc.Tensor4D {
  const values = new Float32Array(count * SIZE * SIZE);
  for (let i = 0; i < count; i++) {
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        const block = x >= 2 && x < 6 && y >= 3 && y < 9 ? 0.5 : 0;
        values[(i * SIZE + y) * SIZE + x] = 0.1 + (0.3 * x) / SIZE + block;
      }
    }
  }
  return tf.tensor4d(values, [count, SIZE, SIZE, 1]);
}

/** No change at all: the whole image as the crop, no rotation, flip, intensity change, noise or blur. */
function identityParams(size: number): AugmentParams {
  const center = (size - 1) / 2;
  return {
    cropWidth: 1,
    cropHeight: 1,
    centerX: center,
    centerY: center,
    rotation: 0,
    flip: false,
    brightness: 0,
    contrast: 1,
    noiseStd: 0,
    blurSigma: 0,
  };
}

function only(overrides: Partial<AugmentParams>): AugmentParams {
  return { ...identityParams(SIZE), ...overrides };
}

describe("parameter sampling", () => {
  it("is deterministic per seed and stays within the configured ranges", () => {
    const a = sampleAugmentParams(new Rng(1), 200, 64);
    expect(sampleAugmentParams(new Rng(1), 200, 64)).toEqual(a);
    expect(sampleAugmentParams(new Rng(2), 200, 64)).not.toEqual(a);
    for (const p of a) {
      const area = p.cropWidth * p.cropHeight;
      expect(area).toBeGreaterThanOrEqual(0.6 * (3 / 4) - 1e-9); // clipped sides can only shrink the area
      expect(area).toBeLessThanOrEqual(1 + 1e-9);
      // The crop lies inside the image.
      expect(p.centerX - (p.cropWidth * 64) / 2).toBeGreaterThanOrEqual(-0.5 - 1e-9);
      expect(p.centerX + (p.cropWidth * 64) / 2).toBeLessThanOrEqual(63.5 + 1e-9);
      expect(Math.abs(p.rotation)).toBeLessThanOrEqual((10 * Math.PI) / 180);
      expect(p.flip).toBe(false); // off by default: anatomy is not mirror-symmetric
      expect(Math.abs(p.brightness)).toBeLessThanOrEqual(0.1);
      expect(Math.abs(p.contrast - 1)).toBeLessThanOrEqual(0.2);
      expect(p.blurSigma === 0 || (p.blurSigma >= 0.1 && p.blurSigma <= 1.5)).toBe(true);
    }
    const blurred = a.filter((p) => p.blurSigma > 0).length;
    expect(blurred).toBeGreaterThan(70); // probability 1/2 of 200
    expect(blurred).toBeLessThan(130);
  });

  it("flips about half the images when flips are enabled", () => {
    const flips = sampleAugmentParams(new Rng(3), 200, 64, {
      ...DEFAULT_AUGMENT_OPTIONS,
      horizontalFlip: true,
    }).filter((p) => p.flip).length;
    expect(flips).toBeGreaterThan(70);
    expect(flips).toBeLessThan(130);
  });

  it("refuses out-of-range options", () => {
    expect(() =>
      sampleAugmentParams(new Rng(1), 1, 64, { ...DEFAULT_AUGMENT_OPTIONS, cropScale: [0.8, 1.2] }),
    ).toThrow(/cropScale/);
  });
});

describe("affine rows", () => {
  it("are the identity for identity parameters", () => {
    expectClose(affineRow(identityParams(SIZE), SIZE), [1, 0, 0, 0, 1, 0, 0, 0], 12);
  });

  it("map the output's centre and corners onto the crop's", () => {
    // Half-size crop centred on (4.5, 10.5): the output centre (7.5, 7.5) reads (4.5, 10.5), the
    // output corner (0, 0) reads 7.5 * 0.5 = 3.75 pixels up-left of the crop centre.
    const [a0, a1, a2, b0, b1, b2] = affineRow(
      only({ cropWidth: 0.5, cropHeight: 0.5, centerX: 4.5, centerY: 10.5 }),
      SIZE,
    );
    const map = (x: number, y: number) => [a0! * x + a1! * y + a2!, b0! * x + b1! * y + b2!];
    expect(map(7.5, 7.5)).toEqual([4.5, 10.5]);
    expect(map(0, 0)).toEqual([0.75, 6.75]);
  });

  it("rotate about the crop centre", () => {
    // 90 degrees: output (x, y) reads centre + R * (x - c, y - c); (15, 7.5) -> (7.5, 15).
    const [a0, a1, a2, b0, b1, b2] = affineRow(only({ rotation: Math.PI / 2 }), SIZE);
    expect(a0! * 15 + a1! * 7.5 + a2!).toBeCloseTo(7.5, 9);
    expect(b0! * 15 + b1! * 7.5 + b2!).toBeCloseTo(15, 9);
  });
});

describe("applying augmentations", () => {
  it("leaves images and masks unchanged with identity parameters", () => {
    const images = pattern(2);
    const masks = tf.cast(tf.greater(images, 0.5), "float32") as tfc.Tensor4D;
    const out = applyAugmentation(tf, images, [identityParams(SIZE), identityParams(SIZE)], {
      noiseSeed: 1,
      masks,
    });
    expect(Array.from(out.images.dataSync())).toEqual(Array.from(images.dataSync()));
    expect(Array.from(out.masks?.dataSync() ?? [])).toEqual(Array.from(masks.dataSync()));
    tf.dispose([images, masks, out.images, out.masks as tfc.Tensor]);
  });

  it("mirrors left-right exactly when flipping", () => {
    const images = pattern(1);
    const out = applyAugmentation(tf, images, [only({ flip: true })], { noiseSeed: 1 });
    const expected = tf.reverse(images, 2);
    expect(Array.from(out.images.dataSync())).toEqual(Array.from(expected.dataSync()));
    tf.dispose([images, out.images, expected]);
  });

  it("moves masks with the image geometry", () => {
    // Masks = the bright block; after a crop + rotation they must still mark the bright pixels.
    const images = pattern(1);
    const masks = tf.cast(tf.greater(images, 0.45), "float32") as tfc.Tensor4D;
    const params = only({ cropWidth: 0.75, cropHeight: 0.75, centerX: 6, centerY: 7, rotation: 0.1 });
    const out = applyAugmentation(tf, images, [params], { noiseSeed: 1, masks });
    const image = out.images.dataSync();
    const mask = out.masks?.dataSync() ?? [];
    let agree = 0;
    let marked = 0;
    for (let i = 0; i < image.length; i++) {
      if ((image[i] as number) > 0.45 === (mask[i] === 1)) agree++;
      marked += mask[i] as number;
    }
    expect(marked).toBeGreaterThan(20); // the block is magnified, not lost
    expect(agree / image.length).toBeGreaterThan(0.97); // only edge pixels may disagree
    tf.dispose([images, masks, out.images, out.masks as tfc.Tensor]);
  });

  it("applies contrast about the image mean, then brightness", () => {
    // Pixels 0.2 and 0.4 (mean 0.3), contrast 1.5, brightness 0.1: 0.25 and 0.55.
    const images = tf.tensor4d([0.2, 0.4, 0.2, 0.4], [1, 2, 2, 1]);
    const params = { ...identityParams(2), contrast: 1.5, brightness: 0.1 };
    const out = applyAugmentation(tf, images, [params], { noiseSeed: 1 });
    expectClose(out.images.dataSync(), [0.25, 0.55, 0.25, 0.55], 6);
    tf.dispose([images, out.images]);
  });

  it("blurs with normalised taps: a flat image stays flat, an edge softens", () => {
    const taps = gaussianTaps(1);
    expect(taps.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(taps).toEqual([...taps].reverse());
    expect(gaussianTaps(0)).toEqual([0, 0, 0, 1, 0, 0, 0]);
    const flat = tf.fill([1, SIZE, SIZE, 1], 0.4) as tfc.Tensor4D;
    const flatOut = applyAugmentation(tf, flat, [only({ blurSigma: 1.2 })], { noiseSeed: 1 });
    for (const v of flatOut.images.dataSync()) expect(v).toBeCloseTo(0.4, 5);
    const images = pattern(1);
    const out = applyAugmentation(tf, images, [only({ blurSigma: 1.2 })], { noiseSeed: 1 });
    const before = images.dataSync();
    const after = out.images.dataSync();
    // Just inside the block's left edge (x = 2, y = 5) the blur mixes in the darker outside.
    expect(after[5 * SIZE + 2] as number).toBeLessThan((before[5 * SIZE + 2] as number) - 0.05);
    tf.dispose([flat, flatOut.images, images, out.images]);
  });

  it("adds seeded noise and clips to [0, 1]", () => {
    const images = pattern(2);
    const params = [only({ noiseStd: 0.5 }), only({ noiseStd: 0.5 })];
    const a = applyAugmentation(tf, images, params, { noiseSeed: 9 }).images;
    const b = applyAugmentation(tf, images, params, { noiseSeed: 9 }).images;
    const c = applyAugmentation(tf, images, params, { noiseSeed: 10 }).images;
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    expect(Array.from(a.dataSync())).not.toEqual(Array.from(c.dataSync()));
    expect(Math.min(...a.dataSync())).toBe(0);
    expect(Math.max(...a.dataSync())).toBe(1);
    tf.dispose([images, a, b, c]);
  });

  it("is reproducible from a seed and frees its intermediates", () => {
    const images = pattern(4);
    const before = tf.memory().numTensors;
    const a = augmentBatch(tf, images, new Rng(5)).images;
    const b = augmentBatch(tf, images, new Rng(5)).images;
    expect(tf.memory().numTensors).toBe(before + 2);
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    expect(a.shape).toEqual([4, SIZE, SIZE, 1]);
    tf.dispose([images, a, b]);
  });
});
