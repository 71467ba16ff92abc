export { DEFAULT_MODEL_SPEC, ModelSpecSchema, type ModelSpec } from "./spec.js";
export { buildSmallCnn } from "./small-cnn.js";
export { manifestOf, readWeights, writeWeights, shareAll, type SharingRule } from "./weights-bridge.js";
import { buildSmallCnn } from "./small-cnn.js";
import type { ModelSpec } from "./spec.js";
import type * as tfl from "@tensorflow/tfjs-layers";

/** The one place that maps a spec's architecture to its builder. */
export function buildModel(spec: ModelSpec): tfl.LayersModel {
  switch (spec.architecture) {
    case "small-cnn":
      return buildSmallCnn(spec);
  }
}
