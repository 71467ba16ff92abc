import type { LoadedBackend } from "../../shared/src/ml/tf/backend.js";

export type Tf = LoadedBackend["tf"];

export const WORKLOAD_NAMES = ["reference", "small-cnn", "multitask", "moco"] as const;
export type WorkloadName = (typeof WORKLOAD_NAMES)[number];

/**
 * Counted the same way on both sides, so that a twin can be checked against its tfjs workload:
 * `trainable` are the weights the optimiser updates; `total` every weight of the networks the
 * step runs, batch-norm moving statistics included (and the MoCo key network).
 */
export interface ParameterCounts {
  readonly trainable: number;
  readonly total: number;
}

/** A workload built at one input size on the current backend, ready to step. */
export interface BuiltWorkload {
  readonly parameters: ParameterCounts;
  /** One training step on fixed inputs; resolves with the loss once the step has finished. */
  step(): Promise<number>;
  dispose(): void;
}

/** One benchmarked training step, with its PyTorch twin in bench/torch/ under the same name. */
export interface WorkloadDefinition {
  readonly name: WorkloadName;
  readonly description: string;
  /** Input sizes measured unless the command line says otherwise. */
  readonly sizes: readonly number[];
  readonly batch: number;
  build(tf: Tf, inputSize: number): BuiltWorkload;
  /** Model FLOPs of one training step per image, where counted (the reference model). */
  readonly trainingFlopsPerImage?: (inputSize: number) => number;
}

/** Sizes of a layers model's weights, counted as `ParameterCounts` does. */
export function countWeights(model: {
  readonly trainableWeights: readonly Weight[];
  readonly weights: readonly Weight[];
}): ParameterCounts {
  const size = (weights: readonly Weight[]) => weights.reduce((sum, w) => sum + w.read().size, 0);
  return { trainable: size(model.trainableWeights), total: size(model.weights) };
}
type Weight = { read(): { readonly size: number } };

/** `--workloads a,b`: known names, in the order given. */
export function parseWorkloads(value: string): WorkloadName[] {
  const names = value
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name.length > 0);
  const unknown = names.filter((name) => !(WORKLOAD_NAMES as readonly string[]).includes(name));
  if (unknown.length > 0 || names.length === 0)
    throw new Error(
      `--workloads: unknown ${unknown.length > 0 ? unknown.join(", ") : "(empty list)"}; choose from ${WORKLOAD_NAMES.join(", ")}`,
    );
  return names as WorkloadName[];
}
