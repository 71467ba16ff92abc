import type { UnetMultitaskSpec } from "../../../../shared/src/fl/model-spec.js";
import { manifestOf, readWeights, writeWeights } from "../../../../shared/src/ml/model/index.js";
import type { ModelWeights } from "../../../../shared/src/weights/types.js";
import {
  copyQueryToKey,
  createMocoModels,
  FeatureQueue,
  MOCO_DEFAULTS,
  type MocoModels,
  trainMocoRound,
} from "../moco.js";
import type { TaskTrainerFactory, TrainerSite } from "./task-trainer.js";
import { unetRoundOptions, unetSpecOf } from "./unet-round.js";

/**
 * What a site's MoCo trainer carries from one round to the next, as plain data (structured-clone
 * and v8-serialisable): enough to rebuild it exactly in another process or after an eviction.
 */
export interface MocoCheckpoint {
  /** JSON of the U-Net spec the key network was built for; a task of another spec starts afresh. */
  readonly spec: string;
  readonly keyReady: boolean;
  /** Every weight of the key network, batch-norm statistics included. */
  readonly keyWeights: ModelWeights;
  /** The queue's rows, oldest first (size x dim); absent before the first round. */
  readonly queue?: { readonly capacity: number; readonly dim: number; readonly rows: Float32Array };
}

interface MocoState {
  key: string;
  models: MocoModels;
  keyReady: boolean;
  queue?: FeatureQueue;
}

/**
 * Each site's MoCo state, keyed by the site object rather than kept in the trainer's closure, so
 * that whoever holds the site (a virtual hospitals' worker) can checkpoint and restore it without
 * reaching into the trainer. `restored` waits there until a task of its spec builds the networks.
 */
const states = new WeakMap<TrainerSite, { live?: MocoState; restored?: MocoCheckpoint }>();

function holderOf(site: TrainerSite) {
  let holder = states.get(site);
  if (!holder) {
    holder = {};
    states.set(site, holder);
  }
  return holder;
}

function checkpointOf(state: MocoState): MocoCheckpoint {
  const key = state.models.key.model;
  return {
    spec: state.key,
    keyReady: state.keyReady,
    keyWeights: readWeights(key, manifestOf(key)),
    ...(state.queue && {
      queue: { capacity: state.queue.capacity, dim: state.queue.dim, rows: state.queue.toArray() },
    }),
  };
}

function restore(checkpoint: MocoCheckpoint, spec: UnetMultitaskSpec): MocoState {
  const models = createMocoModels(spec);
  writeWeights(models.key.model, checkpoint.keyWeights);
  const state: MocoState = { key: checkpoint.spec, models, keyReady: checkpoint.keyReady };
  if (checkpoint.queue) {
    const { capacity, dim, rows } = checkpoint.queue;
    state.queue = new FeatureQueue(capacity, dim);
    state.queue.enqueue(rows);
  }
  return state;
}

function disposeState(state: MocoState | undefined): void {
  state?.models.query.model.dispose();
  state?.models.key.model.dispose();
}

/** The site's MoCo state as data, or undefined when it has none (no MoCo task ran). */
export function exportMocoState(site: TrainerSite): MocoCheckpoint | undefined {
  const holder = states.get(site);
  if (holder?.live) return checkpointOf(holder.live);
  return holder?.restored;
}

/**
 * Replaces the site's MoCo state by a checkpoint (from exportMocoState), freeing the networks it
 * held; the next MoCo task continues from it exactly as if the state had never left.
 */
export function importMocoState(site: TrainerSite, checkpoint: MocoCheckpoint): void {
  const holder = holderOf(site);
  disposeState(holder.live);
  delete holder.live;
  holder.restored = checkpoint;
}

/** Frees the site's MoCo networks (TensorFlow.js memory is not garbage-collected) and forgets its state. */
export function releaseMocoState(site: TrainerSite): void {
  const holder = states.get(site);
  if (!holder) return;
  disposeState(holder.live);
  delete holder.live;
  delete holder.restored;
}

/**
 * MoCo v2 pre-training of the encoder. The key network and the queue never leave the hospital:
 * they stay with the site between rounds (one set per model spec).
 */
export const mocoTrainer: TaskTrainerFactory<"moco"> = (site) => {
  const holder = holderOf(site);
  const stateFor = (spec: UnetMultitaskSpec) => {
    const key = JSON.stringify(spec);
    if (holder.restored) {
      const checkpoint = holder.restored;
      delete holder.restored;
      if (checkpoint.spec === key) holder.live = restore(checkpoint, spec);
    }
    if (holder.live?.key !== key) {
      disposeState(holder.live);
      holder.live = { key, models: createMocoModels(spec), keyReady: false };
    }
    return holder.live;
  };
  return async (task, weights, images, onProgress) => {
    const { options } = task;
    const device = MOCO_DEFAULTS[site.backend.name === "tensorflow-gpu" ? "gpu" : "cpu"];
    const current = stateFor(unetSpecOf(task));
    writeWeights(current.models.query.model, weights);
    // The key encoder starts as the first global query encoder this site sees, then follows it
    // by momentum, round after round.
    if (!current.keyReady) {
      copyQueryToKey(current.models);
      current.keyReady = true;
    }
    const result = await trainMocoRound(site.backend.tf, current.models, images, {
      ...unetRoundOptions(task, images, onProgress),
      ...(options.temperature !== undefined && { temperature: options.temperature }),
      ...(options.momentum !== undefined && { momentum: options.momentum }),
      // Sized for the device unless the plan says otherwise: a longer queue and more BN groups on a GPU.
      queueSize: options.queueSize ?? device.queueSize,
      shuffleBnGroups: options.shuffleBnGroups ?? device.shuffleBnGroups,
      ...(current.queue && { queue: current.queue }),
    });
    current.queue = result.queue;
    const query = current.models.query.model;
    return {
      weights: readWeights(query, manifestOf(query)),
      numExamples: result.numExamples,
      metrics: result.metrics,
    };
  };
};
