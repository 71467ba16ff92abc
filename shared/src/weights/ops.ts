import { ErrorCode, FlError } from "../errors.js";
import { assertSameManifest, createManifest, sameShape } from "./manifest.js";
import type { ModelWeights, TensorSharing, TensorSpec } from "./types.js";

/** Throws FlError(NonFinite) naming the tensor, the element index within it and the value. */
export function assertFinite(weights: ModelWeights): void {
  const { values } = weights;
  for (let i = 0; i < values.length; i++) {
    const value = values[i] as number;
    if (!Number.isFinite(value)) {
      const tensor = tensorAt(weights.manifest.tensors, i);
      const where =
        tensor === undefined ? `element ${i}` : `tensor "${tensor.name}" element ${i - tensor.offset}`;
      throw new FlError(ErrorCode.NonFinite, `Weights contain ${value} at ${where} (flat index ${i})`);
    }
  }
}

/** `local - global`, tensor by tensor; the manifests must be identical. */
export function computeDelta(local: ModelWeights, global: ModelWeights): ModelWeights {
  assertSameManifest(global.manifest, local.manifest);
  assertConsistent(local, "local weights");
  assertConsistent(global, "global weights");
  const delta = new Float32Array(global.values.length);
  for (let i = 0; i < delta.length; i++)
    delta[i] = (local.values[i] as number) - (global.values[i] as number);
  return { manifest: global.manifest, values: delta };
}

/** New weights `global + scale * delta`; `global` is left unchanged. */
export function applyDelta(global: ModelWeights, delta: Float32Array, scale = 1): ModelWeights {
  assertConsistent(global, "global weights");
  if (delta.length !== global.values.length) {
    throw new FlError(
      ErrorCode.WeightsShapeMismatch,
      `Delta has ${delta.length} values but the model has ${global.values.length}`,
    );
  }
  if (!Number.isFinite(scale)) {
    throw new FlError(ErrorCode.InvalidArgument, `Delta scale must be finite, got ${scale}`);
  }
  const values = new Float32Array(delta.length);
  for (let i = 0; i < values.length; i++)
    values[i] = (global.values[i] as number) + scale * (delta[i] as number);
  return { manifest: global.manifest, values };
}

/** Only the tensors with the given sharing, packed into a new vector with renumbered offsets. */
export function selectTensors(weights: ModelWeights, sharing: TensorSharing): ModelWeights {
  assertConsistent(weights, "weights");
  const picked = weights.manifest.tensors.filter((tensor) => tensor.sharing === sharing);
  const manifest = createManifest(picked);
  const values = new Float32Array(manifest.totalLength);
  for (const [i, source] of picked.entries()) {
    const target = manifest.tensors[i] as TensorSpec;
    values.set(weights.values.subarray(source.offset, source.offset + source.length), target.offset);
  }
  return { manifest, values };
}

/**
 * A copy of `base` in which every tensor of `part` (matched by name) is overwritten. Each tensor
 * of `part` must exist in `base` with the same shape.
 */
export function mergeTensors(base: ModelWeights, part: ModelWeights): ModelWeights {
  assertConsistent(base, "base weights");
  assertConsistent(part, "partial weights");
  const byName = new Map(base.manifest.tensors.map((tensor) => [tensor.name, tensor]));
  const values = Float32Array.from(base.values);
  for (const source of part.manifest.tensors) {
    const target = byName.get(source.name);
    if (target === undefined) {
      throw new FlError(
        ErrorCode.WeightsShapeMismatch,
        `Tensor "${source.name}" does not exist in the model`,
      );
    }
    if (!sameShape(source.shape, target.shape)) {
      throw new FlError(
        ErrorCode.WeightsShapeMismatch,
        `Tensor "${source.name}" has shape [${source.shape.join(", ")}], the model has [${target.shape.join(", ")}]`,
      );
    }
    values.set(part.values.subarray(source.offset, source.offset + source.length), target.offset);
  }
  return { manifest: base.manifest, values };
}

/** A copy with its own values; the (immutable) manifest is shared. */
export function cloneWeights(weights: ModelWeights): ModelWeights {
  return { manifest: weights.manifest, values: Float32Array.from(weights.values) };
}

function assertConsistent(weights: ModelWeights, what: string): void {
  if (weights.values.length !== weights.manifest.totalLength) {
    throw new FlError(
      ErrorCode.WeightsShapeMismatch,
      `The ${what} have ${weights.values.length} values but their manifest declares ${weights.manifest.totalLength}`,
    );
  }
}

/** Binary search: tensors are laid out in increasing offset order. */
function tensorAt(tensors: readonly TensorSpec[], index: number): TensorSpec | undefined {
  let lo = 0;
  let hi = tensors.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const tensor = tensors[mid] as TensorSpec;
    if (index < tensor.offset) hi = mid - 1;
    else if (index >= tensor.offset + tensor.length) lo = mid + 1;
    else return tensor;
  }
  return undefined;
}
