import type { EvaluateTask, TrainTask } from "../../../shared/src/fl/task.js";
import type { WeightsManifest } from "../../../shared/src/weights/types.js";
import type { TrainerResponse } from "../training/protocol.js";

/** Sites kept loaded per worker; the pool sends a site back to the worker that has it. */
export const LOADED_SITES = 8;

/** Which hospital a task is for, and where its images come from. */
export interface SiteRef {
  readonly siteId: string;
  readonly baseSite: string;
  readonly data: Readonly<Record<string, unknown>>;
}

/**
 * Messages from the virtual hospitals' process to one of its trainer workers (Node IPC, advanced
 * serialisation). Unlike a hospital's own trainer, a worker serves whichever site a task names.
 */
export type WorkerRequest =
  | { readonly type: "init"; readonly backend: string; readonly cacheDir: string }
  | {
      readonly type: "train";
      readonly id: number;
      readonly site: SiteRef;
      readonly task: TrainTask;
      readonly manifest: WeightsManifest;
      readonly values: Float32Array;
    }
  | {
      readonly type: "evaluate";
      readonly id: number;
      readonly site: SiteRef;
      readonly task: EvaluateTask;
      readonly manifest: WeightsManifest;
      readonly values: Float32Array;
    };

/** A worker's answers: those of a hospital's trainer, with its own "ready" (no site loaded yet). */
export type WorkerResponse =
  | { readonly type: "ready"; readonly backend: string; readonly backendDetail: string }
  | Exclude<TrainerResponse, { type: "ready" }>;
