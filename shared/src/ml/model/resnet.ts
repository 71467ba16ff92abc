import type * as tfl from "@tensorflow/tfjs-layers";
import type { EncoderPresetName } from "../../fl/model-spec.js";
import { ConvBnRelu, type Flow, type LayerFactory, type LayerRunner } from "./flow.js";

/** The shape of a ResNet-style encoder. */
export interface EncoderPreset {
  /** Kernel size of the stem convolution. */
  readonly stemKernel: number;
  /** Stride of the stem convolution. */
  readonly stemStride: number;
  /** A 3x3/2 max-pool after the stem (ResNet's ImageNet stem); its input then becomes a skip feature. */
  readonly stemPool: boolean;
  /** Filters of each stage; every stage after the first halves the resolution. The stem uses the first. */
  readonly widths: readonly number[];
  /** Basic blocks per stage. */
  readonly blocks: readonly number[];
}

/**
 * - `tiny`: stem 3x3/2, four stages of one basic block, widths 8-16-32-64 (77k trainable parameters),
 *   total stride 16: small enough to train on a CPU core in simulation and in tests.
 * - `resnet18`: ResNet-18 (stem 7x7/2 + max-pool, stages of two basic blocks, widths
 *   64-128-256-512; ~11.2M parameters for one input channel), total stride 32, for GPUs.
 */
export const ENCODER_PRESETS: Readonly<Record<EncoderPresetName, EncoderPreset>> = {
  tiny: { stemKernel: 3, stemStride: 2, stemPool: false, widths: [8, 16, 32, 64], blocks: [1, 1, 1, 1] },
  resnet18: {
    stemKernel: 7,
    stemStride: 2,
    stemPool: true,
    widths: [64, 128, 256, 512],
    blocks: [2, 2, 2, 2],
  },
};

/** What the encoder hands to its heads. */
export interface EncoderFeatures<T extends Flow> {
  /** Features for the U-Net's skip connections, highest resolution first, each half the previous. */
  readonly skips: readonly T[];
  /** The deepest feature map (input size / total stride). */
  readonly bottleneck: T;
}

/** conv3x3/s → BN → ReLU → conv3x3 → BN, plus a shortcut (1x1/s conv + BN when the shape changes), → ReLU. */
class BasicBlock {
  private readonly first: ConvBnRelu;
  private readonly conv2: tfl.layers.Layer;
  private readonly bn2: tfl.layers.Layer;
  private readonly shortcut: { conv: tfl.layers.Layer; bn: tfl.layers.Layer } | undefined;
  private readonly add: tfl.layers.Layer;
  private readonly relu: tfl.layers.Layer;

  constructor(
    factory: LayerFactory,
    name: string,
    options: { filters: number; strides: number; inChannels: number },
  ) {
    this.first = new ConvBnRelu(factory, `${name}.conv1`, {
      filters: options.filters,
      strides: options.strides,
    });
    this.conv2 = factory.conv(`${name}.conv2`, { filters: options.filters, kernelSize: 3 });
    this.bn2 = factory.batchNorm(`${name}.conv2.bn`);
    if (options.strides !== 1 || options.inChannels !== options.filters) {
      this.shortcut = {
        conv: factory.conv(`${name}.down`, {
          filters: options.filters,
          kernelSize: 1,
          strides: options.strides,
        }),
        bn: factory.batchNorm(`${name}.down.bn`),
      };
    }
    this.add = factory.add(`${name}.add`);
    this.relu = factory.relu(`${name}.relu`);
  }

  forward<T extends Flow>(x: T, run: LayerRunner<T>): T {
    const residual = run(this.bn2, run(this.conv2, this.first.forward(x, run)));
    const shortcut = this.shortcut ? run(this.shortcut.bn, run(this.shortcut.conv, x)) : x;
    return run(this.relu, run(this.add, [residual, shortcut]));
  }
}

/**
 * A ResNet-style encoder for one-channel images. Layer names start with `enc.` (after the
 * factory's prefix): `enc.stem`, `enc.s{stage}.b{block}.conv1`, ... so that sharing rules can
 * select the encoder by prefix.
 */
export class ResNetEncoder {
  readonly preset: EncoderPreset;
  private readonly stem: ConvBnRelu;
  private readonly pool: tfl.layers.Layer | undefined;
  private readonly stages: BasicBlock[][];

  constructor(factory: LayerFactory, preset: EncoderPreset) {
    this.preset = preset;
    const stemWidth = preset.widths[0] ?? 1;
    this.stem = new ConvBnRelu(factory, "enc.stem", {
      filters: stemWidth,
      kernelSize: preset.stemKernel,
      strides: preset.stemStride,
    });
    this.pool = preset.stemPool ? factory.maxPool("enc.stem.pool") : undefined;
    let inChannels = stemWidth;
    this.stages = preset.widths.map((filters, stage) =>
      Array.from({ length: preset.blocks[stage] ?? 1 }, (_, block) => {
        const created = new BasicBlock(factory, `enc.s${stage + 1}.b${block + 1}`, {
          filters,
          strides: stage > 0 && block === 0 ? 2 : 1,
          inChannels,
        });
        inChannels = filters;
        return created;
      }),
    );
  }

  /** How much the encoder divides the input resolution. */
  get totalStride(): number {
    return this.preset.stemStride * (this.preset.stemPool ? 2 : 1) * 2 ** (this.preset.widths.length - 1);
  }

  /** Channels of each skip feature (same order as `skips`) and of the bottleneck. */
  get skipChannels(): number[] {
    const stages = this.preset.widths.slice(0, -1);
    return this.preset.stemPool ? [this.preset.widths[0] ?? 1, ...stages] : [...stages];
  }

  forward<T extends Flow>(x: T, run: LayerRunner<T>): EncoderFeatures<T> {
    const skips: T[] = [];
    let y = this.stem.forward(x, run);
    if (this.pool) {
      skips.push(y);
      y = run(this.pool, y);
    }
    this.stages.forEach((blocks, stage) => {
      for (const block of blocks) y = block.forward(y, run);
      if (stage < this.stages.length - 1) skips.push(y);
    });
    return { skips, bottleneck: y };
  }
}
