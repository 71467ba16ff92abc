import type { Scalar, Tensor } from "@tensorflow/tfjs-core";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";

/**
 * FedProx (Li et al. 2020, "Federated Optimization in Heterogeneous Networks"): each client adds
 * μ/2·‖w − w_global‖² to its local loss, which pulls local training back towards the global model
 * and limits client drift on non-IID sites. Its gradient is μ·(w − w_global).
 *
 * The tfjs-core namespace is passed in rather than imported so that this module works with
 * whichever backend package the caller loaded (cpu, wasm, tfjs-node) and never registers one.
 */

/** The tfjs-core namespace (`import * as tf from "@tensorflow/tfjs-core"`). */
export type TfCore = typeof import("@tensorflow/tfjs-core");

export interface FedProxOptions {
  /**
   * μ ≥ 0, the proximal weight. 0 gives a zero loss (plain FedAvg local training); the paper's
   * useful range is about 0.001–1.
   */
  readonly mu: number;
  /**
   * The variables the local optimiser trains, usually the shared ones only: local tensors
   * (FedBN statistics, per-site heads) have no global counterpart to be pulled towards.
   */
  readonly variables: ReadonlyArray<Tensor>;
  /**
   * The global model's values of the same variables, in the same order and shapes, taken when
   * the round's global model was loaded (see `snapshotValues`). They are constants: no gradient
   * flows into them.
   */
  readonly globalValues: ReadonlyArray<Tensor>;
}

/**
 * μ/2·Σᵢ‖wᵢ − gᵢ‖² as a scalar tensor, to be added to the task loss inside the function given to
 * `optimizer.minimize` (or `tf.variableGrads`) so that its gradient μ·(w − g) is included.
 * Intermediate tensors are released; the returned scalar belongs to the caller (or to the
 * enclosing tidy). Throws FlError(InvalidArgument) when μ is not a finite number ≥ 0 or the two
 * lists do not pair up in length and shape.
 */
export function fedProxPenalty(tf: TfCore, options: FedProxOptions): Scalar {
  const { mu, variables, globalValues } = options;
  if (typeof mu !== "number" || !Number.isFinite(mu) || mu < 0) {
    throw new FlError(ErrorCode.InvalidArgument, `FedProx mu must be a finite number ≥ 0, got ${mu}`);
  }
  if (variables.length !== globalValues.length) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `FedProx got ${variables.length} variables but ${globalValues.length} global values; ` +
        "snapshot the same variables that are trained",
    );
  }
  for (const [i, variable] of variables.entries()) {
    const global = globalValues[i] as Tensor;
    if (!sameShape(variable.shape, global.shape)) {
      throw new FlError(
        ErrorCode.InvalidArgument,
        `FedProx variable ${describe(variable, i)} has shape [${variable.shape.join(", ")}] but its global ` +
          `value has [${global.shape.join(", ")}]; the lists must be in the same order`,
      );
    }
  }
  return tf.tidy(() => {
    let sumSquares: Scalar = tf.scalar(0);
    for (const [i, variable] of variables.entries()) {
      sumSquares = tf.add(sumSquares, tf.sum(tf.squaredDifference(variable, globalValues[i] as Tensor)));
    }
    return tf.mul(sumSquares, tf.scalar(mu / 2));
  });
}

/**
 * Copies of the variables' current values, kept out of any enclosing tidy: the global anchor
 * for `fedProxPenalty`. Take it right after loading the global model, before the first local
 * step, and `tf.dispose` it when the round's training ends.
 */
export function snapshotValues(tf: TfCore, variables: ReadonlyArray<Tensor>): Tensor[] {
  return variables.map((variable) => tf.keep(tf.clone(variable)));
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((size, d) => size === b[d]);
}

function describe(tensor: Tensor, index: number): string {
  const name = (tensor as { name?: unknown }).name;
  return typeof name === "string" ? `"${name}" (index ${index})` : `at index ${index}`;
}
