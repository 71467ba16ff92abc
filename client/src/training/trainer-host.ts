import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { type ErrorCode as Code, ErrorCode, FlError } from "../../../shared/src/errors.js";
import type { SiteInfo } from "../../../shared/src/fl/messages.js";
import type { EvaluateTask, TrainTask } from "../../../shared/src/fl/task.js";
import { forkTypeScript } from "../../../shared/src/io/ts-child.js";
import type { ModelWeights } from "../../../shared/src/weights/types.js";
import type { TrainerRequest, TrainerResponse } from "./protocol.js";
import type { EvaluateOutcome, Progress, SiteTrainer, TrainOutcome } from "./trainer.js";

type Ready = Extract<TrainerResponse, { type: "ready" }>;

/** What a site declares at join, from its trainer's report of the data it loaded. */
export function siteInfoOf(ready: Ready, clientVersion: string): SiteInfo {
  return {
    trainClassCounts: ready.trainClassCounts,
    trainUnlabelledCount: ready.trainUnlabelledCount,
    validationCount: ready.valCount,
    testCount: ready.testCount,
    backend: ready.backend,
    clientVersion,
  };
}
type Trained = Extract<TrainerResponse, { type: "trained" }>;
type Evaluated = Extract<TrainerResponse, { type: "evaluated" }>;

/** The network process's handle on its trainer child process. */
export class TrainerHost implements SiteTrainer {
  private readonly child: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<
    number,
    {
      resolve: (r: TrainerResponse) => void;
      reject: (e: Error) => void;
      onProgress?: Progress;
    }
  >();
  private readyWaiter: { resolve: (r: Ready) => void; reject: (e: Error) => void } | undefined;
  private exited: Error | undefined;

  /**
   * `log`, when given, takes the trainer's output line by line (so that it goes through the
   * client's structured logger); without it the child writes to this process's own streams.
   */
  constructor(options: { logPrefix: string; log?: (line: string) => void }) {
    const entry = fileURLToPath(new URL("./trainer-process.ts", import.meta.url));
    const output = options.log ? "pipe" : "inherit";
    this.child = forkTypeScript(entry, [], { stdio: ["ignore", output, output, "ipc"] });
    const { log } = options;
    if (log)
      for (const stream of [this.child.stdout, this.child.stderr])
        if (stream) createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on("line", log);
    this.child.on("message", (message: TrainerResponse) => this.onMessage(message));
    this.child.on("exit", (code, signal) => {
      this.exited = new FlError(
        ErrorCode.Internal,
        `${options.logPrefix} trainer process exited (${signal ?? code})`,
      );
      this.readyWaiter?.reject(this.exited);
      for (const p of this.pending.values()) p.reject(this.exited);
      this.pending.clear();
    });
  }

  init(request: Omit<Extract<TrainerRequest, { type: "init" }>, "type">): Promise<Ready> {
    return new Promise((resolve, reject) => {
      this.readyWaiter = { resolve, reject };
      this.post({ type: "init", ...request });
    });
  }

  async train(task: TrainTask, weights: ModelWeights, onProgress: Progress): Promise<TrainOutcome> {
    const id = this.nextId++;
    const message = { type: "train" as const, id, task, manifest: weights.manifest, values: weights.values };
    const trained = (await this.request(message, onProgress)) as Trained;
    return {
      weights: { manifest: trained.manifest, values: trained.values },
      numExamples: trained.numExamples,
      metrics: trained.metrics,
    };
  }

  async evaluate(task: EvaluateTask, weights: ModelWeights): Promise<EvaluateOutcome> {
    const id = this.nextId++;
    const evaluated = (await this.request({
      type: "evaluate",
      id,
      task,
      manifest: weights.manifest,
      values: weights.values,
    })) as Evaluated;
    return {
      confusion: evaluated.confusion,
      numExamples: evaluated.numExamples,
      metrics: evaluated.metrics,
      ...(evaluated.statistics && { statistics: evaluated.statistics }),
    };
  }

  close(): void {
    if (this.child.connected) this.child.disconnect();
    this.child.kill();
  }

  private request(message: TrainerRequest & { id: number }, onProgress?: Progress): Promise<TrainerResponse> {
    return new Promise((resolve, reject) => {
      this.pending.set(message.id, { resolve, reject, ...(onProgress && { onProgress }) });
      this.post(message);
    });
  }

  private post(message: TrainerRequest): void {
    if (this.exited) throw this.exited;
    this.child.send(message);
  }

  private onMessage(message: TrainerResponse): void {
    if (message.type === "ready") {
      this.readyWaiter?.resolve(message);
      this.readyWaiter = undefined;
      return;
    }
    if (message.type === "error" && message.id === -1) {
      this.readyWaiter?.reject(new FlError(message.code as Code, message.message));
      this.readyWaiter = undefined;
      return;
    }
    const pending = this.pending.get(message.id);
    if (!pending) return;
    if (message.type === "progress") {
      pending.onProgress?.(message.fraction, message.status);
      return;
    }
    this.pending.delete(message.id);
    if (message.type === "error") pending.reject(new FlError(message.code as Code, message.message));
    else pending.resolve(message);
  }
}
