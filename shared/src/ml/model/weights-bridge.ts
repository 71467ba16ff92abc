import * as tf from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";
import { ErrorCode, FlError } from "../../errors.js";
import { createManifest, type SharingRule } from "../../weights/index.js";
import type { ModelWeights, WeightsManifest } from "../../weights/types.js";

/** Everything is shared (FedAvg); phases narrow this with their `local` patterns. */
export const shareAll: SharingRule = () => "shared";

/**
 * The manifest of a layers model. Names are the variables' original names ("stage1.conv1/kernel"):
 * tfjs adds "_1" suffixes when a second model is built in the same process, originalName does not.
 */
export function manifestOf(model: tfl.LayersModel, sharing: SharingRule = shareAll): WeightsManifest {
  return createManifest(
    model.weights.map((w) => ({
      name: w.originalName,
      shape: w.shape as number[],
      sharing: sharing(w.originalName),
    })),
  );
}

export function readWeights(model: tfl.LayersModel, manifest: WeightsManifest): ModelWeights {
  const values = new Float32Array(manifest.totalLength);
  const tensors = model.getWeights();
  if (tensors.length !== manifest.tensors.length) {
    throw new FlError(
      ErrorCode.WeightsShapeMismatch,
      `model has ${tensors.length} tensors, manifest ${manifest.tensors.length}`,
    );
  }
  tensors.forEach((t, i) => {
    const spec = manifest.tensors[i];
    if (!spec || spec.length !== t.size) {
      throw new FlError(
        ErrorCode.WeightsShapeMismatch,
        `tensor ${i} (${spec?.name}) has ${t.size} elements, manifest says ${spec?.length}`,
      );
    }
    values.set(t.dataSync() as Float32Array, spec.offset);
  });
  return { manifest, values };
}

/** Writes weights into the model. The manifest must be the model's own (names and shapes checked). */
export function writeWeights(model: tfl.LayersModel, weights: ModelWeights): void {
  const own = model.weights;
  if (own.length !== weights.manifest.tensors.length) {
    throw new FlError(
      ErrorCode.WeightsShapeMismatch,
      `model has ${own.length} tensors, weights have ${weights.manifest.tensors.length}`,
    );
  }
  const tensors = weights.manifest.tensors.map((spec, i) => {
    const variable = own[i];
    if (
      !variable ||
      variable.originalName !== spec.name ||
      variable.shape.join("x") !== spec.shape.join("x")
    ) {
      throw new FlError(
        ErrorCode.WeightsShapeMismatch,
        `tensor ${i}: model has ${variable?.originalName} [${variable?.shape}], weights have ${spec.name} [${spec.shape}]`,
      );
    }
    return tf.tensor(
      weights.values.subarray(spec.offset, spec.offset + spec.length),
      [...spec.shape],
      "float32",
    );
  });
  model.setWeights(tensors);
  tf.dispose(tensors);
}
