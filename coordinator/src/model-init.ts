import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import type { ModelSpec } from "../../shared/src/fl/model-spec.js";
import { buildModel, manifestOf, readWeights } from "../../shared/src/ml/model/index.js";
import type { ModelWeights } from "../../shared/src/weights/types.js";

/**
 * The initial global model (version 0), built once with seeded initialisers. Building needs a
 * tfjs backend but no training, so the pure-JS CPU backend is enough for the coordinator.
 */
export function initialModelWeights(spec: ModelSpec): ModelWeights {
  const previous = tf.getBackend();
  tf.setBackend("cpu");
  const model = buildModel(spec);
  try {
    return readWeights(model, manifestOf(model));
  } finally {
    model.dispose();
    if (previous && previous !== "cpu") tf.setBackend(previous);
  }
}
