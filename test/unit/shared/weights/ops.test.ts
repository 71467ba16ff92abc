import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../../../shared/src/errors.js";
import {
  applyDelta,
  assertFinite,
  cloneWeights,
  computeDelta,
  createManifest,
  type ModelWeights,
  mergeTensors,
  selectTensors,
} from "../../../../shared/src/weights/index.js";
import { expectFlError } from "../../../helpers/expect-fl-error.js";

// a: shared [2], bn: local [3], c: shared [1]  =>  a at 0..1, bn at 2..4, c at 5
const manifest = createManifest([
  { name: "a", shape: [2] },
  { name: "bn", shape: [3], sharing: "local" },
  { name: "c", shape: [1] },
]);
const model = (values: number[]): ModelWeights => ({ manifest, values: new Float32Array(values) });

describe("assertFinite", () => {
  it("accepts finite values, including extremes", () => {
    expect(() => assertFinite(model([0, -0, 3.4e38, -3.4e38, 1e-45, 1]))).not.toThrow();
  });

  it.each([
    [Number.NaN, 3, '"bn" element 1', "NaN"],
    [Number.POSITIVE_INFINITY, 0, '"a" element 0', "Infinity"],
    [Number.NEGATIVE_INFINITY, 5, '"c" element 0', "-Infinity"],
  ])("names the tensor, element and value of %s", (bad, index, where, shown) => {
    const values = [1, 2, 3, 4, 5, 6];
    values[index] = bad;
    expectFlError(
      () => assertFinite(model(values)),
      ErrorCode.NonFinite,
      where,
      shown,
      `flat index ${index}`,
    );
  });

  it("reports the first of several bad values", () => {
    expectFlError(
      () => assertFinite(model([1, 2, 3, Number.NaN, Number.POSITIVE_INFINITY, 6])),
      ErrorCode.NonFinite,
      "flat index 3",
    );
  });
});

describe("computeDelta and applyDelta", () => {
  const global = model([1, 2, 3, 4, 5, 6]);
  const local = model([1.5, 1, 3, 4.25, 5, -6]);

  it("computes local - global", () => {
    const delta = computeDelta(local, global);
    expect(Array.from(delta.values)).toEqual([0.5, -1, 0, 0.25, 0, -12]);
    expect(delta.manifest).toBe(manifest);
  });

  it("applies a scaled delta into new weights and leaves the input alone", () => {
    const delta = new Float32Array([0.5, -1, 0, 0.25, 0, -12]);
    const next = applyDelta(global, delta, 0.5);
    expect(Array.from(next.values)).toEqual([1.25, 1.5, 3, 4.125, 5, 0]);
    expect(Array.from(global.values)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(applyDelta(global, computeDelta(local, global).values).values)).toEqual(
      Array.from(local.values),
    );
  });

  it("rejects a delta of the wrong length and a non-finite scale", () => {
    expectFlError(
      () => applyDelta(global, new Float32Array(5)),
      ErrorCode.WeightsShapeMismatch,
      "5 values",
      "6",
    );
    expectFlError(
      () => applyDelta(global, new Float32Array(6), Number.NaN),
      ErrorCode.InvalidArgument,
      "scale",
    );
  });

  it("rejects weights with another manifest", () => {
    const other: ModelWeights = {
      manifest: createManifest([
        { name: "a", shape: [2] },
        { name: "bn", shape: [3], sharing: "local" },
        { name: "d", shape: [1] },
      ]),
      values: new Float32Array(6),
    };
    expectFlError(() => computeDelta(other, global), ErrorCode.WeightsShapeMismatch, '"c"');
  });

  it("rejects weights whose values do not fill the manifest", () => {
    const short: ModelWeights = { manifest, values: new Float32Array(5) };
    expectFlError(() => computeDelta(short, global), ErrorCode.WeightsShapeMismatch, "5 values");
  });
});

describe("selectTensors and mergeTensors", () => {
  const weights = model([1, 2, 10, 20, 30, 3]);

  it("selects the shared tensors with renumbered offsets", () => {
    const shared = selectTensors(weights, "shared");
    expect(shared.manifest.tensors.map((t) => [t.name, t.offset, t.length, t.sharing])).toEqual([
      ["a", 0, 2, "shared"],
      ["c", 2, 1, "shared"],
    ]);
    expect(shared.manifest.totalLength).toBe(3);
    expect(Array.from(shared.values)).toEqual([1, 2, 3]);
  });

  it("selects the local tensors", () => {
    const local = selectTensors(weights, "local");
    expect(local.manifest.tensors.map((t) => [t.name, t.offset, t.sharing])).toEqual([["bn", 0, "local"]]);
    expect(Array.from(local.values)).toEqual([10, 20, 30]);
  });

  it("selects nothing when no tensor has that sharing", () => {
    const allShared = {
      manifest: createManifest([{ name: "x", shape: [2] }]),
      values: new Float32Array([1, 2]),
    };
    const none = selectTensors(allShared, "local");
    expect(none.manifest.tensors).toEqual([]);
    expect(none.values.length).toBe(0);
  });

  it("overwrites the tensors of the part and keeps the rest (FedBN: global shared + own local)", () => {
    const globalShared = selectTensors(model([7, 8, 0, 0, 0, 9]), "shared");
    const merged = mergeTensors(weights, globalShared);
    expect(Array.from(merged.values)).toEqual([7, 8, 10, 20, 30, 9]);
    expect(merged.manifest).toBe(manifest);
    expect(Array.from(weights.values)).toEqual([1, 2, 10, 20, 30, 3]);
  });

  it("rejects a part with an unknown tensor or another shape", () => {
    const unknown = {
      manifest: createManifest([{ name: "zzz", shape: [1] }]),
      values: new Float32Array([1]),
    };
    expectFlError(() => mergeTensors(weights, unknown), ErrorCode.WeightsShapeMismatch, '"zzz"');
    const reshaped = {
      manifest: createManifest([{ name: "bn", shape: [3, 1] }]),
      values: new Float32Array(3),
    };
    expectFlError(
      () => mergeTensors(weights, reshaped),
      ErrorCode.WeightsShapeMismatch,
      '"bn"',
      "[3, 1]",
      "[3]",
    );
  });
});

describe("cloneWeights", () => {
  it("copies the values", () => {
    const original = model([1, 2, 3, 4, 5, 6]);
    const copy = cloneWeights(original);
    copy.values[0] = 100;
    expect(original.values[0]).toBe(1);
    expect(Array.from(copy.values.subarray(1))).toEqual([2, 3, 4, 5, 6]);
    expect(copy.manifest).toEqual(original.manifest);
  });
});
