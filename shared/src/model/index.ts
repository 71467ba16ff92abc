export { buildSmallCnn } from "./small-cnn.js";
export { DEFAULT_MODEL_SPEC, type ModelSpec, ModelSpecSchema } from "./spec.js";
export { manifestOf, readWeights, type SharingRule, shareAll, writeWeights } from "./weights-bridge.js";

import type * as tfl from "@tensorflow/tfjs-layers";
import { buildSmallCnn } from "./small-cnn.js";
import type { ModelSpec } from "./spec.js";

/** The one place that maps a spec's architecture to its builder. */
export function buildModel(spec: ModelSpec): tfl.LayersModel {
  switch (spec.architecture) {
    case "small-cnn":
      return buildSmallCnn(spec);
  }
}
