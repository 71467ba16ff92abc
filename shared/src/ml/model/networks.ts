import type { Tensor, Tensor2D, Tensor4D, Variable } from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { ErrorCode, FlError } from "../../errors.js";
import type { ModelPhase, UnetMultitaskSpec } from "../../fl/model-spec.js";
import { eagerRunner, type Flow, LayerFactory, type LayerRunner, symbolicRunner } from "./flow.js";
import { ClassificationHead, PixelHead, ProjectionHead } from "./heads.js";
import { ENCODER_PRESETS, type EncoderFeatures, ResNetEncoder } from "./resnet.js";
import { DECODER_PRESETS, UnetDecoder } from "./unet.js";

/**
 * Every layer of the paper's network, created once (layer objects hold no weights until a model
 * is built from them). Phase networks built from the same `UnetLayers` share these objects, and
 * so their weights.
 */
export class UnetLayers {
  readonly spec: UnetMultitaskSpec;
  /** Prepended to every layer name ("" for the federated model, "key." for a MoCo key encoder). */
  readonly namePrefix: string;
  readonly encoder: ResNetEncoder;
  readonly decoder: UnetDecoder;
  readonly classifier: ClassificationHead;
  readonly projection: ProjectionHead;
  readonly mask: PixelHead;
  readonly reconstruction: PixelHead;

  constructor(spec: UnetMultitaskSpec, options: { namePrefix?: string } = {}) {
    this.spec = spec;
    this.namePrefix = options.namePrefix ?? "";
    const factory = new LayerFactory(spec.seed, this.namePrefix);
    const preset = ENCODER_PRESETS[spec.encoder];
    this.encoder = new ResNetEncoder(factory, preset);
    if (spec.imageSize % this.encoder.totalStride !== 0) {
      throw new FlError(
        ErrorCode.InvalidConfig,
        `the ${spec.encoder} encoder downsamples by ${this.encoder.totalStride}: model.imageSize must be a multiple of it (got ${spec.imageSize})`,
      );
    }
    this.decoder = new UnetDecoder(factory, DECODER_PRESETS[spec.encoder]);
    if (2 ** this.decoder.upsamplingSteps !== this.encoder.totalStride) {
      throw new FlError(ErrorCode.Internal, `decoder preset of ${spec.encoder} does not match its encoder`);
    }
    this.classifier = new ClassificationHead(factory, spec.numClasses);
    this.projection = new ProjectionHead(factory, {
      hiddenUnits: preset.widths[preset.widths.length - 1] ?? spec.projectionDim,
      projectionDim: spec.projectionDim,
    });
    this.mask = new PixelHead(factory, "dec.mask");
    this.reconstruction = new PixelHead(factory, "dec.recon");
  }
}

/** How a phase network runs eagerly. */
export interface RunOptions {
  /**
   * Batch-norm layers use the batch's statistics and update their moving averages (training);
   * otherwise they use the moving averages (inference).
   */
  readonly training: boolean;
  /**
   * Run the encoder in inference mode even when `training`: its batch-norm statistics stay
   * fixed, as they must when the encoder is frozen (linear probe). Default false.
   */
  readonly freezeEncoder?: boolean;
}

/** One phase's view of the network: a layers model for weights and a forward pass for training. */
export interface PhaseNetwork<Outputs> {
  readonly phase: ModelPhase;
  readonly layers: UnetLayers;
  /**
   * The layers model: its weights are the phase's global model (manifestOf/readWeights/
   * writeWeights in weights-bridge.ts); `predict` gives the outputs in inference mode.
   */
  readonly model: tfl.LayersModel;
  /**
   * The same computation on concrete tensors with batch-norm in the requested mode. Creates
   * tensors: call it inside tf.tidy or an optimizer's minimize.
   */
  run(x: Tensor4D, options: RunOptions): Outputs;
  /** Frees the weights (shared layers are freed when the last model using them is disposed). */
  dispose(): void;
}

/** Outputs of the multi-task network, in the layers model's output order. */
export interface MultitaskOutputs {
  /** [batch, numClasses] */
  readonly classLogits: Tensor2D;
  /** [batch, imageSize, imageSize, 1]: opacity logits. */
  readonly maskLogits: Tensor4D;
}
export interface MocoOutputs {
  /** [batch, projectionDim], not normalised. */
  readonly projection: Tensor2D;
}
export interface InpaintingOutputs {
  /** [batch, imageSize, imageSize, 1]: the reconstructed image (linear output). */
  readonly reconstruction: Tensor4D;
}

export interface MultitaskNetwork extends PhaseNetwork<MultitaskOutputs> {
  /** Class logits only (encoder + classification head), skipping the decoder's cost. */
  classify(x: Tensor4D, options: RunOptions): Tensor2D;
}
export type MocoNetwork = PhaseNetwork<MocoOutputs>;
export type InpaintingNetwork = PhaseNetwork<InpaintingOutputs>;

/** Options of the phase builders. */
export interface BuildNetworkOptions {
  /** Reuse these layer objects (and so share weights) instead of creating new ones. */
  readonly layers?: UnetLayers;
  /** Name prefix of newly created layers (ignored with `layers`); "key." for a MoCo key encoder. */
  readonly namePrefix?: string;
}

type Heads<Outputs> = <T extends Flow>(
  layers: UnetLayers,
  features: EncoderFeatures<T>,
  run: LayerRunner<T>,
) => { [K in keyof Outputs]: T };

function buildPhase<Outputs>(
  spec: UnetMultitaskSpec,
  phase: ModelPhase,
  options: BuildNetworkOptions,
  heads: Heads<Outputs>,
): PhaseNetwork<Outputs> {
  const layers =
    options.layers ?? new UnetLayers(spec, options.namePrefix ? { namePrefix: options.namePrefix } : {});
  const input = tfl.input({
    shape: [spec.imageSize, spec.imageSize, 1],
    name: `${layers.namePrefix}image`,
  });
  const symbolic = heads(layers, layers.encoder.forward(input, symbolicRunner), symbolicRunner);
  const model = tfl.model({
    inputs: input,
    outputs: Object.values(symbolic) as tfl.SymbolicTensor[],
    name: `${layers.namePrefix}${phase}`,
  });
  return {
    phase,
    layers,
    model,
    run(x, runOptions) {
      const run = eagerRunner(runOptions.training);
      const encoderRun = runOptions.freezeEncoder ? eagerRunner(false) : run;
      return heads(layers, layers.encoder.forward<Tensor>(x, encoderRun), run) as unknown as Outputs;
    },
    dispose() {
      model.dispose();
    },
  };
}

/** Encoder + U-Net decoder + classification head; model outputs [classLogits, maskLogits]. */
export function buildMultitaskNetwork(
  spec: UnetMultitaskSpec,
  options: BuildNetworkOptions = {},
): MultitaskNetwork {
  const network = buildPhase<MultitaskOutputs>(spec, "multitask", options, (layers, features, run) => ({
    classLogits: layers.classifier.forward(features.bottleneck, run),
    maskLogits: layers.mask.forward(layers.decoder.forward(features, run), run),
  }));
  const { layers } = network;
  return {
    ...network,
    classify(x, runOptions) {
      const run = eagerRunner(runOptions.training);
      const features = layers.encoder.forward<Tensor>(x, runOptions.freezeEncoder ? eagerRunner(false) : run);
      return layers.classifier.forward(features.bottleneck, run) as Tensor2D;
    },
  };
}

/** Encoder + projection head (MoCo v2 query or key network); model output [projection]. */
export function buildMocoNetwork(spec: UnetMultitaskSpec, options: BuildNetworkOptions = {}): MocoNetwork {
  return buildPhase<MocoOutputs>(spec, "moco", options, (layers, features, run) => ({
    projection: layers.projection.forward(features.bottleneck, run),
  }));
}

/** Encoder + U-Net decoder + reconstruction output; model output [reconstruction]. */
export function buildInpaintingNetwork(
  spec: UnetMultitaskSpec,
  options: BuildNetworkOptions = {},
): InpaintingNetwork {
  return buildPhase<InpaintingOutputs>(spec, "inpainting", options, (layers, features, run) => ({
    reconstruction: layers.reconstruction.forward(layers.decoder.forward(features, run), run),
  }));
}

export type AnyPhaseNetwork = MultitaskNetwork | MocoNetwork | InpaintingNetwork;

/** The network of the spec's phase. */
export function buildPhaseNetwork(
  spec: UnetMultitaskSpec,
  options: BuildNetworkOptions = {},
): AnyPhaseNetwork {
  switch (spec.phase) {
    case "multitask":
      return buildMultitaskNetwork(spec, options);
    case "moco":
      return buildMocoNetwork(spec, options);
    case "inpainting":
      return buildInpaintingNetwork(spec, options);
  }
}

/** True for the weights a frozen encoder keeps fixed (names start with the encoder prefix). */
export function isEncoderWeight(name: string, namePrefix = ""): boolean {
  return name.startsWith(`${namePrefix}enc.`);
}

/** The variables behind a model's trainable weights, optionally filtered by weight name. */
export function trainableVariables(
  model: tfl.LayersModel,
  include: (name: string) => boolean = () => true,
): Variable[] {
  return model.trainableWeights.filter((w) => include(w.originalName)).map((w) => w.read() as Variable);
}
