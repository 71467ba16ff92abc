import {
  type KernelConfig,
  type KernelFunc,
  type MeanAttrs,
  type SumAttrs,
  type TensorInfo,
  util,
} from "@tensorflow/tfjs-core";
import { runOriginalKernel } from "./original-kernels.js";
import { asWasmBackend, heapF32, release, type WasmBackend } from "./wasm-backend.js";

/** A reduction over one contiguous run of axes, seen as [outer, reduced, inner]. */
export interface ReductionLayout {
  readonly outer: number;
  readonly reduced: number;
  readonly inner: number;
  /** Output shape without the reduced axes (or with them as 1 under keepDims). */
  readonly outShape: number[];
}

/**
 * The layout of a reduction over `axis`, or undefined when the axes are not one contiguous run
 * or are innermost (where the backend's own kernel reads memory in order and needs no transpose).
 */
export function reductionLayout(
  shape: readonly number[],
  axis: number | number[],
  keepDims: boolean,
): ReductionLayout | undefined {
  const axes = util.parseAxisParam(axis, shape as number[]).sort((a, b) => a - b);
  const first = axes[0];
  const last = axes[axes.length - 1];
  if (first === undefined || last === undefined || last - first + 1 !== axes.length) return undefined;
  if (last === shape.length - 1) return undefined;
  const product = (from: number, to: number) => util.sizeFromShape(shape.slice(from, to) as number[]);
  const outShape: number[] = [];
  shape.forEach((size, i) => {
    if (i < first || i > last) outShape.push(size);
    else if (keepDims) outShape.push(1);
  });
  return {
    outer: product(0, first),
    reduced: product(first, last + 1),
    inner: product(last + 1, shape.length),
    outShape,
  };
}

/**
 * Splits `reduced` into height x width for an average-pooling window, width the largest
 * divisor not above sqrt(reduced): two pooling passes of ~sqrt(n) each keep the float32
 * accumulation error near that of pairwise summation.
 */
export function poolingSplit(reduced: number): { height: number; width: number } {
  for (let width = Math.floor(Math.sqrt(reduced)); width > 1; width--) {
    if (reduced % width === 0) return { height: reduced / width, width };
  }
  return { height: reduced, width: 1 };
}

/** The mean over the middle axis of [outer, reduced, inner], as [outer, inner], on XNNPACK's average pooling. */
export function meanOverMiddleAxis(backend: WasmBackend, x: TensorInfo, layout: ReductionLayout): TensorInfo {
  const { outer, reduced, inner } = layout;
  const { height, width } = poolingSplit(reduced);
  const pool = (input: TensorInfo, shape: number[], filterSize: [number, number]) =>
    runOriginalKernel(
      backend,
      "AvgPool",
      { x: { dataId: input.dataId, shape, dtype: "float32" } },
      { filterSize, strides: filterSize, pad: "valid" },
    );
  if (width === 1) return pool(x, [outer, height, 1, inner], [height, 1]);
  const rows = pool(x, [outer, height, width, inner], [1, width]);
  const result = pool(rows, [outer, height, 1, inner], [height, 1]);
  release(backend, rows);
  return result;
}

/** Below this many elements, two pooling operators and a multiply cost more than a transpose. */
const MIN_POOLED_ELEMENTS = 16_384;

/**
 * Sum and Mean over leading or middle axes (batch-norm moments and gradients reduce [B,H,W,C]
 * over B,H,W; global average pooling over H,W) as average pooling, instead of the backend's
 * kernels, which transpose the reduced axes innermost first (2.7 ms for 1M elements against
 * 0.25 ms here). Sum is the mean times the count.
 */
function reduceKernel(kernelName: "Sum" | "Mean"): KernelFunc {
  return ({ inputs, backend: anyBackend, attrs }) => {
    const backend = asWasmBackend(anyBackend);
    const { x } = inputs as { x: TensorInfo };
    const { axis, keepDims } = attrs as unknown as SumAttrs | MeanAttrs;
    const layout =
      x.dtype === "float32" && util.sizeFromShape(x.shape) >= MIN_POOLED_ELEMENTS
        ? reductionLayout(x.shape, axis, keepDims)
        : undefined;
    if (layout === undefined) return runOriginalKernel(backend, kernelName, { x }, { axis, keepDims });
    const mean = meanOverMiddleAxis(backend, x, layout);
    if (kernelName === "Mean") {
      mean.shape = layout.outShape;
      return mean;
    }
    const count = backend.makeOutput([], "float32");
    heapF32(backend, count)[0] = layout.reduced;
    const sum = runOriginalKernel(backend, "Multiply", { a: mean, b: count });
    release(backend, mean, count);
    sum.shape = layout.outShape;
    return sum;
  };
}

export const sumConfig: KernelConfig = {
  kernelName: "Sum",
  backendName: "wasm",
  kernelFunc: reduceKernel("Sum"),
};
export const meanConfig: KernelConfig = {
  kernelName: "Mean",
  backendName: "wasm",
  kernelFunc: reduceKernel("Mean"),
};
