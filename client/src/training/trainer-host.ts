import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { type ErrorCode as Code, ErrorCode, FlError } from "../../../shared/src/errors.js";
import type { EvaluateTaskConfig, TrainTaskConfig } from "../../../shared/src/fl/task-config.js";
import { forkTypeScript } from "../../../shared/src/io/ts-child.js";
import type { ModelWeights } from "../../../shared/src/weights/types.js";
import type { TrainerRequest, TrainerResponse } from "./protocol.js";

type Ready = Extract<TrainerResponse, { type: "ready" }>;
type Trained = Extract<TrainerResponse, { type: "trained" }>;
type Evaluated = Extract<TrainerResponse, { type: "evaluated" }>;

/** The network process's handle on its trainer child process. */
export class TrainerHost {
  private readonly child: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<
    number,
    {
      resolve: (r: TrainerResponse) => void;
      reject: (e: Error) => void;
      onProgress?: (f: number, s: string) => void;
    }
  >();
  private readyWaiter: { resolve: (r: Ready) => void; reject: (e: Error) => void } | undefined;
  private exited: Error | undefined;

  constructor(options: { logPrefix: string }) {
    const entry = fileURLToPath(new URL("./trainer-process.ts", import.meta.url));
    this.child = forkTypeScript(entry, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
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

  async train(
    task: TrainTaskConfig,
    weights: ModelWeights,
    onProgress?: (f: number, s: string) => void,
  ): Promise<Trained> {
    const id = this.nextId++;
    const message = { type: "train" as const, id, task, manifest: weights.manifest, values: weights.values };
    return (await this.request(message, onProgress)) as Trained;
  }

  async evaluate(task: EvaluateTaskConfig, weights: ModelWeights): Promise<Evaluated> {
    const id = this.nextId++;
    return (await this.request({
      type: "evaluate",
      id,
      task,
      manifest: weights.manifest,
      values: weights.values,
    })) as Evaluated;
  }

  close(): void {
    if (this.child.connected) this.child.disconnect();
    this.child.kill();
  }

  private request(
    message: TrainerRequest & { id: number },
    onProgress?: (f: number, s: string) => void,
  ): Promise<TrainerResponse> {
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
