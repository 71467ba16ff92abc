import type * as tfc from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import type { LoadedBackend } from "../shared/src/ml/tf/backend.js";
import { buildReferenceModel, REFERENCE_BATCH, REFERENCE_CLASSES } from "./reference-model.js";

type Tf = LoadedBackend["tf"];

/** Timings of training steps of the reference model on the current backend. */
export interface StepTimings {
  /** Milliseconds of each timed step, in order. */
  readonly stepsMs: number[];
  readonly medianMs: number;
  readonly minMs: number;
  /**
   * Process CPU time (user + system) of each timed step. On a machine shared with other work,
   * wall time includes waiting for a core; CPU time is what the step costs one core.
   */
  readonly cpuMs: number[];
  readonly medianCpuMs: number;
  /** Loss of the last step: finite, or the run is broken. */
  readonly lastLoss: number;
}

export interface MeasureOptions {
  readonly inputSize: number;
  /** Untimed steps first: XNNPACK operators, optimizer slots and the JIT warm up. */
  readonly warmupSteps: number;
  readonly timedSteps: number;
}

/**
 * Trains the reference model (Adam 1e-3, batch 16, categorical cross-entropy, batch norm in
 * training mode) on fixed random images and times each step, reading the loss back so that the
 * step has finished. Frees everything it made.
 */
export function measureTrainingSteps(tf: Tf, options: MeasureOptions): StepTimings {
  const { inputSize } = options;
  const model = buildReferenceModel(inputSize);
  const optimizer = tf.train.adam(1e-3);
  const x = tf.randomNormal([REFERENCE_BATCH, inputSize, inputSize, 1], 0, 1, "float32", 7);
  const labels = tf.tensor1d(
    Array.from({ length: REFERENCE_BATCH }, (_, i) => i % REFERENCE_CLASSES),
    "int32",
  );
  const y = tf.cast(tf.oneHot(labels, REFERENCE_CLASSES), "float32");
  const step = (): number =>
    tf.tidy(() => {
      const cost = optimizer.minimize(() => {
        const predicted = model.apply(x, { training: true }) as tfc.Tensor;
        return tf.mean(tfl.metrics.categoricalCrossentropy(y, predicted)) as tfc.Scalar;
      }, true);
      return (cost?.dataSync()[0] as number | undefined) ?? Number.NaN;
    });
  try {
    for (let i = 0; i < options.warmupSteps; i++) step();
    const stepsMs: number[] = [];
    const cpuMs: number[] = [];
    let lastLoss = Number.NaN;
    for (let i = 0; i < options.timedSteps; i++) {
      const start = performance.now();
      const cpuStart = process.cpuUsage();
      lastLoss = step();
      const cpu = process.cpuUsage(cpuStart);
      stepsMs.push(performance.now() - start);
      cpuMs.push((cpu.user + cpu.system) / 1000);
    }
    return {
      stepsMs,
      medianMs: median(stepsMs),
      minMs: Math.min(...stepsMs),
      cpuMs,
      medianCpuMs: median(cpuMs),
      lastLoss,
    };
  } finally {
    optimizer.dispose();
    model.dispose();
    tf.dispose([x, labels, y]);
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}
