import type { EvaluateTask, TrainTask } from "../../../shared/src/fl/task.js";
import type { EvaluationStatistics } from "../../../shared/src/metrics/evaluation-statistics.js";
import type { WeightsManifest } from "../../../shared/src/weights/types.js";

/** Messages between the client's network process and its trainer process (Node IPC, advanced serialisation). */
export type TrainerRequest =
  | {
      readonly type: "init";
      readonly siteId: string;
      readonly data: unknown;
      readonly backend: string;
      readonly cacheDir: string;
      /** Threads of the wasm backend (resolveThreads of `training.threads`); absent: 1. */
      readonly threads?: number;
    }
  | {
      readonly type: "train";
      readonly id: number;
      readonly task: TrainTask;
      readonly manifest: WeightsManifest;
      readonly values: Float32Array;
    }
  | {
      readonly type: "evaluate";
      readonly id: number;
      readonly task: EvaluateTask;
      readonly manifest: WeightsManifest;
      readonly values: Float32Array;
    };

export type TrainerResponse =
  | {
      readonly type: "ready";
      readonly backend: string;
      readonly backendDetail: string;
      readonly trainClassCounts: number[];
      readonly trainUnlabelledCount: number;
      readonly valCount: number;
      readonly testCount: number;
    }
  | { readonly type: "progress"; readonly id: number; readonly fraction: number; readonly status: string }
  | {
      readonly type: "trained";
      readonly id: number;
      readonly manifest: WeightsManifest;
      readonly values: Float32Array;
      readonly numExamples: number;
      readonly metrics: Record<string, number>;
    }
  | {
      readonly type: "evaluated";
      readonly id: number;
      readonly confusion: number[][];
      readonly numExamples: number;
      readonly metrics: Record<string, number>;
      readonly statistics?: EvaluationStatistics;
    }
  | { readonly type: "error"; readonly id: number; readonly code: string; readonly message: string };
