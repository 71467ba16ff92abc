import type * as tfl from "@tensorflow/tfjs-layers";
import type { ModelPhase, SmallCnnSpec, UnetMultitaskSpec } from "../../../shared/src/fl/model-spec.js";
import {
  type AnyPhaseNetwork,
  buildModel,
  buildPhaseNetwork,
  type InpaintingNetwork,
  type MultitaskNetwork,
  writeWeights,
} from "../../../shared/src/ml/model/index.js";
import type { ModelWeights } from "../../../shared/src/weights/types.js";

interface NetworkOfPhase {
  readonly multitask: MultitaskNetwork;
  readonly inpainting: InpaintingNetwork;
}

/**
 * The networks a trainer process has built, so that the rounds of a phase (and its evaluations)
 * reuse one network instead of rebuilding it. Each getter writes the task's weights in first.
 * U-Net phase networks are kept for the life of the process (phases come back: multi-task
 * training and its evaluation); the small CNN only while its spec stays the same.
 */
export class NetworkCache {
  private readonly unet = new Map<string, AnyPhaseNetwork>();
  private smallCnn: { key: string; model: tfl.LayersModel } | undefined;

  smallCnnModel(spec: SmallCnnSpec, weights: ModelWeights): tfl.LayersModel {
    const key = JSON.stringify(spec);
    if (this.smallCnn?.key !== key) {
      this.smallCnn?.model.dispose();
      this.smallCnn = { key, model: buildModel(spec) };
    }
    writeWeights(this.smallCnn.model, weights);
    return this.smallCnn.model;
  }

  /** The network of one phase of the U-Net model. */
  phaseNetwork<P extends keyof NetworkOfPhase & ModelPhase>(
    spec: UnetMultitaskSpec,
    phase: P,
    weights: ModelWeights,
  ): NetworkOfPhase[P] {
    const phaseSpec = { ...spec, phase };
    const key = JSON.stringify(phaseSpec);
    let network = this.unet.get(key);
    if (!network) {
      network = buildPhaseNetwork(phaseSpec);
      this.unet.set(key, network);
    }
    writeWeights(network.model, weights);
    // buildPhaseNetwork builds the network of spec.phase, which is `phase`.
    return network as NetworkOfPhase[P];
  }
}
