import {
  getKernel,
  type KernelConfig,
  type KernelFunc,
  type ResizeNearestNeighborGradAttrs,
  registerKernel,
  type TensorInfo,
  unregisterKernel,
} from "@tensorflow/tfjs-core";

/** The source index the forward ResizeNearestNeighbor reads for output index `out`. */
export function nearestSource(
  out: number,
  inSize: number,
  outSize: number,
  alignCorners: boolean,
  halfPixelCenters: boolean,
): number {
  const ratio = alignCorners && outSize > 1 ? (inSize - 1) / (outSize - 1) : inSize / outSize;
  const fraction = halfPixelCenters ? ratio * (out + 0.5) : ratio * out;
  const nearest = Math.min(inSize - 1, alignCorners ? Math.round(fraction) : Math.floor(fraction));
  return halfPixelCenters ? Math.max(0, nearest) : nearest;
}

/**
 * The adjoint of ResizeNearestNeighbor: every dy pixel is added to the input pixel the forward
 * pass copied it from (the same index rule, so the pair is exact). Returns [batch, inH, inW, C].
 */
export function resizeNearestNeighborGradValues(
  dy: ArrayLike<number>,
  dyShape: readonly [number, number, number, number],
  inputShape: readonly [number, number, number, number],
  options: { alignCorners: boolean; halfPixelCenters: boolean },
): Float32Array {
  const [batch, outHeight, outWidth, channels] = dyShape;
  const [, inHeight, inWidth] = inputShape;
  const rows = Array.from({ length: outHeight }, (_, r) =>
    nearestSource(r, inHeight, outHeight, options.alignCorners, options.halfPixelCenters),
  );
  const cols = Array.from({ length: outWidth }, (_, c) =>
    nearestSource(c, inWidth, outWidth, options.alignCorners, options.halfPixelCenters),
  );
  const dx = new Float32Array(batch * inHeight * inWidth * channels);
  let from = 0;
  for (let b = 0; b < batch; b++) {
    for (let r = 0; r < outHeight; r++) {
      const rowBase = (b * inHeight + (rows[r] as number)) * inWidth;
      for (let c = 0; c < outWidth; c++) {
        const to = (rowBase + (cols[c] as number)) * channels;
        for (let d = 0; d < channels; d++) dx[to + d] = (dx[to + d] as number) + (dy[from++] as number);
      }
    }
  }
  return dx;
}

interface CpuLikeBackend {
  readSync(dataId: object): ArrayLike<number>;
  makeTensorInfo(shape: number[], dtype: "float32", values: Float32Array): TensorInfo;
}

/**
 * tfjs-backend-cpu 4.22's ResizeNearestNeighborGrad reads dy at the input's batch stride, so
 * every image after the first gets another image's gradient (UpSampling2D in a U-Net decoder
 * trains wrongly with batch > 1), and it ignores halfPixelCenters. This one is the exact adjoint.
 */
export const resizeNearestNeighborGradCpu: KernelFunc = ({ inputs, backend, attrs }) => {
  const { images, dy } = inputs as { images: TensorInfo; dy: TensorInfo };
  const { alignCorners, halfPixelCenters } = attrs as unknown as ResizeNearestNeighborGradAttrs;
  const cpu = backend as unknown as CpuLikeBackend;
  const values = resizeNearestNeighborGradValues(
    cpu.readSync(dy.dataId),
    dy.shape as [number, number, number, number],
    images.shape as [number, number, number, number],
    { alignCorners, halfPixelCenters: halfPixelCenters ?? false },
  );
  return cpu.makeTensorInfo([...images.shape], "float32", values);
};

const resizeNearestNeighborGradCpuConfig: KernelConfig = {
  kernelName: "ResizeNearestNeighborGrad",
  backendName: "cpu",
  kernelFunc: resizeNearestNeighborGradCpu,
};

let registered = false;

/** Replaces CPU-backend kernels that compute wrong gradients. Idempotent. */
export function registerCpuKernelFixes(): void {
  if (registered) return;
  if (getKernel("ResizeNearestNeighborGrad", "cpu") !== undefined) {
    unregisterKernel("ResizeNearestNeighborGrad", "cpu");
  }
  registerKernel(resizeNearestNeighborGradCpuConfig);
  registered = true;
}
