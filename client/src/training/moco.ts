import type * as tfc from "@tensorflow/tfjs-core";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import type { UnetMultitaskSpec } from "../../../shared/src/fl/model-spec.js";
import type { ImageSet } from "../../../shared/src/ml/data/types.js";
import {
  buildMocoNetwork,
  type MocoNetwork,
  trainableVariables,
} from "../../../shared/src/ml/model/networks.js";
import { manifestOf, readWeights } from "../../../shared/src/ml/model/weights-bridge.js";
import type { LoadedBackend } from "../../../shared/src/ml/tf/backend.js";
import { Rng } from "../../../shared/src/random.js";
import type { ModelWeights } from "../../../shared/src/weights/types.js";
import { type AugmentOptions, augmentBatch, DEFAULT_AUGMENT_OPTIONS } from "./augment.js";
import { allIndices, checkImageSize, gatherImages, planBatches } from "./batches.js";
import { infoNce, l2Normalize } from "./losses.js";
import { isDecayedWeight, ScheduledOptimizer } from "./optimizer.js";
import { type LocalRoundOptions, type LocalRoundResult, runSteps } from "./round.js";

type Tf = LoadedBackend["tf"];

/**
 * A fixed-capacity FIFO of feature vectors (MoCo's queue of negative keys). Enqueuing into a
 * full queue drops the oldest rows. Plain Float32Array storage, so it survives between rounds
 * and can be copied or persisted by the caller.
 */
export class FeatureQueue {
  private readonly rows: Float32Array;
  /** Index of the oldest row. */
  private head = 0;
  private length = 0;

  constructor(
    readonly capacity: number,
    readonly dim: number,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1 || !Number.isInteger(dim) || dim < 1) {
      throw new FlError(
        ErrorCode.InvalidConfig,
        `queue capacity (${capacity}) and dim (${dim}) must be positive integers`,
      );
    }
    this.rows = new Float32Array(capacity * dim);
  }

  /** A full queue of random unit vectors (how MoCo starts, so the first steps have negatives). */
  static random(capacity: number, dim: number, rng: Rng): FeatureQueue {
    const queue = new FeatureQueue(capacity, dim);
    const rows = new Float32Array(capacity * dim);
    for (let r = 0; r < capacity; r++) {
      let norm = 0;
      for (let d = 0; d < dim; d++) {
        // Box-Muller: isotropic directions.
        const value = Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
        rows[r * dim + d] = value;
        norm += value * value;
      }
      const scale = 1 / Math.sqrt(norm || 1);
      for (let d = 0; d < dim; d++) rows[r * dim + d] = (rows[r * dim + d] as number) * scale;
    }
    queue.enqueue(rows);
    return queue;
  }

  /** Rows held (<= capacity). */
  get size(): number {
    return this.length;
  }

  /** Appends rows (row-major, a multiple of dim values); the oldest rows go when it is full. */
  enqueue(values: Float32Array): void {
    if (values.length % this.dim !== 0) {
      throw new FlError(
        ErrorCode.InvalidArgument,
        `enqueue got ${values.length} values, not a multiple of dim ${this.dim}`,
      );
    }
    const count = values.length / this.dim;
    // Only the newest `capacity` rows can survive.
    const skip = Math.max(0, count - this.capacity);
    for (let r = skip; r < count; r++) {
      const tail = (this.head + this.length) % this.capacity;
      this.rows.set(values.subarray(r * this.dim, (r + 1) * this.dim), tail * this.dim);
      if (this.length < this.capacity) this.length++;
      else this.head = (this.head + 1) % this.capacity;
    }
  }

  /** Removes and returns the `count` oldest rows (fewer if the queue holds fewer). */
  dequeue(count: number): Float32Array {
    const n = Math.min(Math.max(0, Math.floor(count)), this.length);
    const out = new Float32Array(n * this.dim);
    for (let r = 0; r < n; r++) {
      const from = ((this.head + r) % this.capacity) * this.dim;
      out.set(this.rows.subarray(from, from + this.dim), r * this.dim);
    }
    this.head = (this.head + n) % this.capacity;
    this.length -= n;
    return out;
  }

  /** All rows, oldest first (size x dim, a copy). */
  toArray(): Float32Array {
    const out = new Float32Array(this.length * this.dim);
    for (let r = 0; r < this.length; r++) {
      const from = ((this.head + r) % this.capacity) * this.dim;
      out.set(this.rows.subarray(from, from + this.dim), r * this.dim);
    }
    return out;
  }

  clone(): FeatureQueue {
    const copy = new FeatureQueue(this.capacity, this.dim);
    copy.enqueue(this.toArray());
    return copy;
  }
}

function checkMomentum(m: number): void {
  if (!(m >= 0 && m <= 1))
    throw new FlError(ErrorCode.InvalidConfig, `MoCo momentum must be in [0, 1] (got ${m})`);
}

/** The query network (federated) and its momentum key network (kept by each site). */
export interface MocoModels {
  /** Layer names `enc.*`, `proj.*`: the phase's global model. */
  readonly query: MocoNetwork;
  /** The same architecture with names `key.enc.*`, `key.proj.*`; never shared. */
  readonly key: MocoNetwork;
}

/** Builds query and key networks; the key starts as a copy of the query. */
export function createMocoModels(spec: UnetMultitaskSpec): MocoModels {
  const query = buildMocoNetwork(spec);
  const key = buildMocoNetwork(spec, { namePrefix: "key." });
  const models = { query, key };
  copyQueryToKey(models);
  return models;
}

/** Sets every key weight (trainable or not) to the query's: at the start, or to reset the key encoder. */
export function copyQueryToKey(models: MocoModels): void {
  pairedWeights(models);
  models.key.model.setWeights(models.query.model.getWeights());
}

/** The key weight for each query weight, in model order; checks that names correspond. */
function pairedWeights(models: MocoModels): void {
  const query = models.query.model.weights;
  const key = models.key.model.weights;
  const prefix = models.key.layers.namePrefix;
  const mismatch = query.findIndex(
    (w, i) =>
      key[i]?.originalName !== `${prefix}${w.originalName}` || key[i]?.shape.join() !== w.shape.join(),
  );
  if (query.length !== key.length || mismatch >= 0) {
    throw new FlError(
      ErrorCode.WeightsShapeMismatch,
      `the MoCo key network does not mirror the query network (weight ${mismatch}: ${query[mismatch]?.originalName} vs ${key[mismatch]?.originalName})`,
    );
  }
}

/** Defaults of the MoCo round that depend on the device. */
export interface MocoDeviceDefaults {
  readonly batchSize: number;
  readonly queueSize: number;
  readonly momentum: number;
  readonly temperature: number;
  readonly shuffleBnGroups: number;
}

/**
 * CPU: batch 32 and a 1024-key queue keep a tiny-encoder step at 64x64 well under a second on
 * one wasm core. GPU: batch 128 and 8192 keys (MoCo v2 uses 256 / 65536 on 8 GPUs; a hospital's
 * data rarely fills more). Momentum 0.99 rather than 0.999, because a federated round has few
 * local steps and the key encoder must follow the query within them; temperature 0.2 (MoCo v2).
 */
export const MOCO_DEFAULTS: Readonly<Record<"cpu" | "gpu", MocoDeviceDefaults>> = {
  cpu: { batchSize: 32, queueSize: 1024, momentum: 0.99, temperature: 0.2, shuffleBnGroups: 2 },
  gpu: { batchSize: 128, queueSize: 8192, momentum: 0.99, temperature: 0.2, shuffleBnGroups: 4 },
};

/** Options of a MoCo round. */
export interface MocoRoundOptions extends LocalRoundOptions {
  /** InfoNCE temperature; default 0.2. */
  readonly temperature?: number;
  /** Key encoder EMA momentum; default 0.99. */
  readonly momentum?: number;
  /** Capacity of a new queue when none is passed; default 1024. */
  readonly queueSize?: number;
  /**
   * Batch-norm sub-batches ("shuffle BN" on one device): the query runs on `groups` slices of
   * the batch, the key on slices of a shuffled batch, so that batch statistics cannot tell a
   * query its positive key. Default 2; 1 turns it off.
   */
  readonly shuffleBnGroups?: number;
  /** Augmentations of the two views; default DEFAULT_AUGMENT_OPTIONS. */
  readonly augment?: AugmentOptions;
  /** The queue kept from the previous round; a new random one when absent. Not modified. */
  readonly queue?: FeatureQueue;
}

/** What a MoCo round returns besides the query weights (read from `models.query.model`). */
export interface MocoRoundResult extends LocalRoundResult {
  /** The key network's weights after the round, to be kept locally until the next round. */
  readonly keyWeights: ModelWeights;
  /** The queue after the round, to be passed to the next round. */
  readonly queue: FeatureQueue;
}

/** Runs `network` on slices of `x` (rows `order`, cut into `groups`) and returns outputs in x's row order. */
export function runInGroups(
  tf: Tf,
  network: MocoNetwork,
  x: tfc.Tensor4D,
  order: number[],
  groups: number,
): tfc.Tensor2D {
  const n = x.shape[0];
  const g = Math.max(1, Math.min(groups, Math.floor(n / 2)));
  const identity = order.every((v, i) => v === i);
  const ordered = identity ? x : tf.gather(x, tf.tensor1d(order, "int32"));
  const outputs: tfc.Tensor2D[] = [];
  for (let i = 0; i < g; i++) {
    const start = Math.floor((i * n) / g);
    const end = Math.floor(((i + 1) * n) / g);
    const slice = g === 1 ? ordered : tf.slice(ordered, [start, 0, 0, 0], [end - start, -1, -1, -1]);
    outputs.push(network.run(slice as tfc.Tensor4D, { training: true }).projection);
  }
  const joined = outputs.length === 1 ? (outputs[0] as tfc.Tensor2D) : tf.concat(outputs, 0);
  if (identity) return joined;
  const inverse = new Array<number>(n);
  order.forEach((row, position) => {
    inverse[row] = position;
  });
  return tf.gather(joined, tf.tensor1d(inverse, "int32"));
}

/**
 * One round of MoCo v2 on the site's images (labels unused). Each step: two augmented views;
 * key encoder <- EMA of the query encoder; keys from the key network (no gradient, shuffled BN
 * groups); InfoNCE of the query projections against their keys and the queue; one optimiser
 * step on the query network; the keys are enqueued. The key network and queue carry state
 * across rounds: the caller keeps `keyWeights` (or the key network) and `queue`.
 */
export async function trainMocoRound(
  tf: Tf,
  models: MocoModels,
  images: ImageSet,
  options: MocoRoundOptions,
): Promise<MocoRoundResult> {
  const spec = models.query.layers.spec;
  checkImageSize(images, spec.imageSize);
  if (images.count === 0) throw new FlError(ErrorCode.DataError, "this site has no training images");
  pairedWeights(models);
  const momentum = options.momentum ?? MOCO_DEFAULTS.cpu.momentum;
  checkMomentum(momentum);
  const temperature = options.temperature ?? MOCO_DEFAULTS.cpu.temperature;
  if (!(temperature > 0))
    throw new FlError(ErrorCode.InvalidConfig, `MoCo temperature must be > 0 (got ${temperature})`);
  const groups = options.shuffleBnGroups ?? MOCO_DEFAULTS.cpu.shuffleBnGroups;
  const queue =
    options.queue?.clone() ??
    FeatureQueue.random(
      options.queueSize ?? MOCO_DEFAULTS.cpu.queueSize,
      spec.projectionDim,
      Rng.derive(options.seed, 0x9e),
    );
  if (queue.dim !== spec.projectionDim) {
    throw new FlError(
      ErrorCode.InvalidConfig,
      `the queue holds ${queue.dim}-d keys but the projection is ${spec.projectionDim}-d`,
    );
  }
  const queryVariables = trainableVariables(models.query.model);
  const keyVariables = trainableVariables(models.key.model);
  const decayed = trainableVariables(models.query.model, isDecayedWeight);
  const batches = planBatches(allIndices(images), options);
  const augment = options.augment ?? DEFAULT_AUGMENT_OPTIONS;
  const optimizer = new ScheduledOptimizer(tf, options.optimizer, options.firstStep);
  try {
    const metrics = await runSteps(
      batches,
      (batch, index) => {
        const rng = Rng.derive(options.seed, index, 0x60c0);
        const values = tf.tidy(() => {
          const raw = gatherImages(tf, images, batch);
          const queryView = augmentBatch(tf, raw, rng, { augment }).images;
          const keyView = augmentBatch(tf, raw, rng, { augment }).images;
          tf.tidy(() => {
            keyVariables.forEach((key, i) => {
              key.assign(
                tf.add(tf.mul(key, momentum), tf.mul(queryVariables[i] as tfc.Variable, 1 - momentum)),
              );
            });
          });
          const inOrder = Array.from({ length: batch.length }, (_, i) => i);
          const keys = l2Normalize(runInGroups(tf, models.key, keyView, rng.shuffle([...inOrder]), groups));
          const negatives = tf.tensor2d(queue.toArray(), [queue.size, queue.dim]);
          let accuracy: tfc.Scalar | undefined;
          const learningRate = optimizer.learningRate;
          const cost = optimizer.minimize(
            () => {
              const queries = runInGroups(tf, models.query, queryView, inOrder, groups);
              const result = infoNce(queries, keys, negatives, temperature);
              accuracy = tf.keep(result.accuracy);
              return result.loss;
            },
            queryVariables,
            decayed,
          );
          const out = {
            loss: cost.dataSync()[0] as number,
            accuracy: accuracy?.dataSync()[0] ?? 0,
            learningRate,
          };
          accuracy?.dispose();
          queue.enqueue(keys.dataSync() as Float32Array);
          return out;
        });
        return values;
      },
      options,
    );
    return {
      numExamples: images.count,
      metrics: { ...metrics, queueSize: queue.size },
      keyWeights: readWeights(models.key.model, manifestOf(models.key.model)),
      queue,
    };
  } finally {
    optimizer.dispose();
  }
}
