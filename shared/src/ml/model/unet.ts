import type * as tfl from "@tensorflow/tfjs-layers";
import type { EncoderPresetName } from "../../fl/model-spec.js";
import { ConvBnRelu, type Flow, type LayerFactory, type LayerRunner } from "./flow.js";
import type { EncoderFeatures } from "./resnet.js";

/** The shape of the U-Net decoder. */
export interface DecoderPreset {
  /** Filters of each up-sampling step, deepest first; one step per halving done by the encoder. */
  readonly widths: readonly number[];
  /** conv-BN-ReLU units after each up-sampling (U-Net uses 2). */
  readonly convsPerStep: number;
}

/** Decoders matched to the encoder presets (tiny: 4 steps for stride 16, resnet18: 5 for stride 32). */
export const DECODER_PRESETS: Readonly<Record<EncoderPresetName, DecoderPreset>> = {
  tiny: { widths: [32, 16, 8, 8], convsPerStep: 1 },
  resnet18: { widths: [256, 128, 64, 32, 16], convsPerStep: 2 },
};

/**
 * A U-Net style decoder: each step up-samples x2 (nearest neighbour, then convolutions, which
 * avoids the checkerboard artefacts of transposed convolutions), concatenates the encoder's skip
 * feature of that resolution when there is one, and applies conv-BN-ReLU units. Steps past the
 * last skip (the encoder's stride-2 stem) have no skip. Layer names start with `dec.`.
 */
export class UnetDecoder {
  private readonly steps: {
    upsample: tfl.layers.Layer;
    concat: tfl.layers.Layer;
    convs: ConvBnRelu[];
  }[];

  constructor(factory: LayerFactory, preset: DecoderPreset) {
    this.steps = preset.widths.map((filters, i) => {
      const name = `dec.up${i + 1}`;
      return {
        upsample: factory.upsample(`${name}.resize`),
        concat: factory.concat(`${name}.concat`),
        convs: Array.from(
          { length: preset.convsPerStep },
          (_, c) => new ConvBnRelu(factory, `${name}.conv${c + 1}`, { filters }),
        ),
      };
    });
  }

  /** Number of x2 up-sampling steps; must equal log2 of the encoder's total stride. */
  get upsamplingSteps(): number {
    return this.steps.length;
  }

  /** Decodes to a feature map at the input resolution (before the 1x1 output convolutions). */
  forward<T extends Flow>(features: EncoderFeatures<T>, run: LayerRunner<T>): T {
    const skips = [...features.skips].reverse();
    let y = features.bottleneck;
    this.steps.forEach((step, i) => {
      y = run(step.upsample, y);
      const skip = skips[i];
      if (skip !== undefined) y = run(step.concat, [y, skip]);
      for (const conv of step.convs) y = conv.forward(y, run);
    });
    return y;
  }
}
