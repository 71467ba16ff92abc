import { beforeAll, describe, expect, it } from "vitest";
import { isChannelVector } from "../../../../../shared/src/ml/tf/wasm-kernels/per-channel.js";
import { poolingSplit, reductionLayout } from "../../../../../shared/src/ml/tf/wasm-kernels/reduce.js";
import { tileInto } from "../../../../../shared/src/ml/tf/wasm-kernels/tile.js";
import {
  randomValues,
  relativeError,
  setUpBackends,
  sizeOf,
  tf,
  valuesOn,
  wasmBufferCount,
} from "../../../../helpers/tf-backends.js";

beforeAll(setUpBackends);

function tensorOf(seed: number, shape: number[]): tf.Tensor {
  return tf.tensor(randomValues(seed, sizeOf(shape)), shape);
}

async function expectSameOnBothBackends(
  compute: () => tf.Tensor | tf.Tensor[],
  tolerance = 1e-6,
): Promise<void> {
  const expected = await valuesOn("cpu", compute);
  const actual = await valuesOn("wasm", compute);
  expect(actual).toHaveLength(expected.length);
  expected.forEach((values, i) => {
    expect(relativeError(actual[i] as Float32Array, values)).toBeLessThanOrEqual(tolerance);
  });
}

describe("Tile", () => {
  it("tiles by hand", () => {
    const out = new Float32Array(12);
    tileInto(new Float32Array([1, 2, 3]), out, [1, 3], [2, 2]);
    expect(Array.from(out)).toEqual([1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3]);
    const column = new Float32Array(6);
    tileInto(new Float32Array([1, 2]), column, [2, 1], [1, 3]);
    expect(Array.from(column)).toEqual([1, 1, 1, 2, 2, 2]);
  });

  it.each([
    [
      [1, 1, 1, 16],
      [4, 5, 3, 1],
    ],
    [
      [2, 3],
      [3, 2],
    ],
    [
      [3, 1, 2],
      [1, 4, 1],
    ],
    [[5], [7]],
  ])("matches the CPU backend for %j tiled %j", async (shape, reps) => {
    await expectSameOnBothBackends(() => tf.tile(tensorOf(3, shape), reps), 0);
  });

  it("tiles int32 tensors", async () => {
    await expectSameOnBothBackends(() => tf.tile(tf.tensor2d([[1, -2, 3]], [1, 3], "int32"), [3, 2]), 0);
  });
});

describe("Sum and Mean over leading and middle axes", () => {
  it("splits a reduction into [outer, reduced, inner], or leaves it to the backend", () => {
    expect(reductionLayout([16, 8, 8, 32], [0, 1, 2], false)).toEqual({
      outer: 1,
      reduced: 1024,
      inner: 32,
      outShape: [32],
    });
    expect(reductionLayout([4, 6, 5, 3], [1, 2], true)).toEqual({
      outer: 4,
      reduced: 30,
      inner: 3,
      outShape: [4, 1, 1, 3],
    });
    expect(reductionLayout([4, 6, 5, 3], [3], false)).toBeUndefined();
    expect(reductionLayout([4, 6, 5, 3], [0, 2], false)).toBeUndefined();
  });

  it("pools in two passes of about sqrt(n)", () => {
    expect(poolingSplit(65536)).toEqual({ height: 256, width: 256 });
    expect(poolingSplit(12)).toEqual({ height: 4, width: 3 });
    expect(poolingSplit(7)).toEqual({ height: 7, width: 1 });
  });

  it.each([
    [[16, 8, 8, 32], [0, 1, 2], false],
    [[4, 6, 5, 3], [1, 2], true],
    [[7, 13, 5], [0, 1], false],
    [[6, 4], 0, true],
    [[3, 5, 2], [1], false],
  ] as const)("matches the CPU backend for %j over %j (keepDims %s)", async (shape, axis, keepDims) => {
    await expectSameOnBothBackends(() => {
      const x = tensorOf(11, [...shape]);
      return [
        tf.sum(x, axis as number | number[], keepDims),
        tf.mean(x, axis as number | number[], keepDims),
      ];
    }, 1e-5);
  });

  it("keeps float32 accuracy over 65536 positive terms", async () => {
    await expectSameOnBothBackends(() => {
      const x = tf.add(tf.abs(tensorOf(5, [16, 64, 64, 4])), 10);
      return [tf.sum(x, [0, 1, 2]), tf.mean(x, [0, 1, 2])];
    }, 1e-5);
  });
});

describe("per-channel binary ops and FusedBatchNorm", () => {
  it("recognises per-channel vectors", () => {
    expect(isChannelVector([16], [4, 8, 8, 16])).toBe(true);
    expect(isChannelVector([1, 1, 1, 16], [4, 8, 8, 16])).toBe(true);
    expect(isChannelVector([8, 1], [4, 8, 8, 1])).toBe(false);
    expect(isChannelVector([2, 16], [4, 8, 8, 16])).toBe(false);
    expect(isChannelVector([1], [4, 8, 8, 1])).toBe(false);
  });

  const full = [4, 16, 16, 16];
  for (const vectorShape of [[16], [1, 1, 1, 16]]) {
    it(`match the CPU backend with a ${JSON.stringify(vectorShape)} operand on either side`, async () => {
      await expectSameOnBothBackends(() => {
        const x = tensorOf(21, full);
        const v = tensorOf(22, vectorShape);
        return [
          tf.mul(x, v),
          tf.mul(v, x),
          tf.add(x, v),
          tf.add(v, x),
          tf.sub(x, v),
          tf.sub(v, x),
          tf.squaredDifference(x, v),
          tf.squaredDifference(v, x),
        ];
      });
    });
  }

  it("batch-normalises like the CPU backend, with and without offset and scale", async () => {
    await expectSameOnBothBackends(() => {
      const x = tf.add(tf.mul(tensorOf(31, [8, 9, 7, 12]), 3), 0.5);
      const mean = tensorOf(32, [12]);
      const variance = tf.abs(tensorOf(33, [12]));
      const offset = tensorOf(34, [12]);
      const scale = tensorOf(35, [12]);
      return [
        tf.batchNorm(x, mean, variance, offset, scale, 1e-3),
        tf.batchNorm(x, mean, variance, undefined, undefined, 1e-3),
        tf.batchNorm(x, tf.scalar(0.2), tf.scalar(2), tf.scalar(-1), tf.scalar(1.5), 1e-3),
      ];
    }, 1e-5);
  });
});

describe("Identity and same-dtype Cast", () => {
  it("share the buffer, which outlives the tensor it came from", async () => {
    await tf.setBackend("wasm");
    const buffers = wasmBufferCount();
    const x = tf.tensor1d([1, 2, 3]);
    const copy = tf.clone(x);
    const cast = tf.cast(x, "float32");
    x.dispose();
    expect(Array.from(copy.dataSync())).toEqual([1, 2, 3]);
    expect(Array.from(cast.dataSync())).toEqual([1, 2, 3]);
    copy.dispose();
    cast.dispose();
    expect(wasmBufferCount()).toBe(buffers);
  });

  it("still converts between dtypes", async () => {
    await expectSameOnBothBackends(
      () => tf.cast(tf.cast(tf.tensor1d([1.7, -2.2, 0]), "int32"), "float32"),
      0,
    );
  });
});

describe("Mean gradient override", () => {
  it("is bit-identical to tfjs's own formula, dy * ones / n", async () => {
    for (const backend of ["cpu", "wasm"] as const) {
      const [ours, theirs] = await valuesOn(backend, () => {
        const x = tensorOf(51, [4, 6, 5, 3]);
        const dy = tensorOf(52, [4, 1, 1, 3]);
        const [dx] = tf.grads((t: tf.Tensor) => tf.mean(t, [1, 2], true))([x], dy);
        const reference = tf.div(tf.mul(dy, tf.ones(x.shape, "float32")), 30);
        return [dx as tf.Tensor, reference];
      });
      expect(Array.from(ours as Float32Array)).toEqual(Array.from(theirs as Float32Array));
    }
  });
});
