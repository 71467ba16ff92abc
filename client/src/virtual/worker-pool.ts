import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { type ErrorCode as Code, ErrorCode, FlError } from "../../../shared/src/errors.js";
import type { EvaluateTask, TrainTask } from "../../../shared/src/fl/task.js";
import { forkTypeScript } from "../../../shared/src/io/ts-child.js";
import type { ModelWeights } from "../../../shared/src/weights/types.js";
import type { EvaluateOutcome, Progress, SiteTrainer, TrainOutcome } from "../training/trainer.js";
import { RecentlyUsed } from "./lru.js";
import { pickJob } from "./schedule.js";
import { LOADED_SITES, type SiteRef, type WorkerRequest, type WorkerResponse } from "./worker-protocol.js";

type Ready = Extract<WorkerResponse, { type: "ready" }>;
type Answer = Extract<WorkerResponse, { type: "trained" | "evaluated" }>;
type TaskRequest = Extract<WorkerRequest, { type: "train" | "evaluate" }>;

interface Job {
  readonly siteId: string;
  readonly request: Omit<TaskRequest, "id">;
  readonly onProgress?: Progress;
  readonly resolve: (answer: Answer) => void;
  readonly reject: (error: Error) => void;
}

/** One trainer worker process, and the sites it has loaded as far as this side knows. */
class Worker {
  readonly child: ChildProcess;
  readonly loaded = new RecentlyUsed<string, true>(LOADED_SITES);
  running: (Job & { id: number }) | undefined;
  exited: Error | undefined;

  constructor(index: number, log: (line: string) => void, onExit: (worker: Worker) => void) {
    const entry = fileURLToPath(new URL("./worker-process.ts", import.meta.url));
    this.child = forkTypeScript(entry, [], { stdio: ["ignore", "pipe", "pipe", "ipc"] });
    for (const stream of [this.child.stdout, this.child.stderr])
      if (stream)
        createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on("line", (line) =>
          log(`[worker ${index}] ${line}`),
        );
    this.child.on("exit", (code, signal) => {
      this.exited = new FlError(ErrorCode.Internal, `trainer worker ${index} exited (${signal ?? code})`);
      onExit(this);
    });
  }
}

/**
 * k trainer workers shared by many virtual hospitals: a task waits until a worker is free, and
 * goes preferably to one that still has its site loaded. At most k sites train at once, so the
 * pool is also the simulation's limit on concurrent training.
 */
export class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly waiting: Job[] = [];
  private nextId = 1;
  private closed = false;

  private constructor(private readonly log: (line: string) => void) {}

  /** Starts `count` workers and waits until each has loaded its backend. */
  static async start(options: {
    workers: number;
    backend: string;
    cacheDir: string;
    log: (line: string) => void;
  }): Promise<{ pool: WorkerPool; ready: Ready }> {
    if (!Number.isInteger(options.workers) || options.workers < 1)
      throw new FlError(
        ErrorCode.InvalidConfig,
        `workers must be a positive integer, not ${options.workers}`,
      );
    const pool = new WorkerPool(options.log);
    const readies = Array.from({ length: options.workers }, (_, i) => {
      const worker = new Worker(i + 1, options.log, (w) => pool.onExit(w));
      pool.workers.push(worker);
      return new Promise<Ready>((resolve, reject) => {
        worker.child.on("message", (message: WorkerResponse) => {
          if (message.type === "ready") resolve(message);
          else if (message.type === "error" && message.id === -1)
            reject(new FlError(message.code as Code, message.message));
          else pool.onAnswer(worker, message);
        });
        worker.child.once("exit", () => reject(worker.exited));
        worker.child.send({ type: "init", backend: options.backend, cacheDir: options.cacheDir });
      });
    });
    try {
      const all = await Promise.all(readies);
      return { pool, ready: all[0] as Ready };
    } catch (error) {
      pool.close();
      throw error;
    }
  }

  /** The SiteTrainer of one virtual hospital: its tasks run on this pool. */
  trainerFor(site: SiteRef): SiteTrainer {
    return {
      train: async (task: TrainTask, weights: ModelWeights, onProgress: Progress): Promise<TrainOutcome> => {
        const trained = await this.run(
          { type: "train", site, task, manifest: weights.manifest, values: weights.values },
          onProgress,
        );
        if (trained.type !== "trained")
          throw new FlError(ErrorCode.Internal, "a worker answered a train task wrongly");
        return {
          weights: { manifest: trained.manifest, values: trained.values },
          numExamples: trained.numExamples,
          metrics: trained.metrics,
        };
      },
      evaluate: async (task: EvaluateTask, weights: ModelWeights): Promise<EvaluateOutcome> => {
        const evaluated = await this.run({
          type: "evaluate",
          site,
          task,
          manifest: weights.manifest,
          values: weights.values,
        });
        if (evaluated.type !== "evaluated")
          throw new FlError(ErrorCode.Internal, "a worker answered an evaluate task wrongly");
        return {
          confusion: evaluated.confusion,
          numExamples: evaluated.numExamples,
          metrics: evaluated.metrics,
          ...(evaluated.statistics && { statistics: evaluated.statistics }),
        };
      },
    };
  }

  /** Process ids of the workers, for measuring their memory. */
  get pids(): number[] {
    return this.workers.flatMap((w) => (w.child.pid === undefined ? [] : [w.child.pid]));
  }

  close(): void {
    this.closed = true;
    for (const worker of this.workers) {
      if (worker.child.connected) worker.child.disconnect();
      worker.child.kill();
    }
    const error = new FlError(ErrorCode.Internal, "the trainer workers were closed");
    for (const job of this.waiting.splice(0)) job.reject(error);
  }

  private run(request: Omit<TaskRequest, "id">, onProgress?: Progress): Promise<Answer> {
    if (this.closed)
      return Promise.reject(new FlError(ErrorCode.Internal, "the trainer workers were closed"));
    return new Promise((resolve, reject) => {
      this.waiting.push({
        siteId: request.site.siteId,
        request,
        resolve,
        reject,
        ...(onProgress && { onProgress }),
      });
      this.dispatch();
    });
  }

  private dispatch(): void {
    for (const worker of this.workers) {
      if (worker.running || worker.exited) continue;
      const index = pickJob(this.waiting, (siteId) => worker.loaded.has(siteId));
      if (index < 0) return;
      const [job] = this.waiting.splice(index, 1) as [Job];
      const id = this.nextId++;
      worker.running = { ...job, id };
      worker.loaded.set(job.siteId, true);
      worker.child.send({ ...job.request, id } as WorkerRequest);
    }
  }

  private onAnswer(worker: Worker, message: WorkerResponse): void {
    const job = worker.running;
    if (!job || !("id" in message) || message.id !== job.id) return;
    if (message.type === "progress") {
      job.onProgress?.(message.fraction, message.status);
      return;
    }
    worker.running = undefined;
    if (message.type === "error") job.reject(new FlError(message.code as Code, message.message));
    else if (message.type === "trained" || message.type === "evaluated") job.resolve(message);
    this.dispatch();
  }

  private onExit(worker: Worker): void {
    const error = worker.exited ?? new FlError(ErrorCode.Internal, "a trainer worker exited");
    worker.running?.reject(error);
    worker.running = undefined;
    if (this.closed) return;
    this.log(`${error.message}; ${this.workers.filter((w) => !w.exited).length} workers left`);
    // With no worker left nothing would ever run: every waiting task fails, so its site says so.
    if (this.workers.every((w) => w.exited)) for (const job of this.waiting.splice(0)) job.reject(error);
  }
}
