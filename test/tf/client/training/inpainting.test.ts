import { beforeAll, describe, expect, it } from "vitest";
import {
  rasterizeRects,
  sampleInpaintingMasks,
  sampleInpaintingRects,
  trainInpaintingRound,
} from "../../../../client/src/training/inpainting.js";
import { buildInpaintingNetwork } from "../../../../shared/src/ml/model/index.js";
import type { LoadedBackend } from "../../../../shared/src/ml/tf/backend.js";
import { Rng } from "../../../../shared/src/random.js";
import { toyImageSet } from "../../../helpers/synthetic-images.js";
import { tinySpec, wasmBackend } from "../../../helpers/training.js";

let tf: LoadedBackend["tf"];
beforeAll(async () => {
  tf = await wasmBackend();
});

describe("inpainting masks", () => {
  it("rasterise rectangles as their union", () => {
    // Two 2x2 squares overlapping in one pixel on a 4x4 image: 4 + 4 - 1 = 7 pixels.
    const masks = rasterizeRects(
      [
        [
          { x: 0, y: 0, width: 2, height: 2 },
          { x: 1, y: 1, width: 2, height: 2 },
        ],
        [],
      ],
      4,
    );
    expect(Array.from(masks.subarray(0, 16))).toEqual([1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
    expect(masks.subarray(16).every((v) => v === 0)).toBe(true);
  });

  it("draw the configured number of rectangles, sizes inside the range, all within the image", () => {
    const size = 40;
    const options = { rectangles: [2, 4] as const, sideFraction: [0.1, 0.25] as const };
    const rects = sampleInpaintingRects(new Rng(4), 300, size, options);
    const counts = new Set<number>();
    for (const image of rects) {
      counts.add(image.length);
      for (const r of image) {
        for (const side of [r.width, r.height]) {
          expect(side).toBeGreaterThanOrEqual(4); // round(0.1 * 40)
          expect(side).toBeLessThanOrEqual(10); // round(0.25 * 40)
        }
        expect(r.x).toBeGreaterThanOrEqual(0);
        expect(r.y).toBeGreaterThanOrEqual(0);
        expect(r.x + r.width).toBeLessThanOrEqual(size);
        expect(r.y + r.height).toBeLessThanOrEqual(size);
      }
    }
    expect([...counts].sort()).toEqual([2, 3, 4]);
  });

  it("are seeded 0/1 masks whose hidden area lies between the largest rectangle and the sum of all", () => {
    const size = 32;
    const masks = sampleInpaintingMasks(new Rng(9), 50, size);
    expect(sampleInpaintingMasks(new Rng(9), 50, size)).toEqual(masks);
    expect(sampleInpaintingMasks(new Rng(10), 50, size)).not.toEqual(masks);
    const rects = sampleInpaintingRects(new Rng(9), 50, size);
    rects.forEach((image, i) => {
      const mask = masks.subarray(i * size * size, (i + 1) * size * size);
      expect(mask.every((v) => v === 0 || v === 1)).toBe(true);
      const hidden = mask.reduce((a, b) => a + b, 0);
      const areas = image.map((r) => r.width * r.height);
      expect(hidden).toBeGreaterThanOrEqual(Math.max(...areas));
      expect(hidden).toBeLessThanOrEqual(areas.reduce((a, b) => a + b, 0));
    });
  });

  it("refuse impossible options", () => {
    expect(() =>
      sampleInpaintingMasks(new Rng(1), 1, 32, { rectangles: [0, 2], sideFraction: [0.1, 0.2] }),
    ).toThrow(/rectangles/);
    expect(() =>
      sampleInpaintingMasks(new Rng(1), 1, 32, { rectangles: [1, 2], sideFraction: [0.5, 1.5] }),
    ).toThrow(/sideFraction/);
  });
});

describe("an inpainting round", () => {
  it("lowers the reconstruction loss on a repeated batch and leaks no tensor", async () => {
    const network = buildInpaintingNetwork(tinySpec());
    const images = toyImageSet({ count: 8, size: 32, seed: 2 });
    const losses: number[] = [];
    const before = tf.memory().numTensors;
    const result = await trainInpaintingRound(tf, network, images, {
      batchSize: 8,
      epochs: 12,
      seed: 1,
      optimizer: { kind: "adam", learningRate: 3e-3 },
      augment: false,
      onStep: (_, values) => losses.push(values.loss as number),
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(result.numExamples).toBe(8);
    expect(result.metrics.steps).toBe(12);
    expect(losses).toHaveLength(12);
    // Masks differ per step, so compare the first and last thirds.
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    expect(mean(losses.slice(-4))).toBeLessThan(0.7 * mean(losses.slice(0, 4)));
    network.dispose();
  });

  it("refuses images of another size than the model's", async () => {
    const network = buildInpaintingNetwork(tinySpec());
    const images = toyImageSet({ count: 4, size: 16, seed: 2 });
    await expect(
      trainInpaintingRound(tf, network, images, {
        batchSize: 4,
        seed: 1,
        optimizer: { kind: "adam", learningRate: 1e-3 },
      }),
    ).rejects.toThrow(/16x16 but the model expects 32x32/);
    network.dispose();
  });
});
