import {
  add,
  engine,
  type FusedBatchNormAttrs,
  type GradConfig,
  getBackend,
  getGradient,
  getKernel,
  mul,
  neg,
  registerGradient,
  reshape,
  rsqrt,
  scalar,
  slice,
  type Tensor,
  unregisterGradient,
} from "@tensorflow/tfjs-core";
import { BATCH_NORM_GRAD_SUMS } from "../wasm-kernels/batch-norm-grad-sums.js";

/**
 * FusedBatchNorm's gradient, from two per-channel sums over x and dy (one kernel pass) instead
 * of tfjs's ~14 full-size broadcast ops, on backends that have the sums kernel (wasm) and for
 * per-channel ([C]) statistics; tfjs's own formula otherwise. With k = rsqrt(variance + eps):
 *   dx = dy * k * scale, dOffset = S1, dScale = k * S2, dMean = -k * scale * S1,
 *   dVariance = -0.5 * k^3 * scale * S2, where S1 = sum(dy), S2 = sum(dy * (x - mean)).
 * The sums run in float64, so results differ from tfjs's float32 sums in the last bits.
 */
export function batchNormGradConfig(fallback: GradConfig): GradConfig {
  return {
    kernelName: "FusedBatchNorm",
    inputsToSave: ["x", "mean", "variance", "scale"],
    gradFunc: (dy, saved, attrs) => {
      const [x, mean, variance, scale] = saved as [Tensor, Tensor, Tensor, Tensor | undefined];
      const channels = x.shape[x.shape.length - 1] ?? 0;
      const perChannel = (t: Tensor | undefined) =>
        t === undefined || t === null || (t.rank === 1 && t.shape[0] === channels && t.dtype === "float32");
      const fast =
        getKernel(BATCH_NORM_GRAD_SUMS, getBackend()) !== undefined &&
        x.dtype === "float32" &&
        perChannel(mean) &&
        perChannel(variance) &&
        perChannel(scale) &&
        mean !== undefined &&
        mean !== null;
      if (!fast) return fallback.gradFunc(dy, saved, attrs);
      const { varianceEpsilon } = attrs as unknown as FusedBatchNormAttrs;
      const sums = engine().runKernel(BATCH_NORM_GRAD_SUMS, { x, dy: dy as Tensor, mean }) as Tensor;
      const sumDy = reshape(slice(sums, [0, 0], [1, channels]), [channels]);
      const sumDyX = reshape(slice(sums, [1, 0], [1, channels]), [channels]);
      const k = rsqrt(add(variance, scalar(varianceEpsilon)));
      const kScale = scale === undefined || scale === null ? k : mul(k, scale);
      return {
        x: () => mul(dy as Tensor, kScale),
        mean: () => mul(neg(kScale), sumDy),
        variance: () => mul(mul(mul(mul(k, k), scalar(-0.5)), kScale), sumDyX),
        scale: () => mul(k, sumDyX),
        offset: () => sumDy,
      };
    },
  };
}

let registered = false;

/** Replaces FusedBatchNorm's gradient, keeping tfjs's as the fallback. Idempotent. */
export function registerBatchNormGradient(): void {
  if (registered) return;
  const original = getGradient("FusedBatchNorm");
  // Without tfjs's gradients loaded there is nothing to replace (nor to fall back on).
  if (original === undefined) return;
  unregisterGradient("FusedBatchNorm");
  registerGradient(batchNormGradConfig(original));
  registered = true;
}
