import { z } from "zod";
import { createFedAvg } from "./fedavg.js";
import { createKrum } from "./krum.js";
import { createMedian } from "./median.js";
import {
  createFedAdam,
  createFedAvgM,
  createFedYogi,
  DEFAULT_FEDADAM_OPTIONS,
  DEFAULT_FEDAVGM_OPTIONS,
  DEFAULT_FEDYOGI_OPTIONS,
} from "./server-optimizers.js";
import type { Strategy } from "./strategy.js";
import { createTrimmedMean } from "./trimmed-mean.js";

const serverLearningRate = z.number().positive();
/** Decay rates and momentum: 1 would never forget, so it is excluded. */
const decay = z.number().min(0).lt(1);

/** `strategy` in a plan: which aggregation runs on the coordinator, with its options. */
export const StrategyConfigSchema = z.discriminatedUnion("name", [
  z.object({ name: z.literal("fedavg") }).strict(),
  z
    .object({
      name: z.literal("fedavgm"),
      /** η of x ← x + η·m. */
      serverLearningRate: serverLearningRate.default(DEFAULT_FEDAVGM_OPTIONS.serverLearningRate),
      /** β of m ← β·m + Δ. */
      momentum: decay.default(DEFAULT_FEDAVGM_OPTIONS.momentum),
    })
    .strict(),
  z
    .object({
      name: z.literal("fedadam"),
      serverLearningRate: serverLearningRate.default(DEFAULT_FEDADAM_OPTIONS.serverLearningRate),
      beta1: decay.default(DEFAULT_FEDADAM_OPTIONS.beta1),
      beta2: decay.default(DEFAULT_FEDADAM_OPTIONS.beta2),
      /** Adaptivity τ > 0 of x ← x + η·m / (√v + τ). */
      tau: z.number().positive().default(DEFAULT_FEDADAM_OPTIONS.tau),
    })
    .strict(),
  z
    .object({
      name: z.literal("fedyogi"),
      serverLearningRate: serverLearningRate.default(DEFAULT_FEDYOGI_OPTIONS.serverLearningRate),
      beta1: decay.default(DEFAULT_FEDYOGI_OPTIONS.beta1),
      beta2: decay.default(DEFAULT_FEDYOGI_OPTIONS.beta2),
      tau: z.number().positive().default(DEFAULT_FEDYOGI_OPTIONS.tau),
    })
    .strict(),
  z.object({ name: z.literal("median") }).strict(),
  z
    .object({
      name: z.literal("trimmed-mean"),
      /** β: ⌊β·n⌋ values are dropped from each end of every coordinate. */
      trimFraction: z.number().min(0).lt(0.5).default(0.1),
    })
    .strict(),
  z
    .object({
      name: z.literal("krum"),
      /** f, the attackers tolerated: no default, since it is the operator's threat model. */
      byzantine: z.number().int().min(0),
      /** m, the lowest-scoring updates averaged: 1 is Krum, more is multi-Krum. */
      select: z.number().int().min(1).default(1),
    })
    .strict(),
]);
/** A validated strategy config, defaults filled in. */
export type StrategyConfig = z.infer<typeof StrategyConfigSchema>;
/** A strategy config as written in a plan file (options optional). */
export type StrategyConfigInput = z.input<typeof StrategyConfigSchema>;

/**
 * The strategy a (validated) config names. FedAvgM, FedAdam and FedYogi carry server optimiser
 * state: check them with `hasServerState` and checkpoint `exportState()` with the model.
 */
export function createStrategy(config: StrategyConfig): Strategy {
  switch (config.name) {
    case "fedavg":
      return createFedAvg();
    case "fedavgm":
      return createFedAvgM({ serverLearningRate: config.serverLearningRate, momentum: config.momentum });
    case "fedadam":
      return createFedAdam(adaptiveOptions(config));
    case "fedyogi":
      return createFedYogi(adaptiveOptions(config));
    case "median":
      return createMedian();
    case "trimmed-mean":
      return createTrimmedMean({ trimFraction: config.trimFraction });
    case "krum":
      return createKrum({ byzantine: config.byzantine, select: config.select });
  }
}

function adaptiveOptions(config: { serverLearningRate: number; beta1: number; beta2: number; tau: number }) {
  return {
    serverLearningRate: config.serverLearningRate,
    beta1: config.beta1,
    beta2: config.beta2,
    tau: config.tau,
  };
}
