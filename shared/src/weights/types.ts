/**
 * Model weights travel and aggregate as one flat Float32Array plus a manifest that says where
 * each named tensor lives in it. No tfjs types here: the coordinator never needs a TF backend.
 */

/** Whether a tensor leaves the hospital. `local` tensors (FedBN statistics, MoCo key encoder,
 * per-site heads) are never uploaded and never overwritten by the global model. */
export type TensorSharing = "shared" | "local";

export interface TensorSpec {
  /** Unique, stable name (the tfjs variable name without the auto-increment suffix). */
  readonly name: string;
  readonly shape: readonly number[];
  /** Offset (in elements) of the tensor in the flat vector. */
  readonly offset: number;
  /** Number of elements (product of shape). */
  readonly length: number;
  readonly sharing: TensorSharing;
}

export interface WeightsManifest {
  readonly tensors: readonly TensorSpec[];
  /** Total number of float32 elements of the flat vector. */
  readonly totalLength: number;
}

export interface ModelWeights {
  readonly manifest: WeightsManifest;
  readonly values: Float32Array;
}
