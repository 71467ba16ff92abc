/**
 * The paper's comparison (Ridzuan et al., MIUA 2022) as a grid of federated runs: encoder
 * initialisation {scratch, MoCo, inpainting} × head {classification only, multi-task} × label
 * fraction {10 %, 100 %} × seeds, plus centralised and local-only baselines of the best setting.
 * Pure: sizes and settings in, run descriptions out.
 */

import type { TaskKindName } from "../../shared/src/fl/task-kinds.js";

/** The encoder's initialisation; the short names label the settings of committed results. */
export type Init = "scratch" | "moco" | "inpaint";
export type Head = "classify" | "multitask";

export interface PaperSizes {
  readonly imageSize: number;
  readonly imagesPerSite: number;
  readonly pretrainRounds: number;
  readonly finetuneRounds: number;
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly encoder: "tiny" | "resnet18";
}

/** Sized so that the whole grid (48 federations) finishes on a 2-core CPU machine within an hour. */
export const BASE_SIZES: PaperSizes = {
  imageSize: 32,
  imagesPerSite: 96,
  pretrainRounds: 3,
  finetuneRounds: 4,
  epochs: 2,
  batchSize: 16,
  learningRate: 2e-3,
  encoder: "tiny",
};

/** `--scale s` multiplies images and rounds; from 4 on, 64-pixel images; from 8 on, ResNet-18 (GPU hosts). */
export function scaledSizes(scale: number): PaperSizes {
  if (!(scale > 0)) throw new RangeError(`scale must be > 0, got ${scale}`);
  return {
    ...BASE_SIZES,
    imagesPerSite: Math.max(24, Math.round(BASE_SIZES.imagesPerSite * scale)),
    pretrainRounds: Math.max(1, Math.round(BASE_SIZES.pretrainRounds * Math.sqrt(scale))),
    finetuneRounds: Math.max(1, Math.round(BASE_SIZES.finetuneRounds * Math.sqrt(scale))),
    imageSize: scale >= 4 ? 64 : BASE_SIZES.imageSize,
    encoder: scale >= 8 ? "resnet18" : "tiny",
  };
}

export interface Setting {
  readonly init: Init;
  readonly head: Head;
  readonly labelFraction: number;
}

export const INITS: readonly Init[] = ["scratch", "moco", "inpaint"];
const PRETRAIN_TASK = { moco: "moco", inpaint: "inpainting" } as const satisfies Record<
  Exclude<Init, "scratch">,
  TaskKindName
>;
export const HEADS: readonly Head[] = ["classify", "multitask"];
export const LABEL_FRACTIONS: readonly number[] = [0.1, 1];

export function settingName(s: Setting): string {
  return `${s.init}-${s.head === "classify" ? "cls" : "mtl"}-${Math.round(s.labelFraction * 100)}pct`;
}

export function federatedGrid(): Setting[] {
  return INITS.flatMap((init) =>
    HEADS.flatMap((head) => LABEL_FRACTIONS.map((labelFraction) => ({ init, head, labelFraction }))),
  );
}

/** The plan's phases for a setting: optional self-supervised pre-training, then fine-tuning. */
export function phasesFor(setting: Setting, sizes: PaperSizes): Array<Record<string, unknown>> {
  const train = { epochs: sizes.epochs, batchSize: sizes.batchSize, learningRate: sizes.learningRate };
  const pretrain =
    setting.init === "scratch"
      ? []
      : [
          {
            name: `pretrain-${setting.init}`,
            task: PRETRAIN_TASK[setting.init],
            rounds: sizes.pretrainRounds,
            train,
          },
        ];
  return [
    ...pretrain,
    {
      name: "finetune",
      task: setting.head,
      rounds: sizes.finetuneRounds,
      labelFraction: setting.labelFraction,
      train,
    },
  ];
}

export function modelFor(sizes: PaperSizes, seed: number): Record<string, unknown> {
  return {
    architecture: "unet-multitask",
    encoder: sizes.encoder,
    imageSize: sizes.imageSize,
    numClasses: 4,
    seed,
  };
}
