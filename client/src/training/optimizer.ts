import type * as tfc from "@tensorflow/tfjs-core";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import type { LoadedBackend } from "../../../shared/src/ml/tf/backend.js";
import { fedProxPenalty } from "./fedprox.js";
import { constantSchedule, type LearningRateSchedule } from "./schedule.js";

type Tf = LoadedBackend["tf"];

/** The optimiser of a local training round. A fresh one is made each round (usual in FedAvg). */
export interface OptimizerOptions {
  /** `adam` (default) or `sgd` with momentum. */
  readonly kind: "adam" | "sgd";
  /** A fixed rate or a schedule over `firstStep + local step`. */
  readonly learningRate: number | LearningRateSchedule;
  /** SGD momentum; default 0.9. Ignored by Adam. */
  readonly momentum?: number;
  /**
   * Decoupled weight decay (AdamW/SGDW style: w -= lr * decay * w after each step), applied to
   * convolution and dense kernels only, never to biases or batch-norm parameters. Default 0.
   */
  readonly weightDecay?: number;
  /**
   * FedProx μ: adds μ/2·‖w − w_global‖² over the trained variables, w_global being each
   * variable's value when this optimiser first sees it (the round's global model). Default 0.
   */
  readonly proximalMu?: number;
}

/**
 * An optimiser whose learning rate follows a schedule. tfjs optimisers take a fixed rate at
 * construction; SGD/momentum expose `setLearningRate`, Adam reads its (protected) `learningRate`
 * field at every step, so setting that field before the step is what changes its rate.
 */
export class ScheduledOptimizer {
  private readonly optimizer: tfc.Optimizer;
  private readonly schedule: LearningRateSchedule;
  private step: number;
  /** FedProx anchors: each variable's value before its first step this round. */
  private readonly anchors = new Map<tfc.Variable, tfc.Tensor>();

  constructor(
    private readonly tf: Tf,
    private readonly options: OptimizerOptions,
    firstStep = 0,
  ) {
    this.schedule =
      typeof options.learningRate === "number"
        ? constantSchedule(options.learningRate)
        : options.learningRate;
    this.step = firstStep;
    const initial = this.schedule(firstStep);
    checkRate(initial, firstStep);
    this.optimizer =
      options.kind === "sgd" ? tf.train.momentum(initial, options.momentum ?? 0.9) : tf.train.adam(initial);
  }

  /** The rate the next step will use. */
  get learningRate(): number {
    return this.schedule(this.step);
  }

  /**
   * One step on `variables` minimising `loss()`; returns the loss tensor (the caller disposes
   * it). `decayed` are the variables that get weight decay.
   */
  minimize(loss: () => tfc.Scalar, variables: tfc.Variable[], decayed: tfc.Variable[] = []): tfc.Scalar {
    const rate = this.schedule(this.step);
    checkRate(rate, this.step);
    setRate(this.optimizer, rate);
    const mu = this.options.proximalMu ?? 0;
    if (mu > 0)
      for (const v of variables)
        if (!this.anchors.has(v)) this.anchors.set(v, this.tf.keep(this.tf.clone(v)));
    const objective =
      mu > 0
        ? () =>
            this.tf.add(
              loss(),
              fedProxPenalty(this.tf, {
                mu,
                variables,
                globalValues: variables.map((v) => this.anchors.get(v) as tfc.Tensor),
              }),
            ) as tfc.Scalar
        : loss;
    const cost = this.optimizer.minimize(objective, true, variables);
    if (!cost) throw new FlError(ErrorCode.Internal, "optimizer returned no loss");
    const decay = this.options.weightDecay ?? 0;
    if (decay > 0 && decayed.length > 0) {
      this.tf.tidy(() => {
        for (const v of decayed) v.assign(this.tf.mul(v, 1 - rate * decay));
      });
    }
    this.step++;
    return cost;
  }

  dispose(): void {
    this.optimizer.dispose();
    this.tf.dispose([...this.anchors.values()]);
    this.anchors.clear();
  }
}

function setRate(optimizer: tfc.Optimizer, rate: number): void {
  const withSetter = optimizer as unknown as { setLearningRate?: (rate: number) => void };
  if (typeof withSetter.setLearningRate === "function") {
    withSetter.setLearningRate(rate);
  } else {
    (optimizer as unknown as { learningRate: number }).learningRate = rate;
  }
}

function checkRate(rate: number, step: number): void {
  if (!Number.isFinite(rate) || rate < 0) {
    throw new FlError(
      ErrorCode.InvalidConfig,
      `learning rate at step ${step} is ${rate}: it must be finite and >= 0`,
    );
  }
}

/** Kernels of convolutions and dense layers: what weight decay applies to. */
export function isDecayedWeight(name: string): boolean {
  return name.endsWith("/kernel");
}
