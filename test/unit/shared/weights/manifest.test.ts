import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../../../shared/src/errors.js";
import { assertSameManifest, createManifest } from "../../../../shared/src/weights/index.js";
import { expectFlError } from "../../../helpers/expect-fl-error.js";

describe("createManifest", () => {
  it("lays tensors out in order with offsets, lengths and the total", () => {
    const manifest = createManifest([
      { name: "conv/kernel", shape: [2, 3] },
      { name: "bn/mean", shape: [4], sharing: "local" },
      { name: "scalar", shape: [] },
      { name: "empty", shape: [0, 5] },
      { name: "head/bias", shape: [3] },
    ]);
    expect(manifest.tensors.map((t) => [t.name, t.offset, t.length, t.sharing])).toEqual([
      ["conv/kernel", 0, 6, "shared"],
      ["bn/mean", 6, 4, "local"],
      ["scalar", 10, 1, "shared"],
      ["empty", 11, 0, "shared"],
      ["head/bias", 11, 3, "shared"],
    ]);
    expect(manifest.totalLength).toBe(14);
    expect(manifest.tensors[0]?.shape).toEqual([2, 3]);
  });

  it("gives an empty manifest for no tensors", () => {
    expect(createManifest([])).toEqual({ tensors: [], totalLength: 0 });
  });

  it("copies the shape so later changes to the input do not leak in", () => {
    const shape = [2, 2];
    const manifest = createManifest([{ name: "w", shape }]);
    shape[0] = 9;
    expect(manifest.tensors[0]?.shape).toEqual([2, 2]);
    expect(Object.isFrozen(manifest.tensors[0])).toBe(true);
  });

  it("rejects duplicate names", () => {
    expectFlError(
      () =>
        createManifest([
          { name: "a", shape: [1] },
          { name: "a", shape: [2] },
        ]),
      ErrorCode.InvalidArgument,
      '"a"',
      "twice",
    );
  });

  it.each([[[-1, 2]], [[1.5]], [[Number.NaN]], [[Number.POSITIVE_INFINITY]]])("rejects shape %j", (shape) => {
    expectFlError(
      () => createManifest([{ name: "w", shape }]),
      ErrorCode.InvalidArgument,
      '"w"',
      "non-negative",
    );
  });

  it("rejects an empty name and an unknown sharing value", () => {
    expectFlError(() => createManifest([{ name: "", shape: [1] }]), ErrorCode.InvalidArgument, "no name");
    expectFlError(
      () => createManifest([{ name: "w", shape: [1], sharing: "public" as "shared" }]),
      ErrorCode.InvalidArgument,
      '"public"',
    );
  });
});

describe("assertSameManifest", () => {
  const base = createManifest([
    { name: "a", shape: [2, 2] },
    { name: "b", shape: [3] },
    { name: "c", shape: [1] },
  ]);

  it("accepts an identical manifest built separately", () => {
    const same = createManifest([
      { name: "a", shape: [2, 2] },
      { name: "b", shape: [3] },
      { name: "c", shape: [1] },
    ]);
    expect(() => assertSameManifest(base, same)).not.toThrow();
  });

  it("names a missing tensor", () => {
    const actual = createManifest([
      { name: "a", shape: [2, 2] },
      { name: "c", shape: [1] },
    ]);
    expectFlError(() => assertSameManifest(base, actual), ErrorCode.WeightsShapeMismatch, '"b"', "missing");
  });

  it("names a missing trailing tensor", () => {
    const actual = createManifest([
      { name: "a", shape: [2, 2] },
      { name: "b", shape: [3] },
    ]);
    expectFlError(() => assertSameManifest(base, actual), ErrorCode.WeightsShapeMismatch, '"c"', "missing");
  });

  it("names an extra tensor, in the middle or at the end", () => {
    const middle = createManifest([
      { name: "a", shape: [2, 2] },
      { name: "x", shape: [1] },
      { name: "b", shape: [3] },
      { name: "c", shape: [1] },
    ]);
    expectFlError(() => assertSameManifest(base, middle), ErrorCode.WeightsShapeMismatch, '"x"', "extra");
    const end = createManifest([
      { name: "a", shape: [2, 2] },
      { name: "b", shape: [3] },
      { name: "c", shape: [1] },
      { name: "z", shape: [1] },
    ]);
    expectFlError(() => assertSameManifest(base, end), ErrorCode.WeightsShapeMismatch, '"z"', "extra");
  });

  it("names a shape difference even when the element count is equal", () => {
    const actual = createManifest([
      { name: "a", shape: [4] },
      { name: "b", shape: [3] },
      { name: "c", shape: [1] },
    ]);
    expectFlError(
      () => assertSameManifest(base, actual),
      ErrorCode.WeightsShapeMismatch,
      '"a"',
      "[4]",
      "[2, 2]",
    );
  });

  it("reports a different order", () => {
    const actual = createManifest([
      { name: "a", shape: [2, 2] },
      { name: "c", shape: [1] },
      { name: "b", shape: [3] },
    ]);
    expectFlError(() => assertSameManifest(base, actual), ErrorCode.WeightsShapeMismatch, '"b"', "order");
  });

  it("reports a different sharing", () => {
    const actual = createManifest([
      { name: "a", shape: [2, 2] },
      { name: "b", shape: [3], sharing: "local" },
      { name: "c", shape: [1] },
    ]);
    expectFlError(() => assertSameManifest(base, actual), ErrorCode.WeightsShapeMismatch, '"b"', "local");
  });

  it("reports a hand-made manifest whose layout disagrees with its shapes", () => {
    const tampered = {
      tensors: base.tensors.map((t) => (t.name === "b" ? { ...t, offset: 5 } : t)),
      totalLength: base.totalLength,
    };
    expectFlError(
      () => assertSameManifest(base, tampered),
      ErrorCode.WeightsShapeMismatch,
      '"b"',
      "offset 5",
    );
    const wrongTotal = { tensors: base.tensors, totalLength: 99 };
    expectFlError(() => assertSameManifest(base, wrongTotal), ErrorCode.WeightsShapeMismatch, "99");
  });
});
