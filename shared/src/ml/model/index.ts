export {
  DEFAULT_MODEL_SPEC,
  type ModelPhase,
  type ModelSpec,
  ModelSpecSchema,
  type SmallCnnSpec,
  type UnetMultitaskSpec,
  UnetMultitaskSpecSchema,
} from "../../fl/model-spec.js";
export {
  type AnyPhaseNetwork,
  type BuildNetworkOptions,
  buildInpaintingNetwork,
  buildMocoNetwork,
  buildMultitaskNetwork,
  buildPhaseNetwork,
  type InpaintingNetwork,
  type InpaintingOutputs,
  isEncoderWeight,
  type MocoNetwork,
  type MocoOutputs,
  type MultitaskNetwork,
  type MultitaskOutputs,
  type PhaseNetwork,
  type RunOptions,
  trainableVariables,
  UnetLayers,
} from "./networks.js";
export { ENCODER_PRESETS, type EncoderPreset } from "./resnet.js";
export { buildSmallCnn } from "./small-cnn.js";
export { DECODER_PRESETS, type DecoderPreset } from "./unet.js";
export { manifestOf, readWeights, shareAll, writeWeights } from "./weights-bridge.js";

import type * as tfl from "@tensorflow/tfjs-layers";
import type { ModelSpec } from "../../fl/model-spec.js";
import { buildPhaseNetwork } from "./networks.js";
import { buildSmallCnn } from "./small-cnn.js";

/**
 * The one place that maps a spec's architecture to its builder. For `unet-multitask` it is the
 * layers model of the spec's phase; trainers that need the eager forward pass use
 * `buildPhaseNetwork` (or the per-phase builders), whose `model` is this same model.
 */
export function buildModel(spec: ModelSpec): tfl.LayersModel {
  switch (spec.architecture) {
    case "small-cnn":
      return buildSmallCnn(spec);
    case "unet-multitask":
      return buildPhaseNetwork(spec).model;
  }
}
