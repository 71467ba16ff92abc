import type { Tensor } from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { deriveSeed } from "../../random.js";

/**
 * A value flowing through a forward function: symbolic while a `tfl.model` is being built,
 * concrete when the same function runs eagerly in a custom training loop.
 */
export type Flow = tfl.SymbolicTensor | Tensor;

/**
 * Calls one layer on its input(s). The networks' forward functions are written once against
 * this, and run with either runner: the symbolic one builds the layers model (weights, manifest,
 * inference), the eager one trains with batch-norm in the mode the caller asks for. (A
 * functional model's own `apply` does not pass `training` on to its layers; see docs/methods.md.)
 */
export type LayerRunner<T extends Flow> = (layer: tfl.layers.Layer, input: T | T[]) => T;

/** Builds the graph of a layers model. */
export const symbolicRunner: LayerRunner<tfl.SymbolicTensor> = (layer, input) =>
  layer.apply(input) as tfl.SymbolicTensor;

/** Runs layers on tensors; `training` selects batch statistics (and moving-average updates). */
export function eagerRunner(training: boolean): LayerRunner<Tensor> {
  return (layer, input) => layer.apply(input, { training }) as Tensor;
}

/**
 * The initialiser seed of a layer, from the model seed and the layer's name without any prefix,
 * so that a layer gets the same initial weights whichever phase model it is built in and
 * whatever other layers exist (a MoCo key encoder starts equal to its query encoder).
 */
export function layerSeed(modelSeed: number, name: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return deriveSeed(modelSeed, hash);
}

/** Builds layers with explicit names under a prefix ("key." for a MoCo key encoder) and seeded initialisers. */
export class LayerFactory {
  constructor(
    private readonly modelSeed: number,
    private readonly prefix: string,
  ) {}

  /** A 3x3 (or k x k) convolution without bias, "same" padding, He-normal initialised. */
  conv(name: string, options: { filters: number; kernelSize: number; strides?: number }): tfl.layers.Layer {
    return tfl.layers.conv2d({
      name: this.prefix + name,
      filters: options.filters,
      kernelSize: options.kernelSize,
      strides: options.strides ?? 1,
      padding: "same",
      useBias: false,
      kernelInitializer: tfl.initializers.heNormal({ seed: layerSeed(this.modelSeed, name) }),
    });
  }

  /** A 1x1 convolution with bias, for output maps (logits, reconstructions). */
  outputConv(name: string, filters: number): tfl.layers.Layer {
    return tfl.layers.conv2d({
      name: this.prefix + name,
      filters,
      kernelSize: 1,
      padding: "same",
      kernelInitializer: tfl.initializers.glorotUniform({ seed: layerSeed(this.modelSeed, name) }),
    });
  }

  batchNorm(name: string): tfl.layers.Layer {
    // Momentum 0.9 rather than tfjs' 0.99: a federated round has few local steps, and the moving
    // statistics must follow the site's data within a round.
    return tfl.layers.batchNormalization({ name: this.prefix + name, momentum: 0.9 });
  }

  relu(name: string): tfl.layers.Layer {
    return tfl.layers.reLU({ name: this.prefix + name });
  }

  dense(name: string, options: { units: number; activation?: "relu" }): tfl.layers.Layer {
    return tfl.layers.dense({
      name: this.prefix + name,
      units: options.units,
      ...(options.activation ? { activation: options.activation } : {}),
      kernelInitializer: tfl.initializers.glorotUniform({ seed: layerSeed(this.modelSeed, name) }),
    });
  }

  globalPool(name: string): tfl.layers.Layer {
    return tfl.layers.globalAveragePooling2d({ name: this.prefix + name });
  }

  maxPool(name: string): tfl.layers.Layer {
    return tfl.layers.maxPooling2d({ name: this.prefix + name, poolSize: 3, strides: 2, padding: "same" });
  }

  upsample(name: string): tfl.layers.Layer {
    return tfl.layers.upSampling2d({ name: this.prefix + name, size: [2, 2] });
  }

  add(name: string): tfl.layers.Layer {
    return tfl.layers.add({ name: this.prefix + name });
  }

  concat(name: string): tfl.layers.Layer {
    return tfl.layers.concatenate({ name: this.prefix + name, axis: -1 });
  }
}

/** conv → batch norm → ReLU, the repeated unit of encoder and decoder. */
export class ConvBnRelu {
  private readonly conv: tfl.layers.Layer;
  private readonly bn: tfl.layers.Layer;
  private readonly relu: tfl.layers.Layer;

  constructor(
    factory: LayerFactory,
    name: string,
    options: { filters: number; kernelSize?: number; strides?: number },
  ) {
    this.conv = factory.conv(name, {
      filters: options.filters,
      kernelSize: options.kernelSize ?? 3,
      strides: options.strides ?? 1,
    });
    this.bn = factory.batchNorm(`${name}.bn`);
    this.relu = factory.relu(`${name}.relu`);
  }

  forward<T extends Flow>(x: T, run: LayerRunner<T>): T {
    return run(this.relu, run(this.bn, run(this.conv, x)));
  }
}
