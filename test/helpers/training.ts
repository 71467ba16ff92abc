import { expect } from "vitest";
import { type UnetMultitaskSpec, UnetMultitaskSpecSchema } from "../../shared/src/fl/model-spec.js";
import { initBackend, type LoadedBackend } from "../../shared/src/ml/tf/backend.js";

/** The wasm backend with this project's training kernels: what CPU simulation trains on. */
export async function wasmBackend(): Promise<LoadedBackend["tf"]> {
  return (await initBackend({ prefer: "wasm", log: () => {} })).tf;
}

/** The tiny encoder at 32x32: the smallest spec that still exercises every layer at a useful size. */
export function tinySpec(overrides: Partial<UnetMultitaskSpec> = {}): UnetMultitaskSpec {
  return UnetMultitaskSpecSchema.parse({
    architecture: "unet-multitask",
    encoder: "tiny",
    imageSize: 32,
    numClasses: 4,
    seed: 3,
    projectionDim: 16,
    ...overrides,
  });
}

/** Values of named weights, for before/after comparisons. */
export function weightValues(
  model: import("@tensorflow/tfjs-layers").LayersModel,
  select: (name: string) => boolean,
): Map<string, number[]> {
  return new Map(
    model.weights
      .filter((w) => select(w.originalName))
      .map((w) => [w.originalName, Array.from(w.read().dataSync())]),
  );
}

/** Element-wise toBeCloseTo with a message naming the index. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, digits: number): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    expect(actual[i], `element ${i}`).toBeCloseTo(expected[i] as number, digits);
  }
}
