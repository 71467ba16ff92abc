import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { ParameterCounts, WorkloadName } from "../workloads/workload.js";

/** Debian's python3-torch is installed for the system interpreter, not for a pyenv or venv one. */
export const DEFAULT_PYTHON = "/usr/bin/python3";
export const TORCH_MISSING = "python3-torch not installed: npm run bench:setup";

export interface TwinSteps {
  readonly stepsMs: number[];
  readonly cpuMs: number[];
  readonly lastLoss: number;
}

type Reply = { ok: true; [key: string]: unknown } | { ok: false; error?: string; missing?: string };

/**
 * The PyTorch twins in one child process (bench/torch/twin.py), one JSON line each way. Models
 * stay built between requests, so the blocks of each workload alternate with the tfjs side's
 * without rebuilding or re-importing torch.
 */
export class TorchTwins {
  private readonly pending: ((reply: Reply) => void)[] = [];
  private exited: string | undefined;

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    readonly torchVersion: string,
  ) {}

  /** Starts the twins; resolves with why not (torch or python missing) instead of throwing. */
  static async start(python = DEFAULT_PYTHON): Promise<TorchTwins | { unavailable: string }> {
    const script = join(dirname(fileURLToPath(import.meta.url)), "twin.py");
    const child = spawn(python, [script], { stdio: ["pipe", "pipe", "pipe"] });
    // Writing to a twin that died fails with EPIPE; the exit handler below reports why it died.
    child.stdin.on("error", () => {});
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-2000);
    });
    const lines = createInterface({ input: child.stdout });
    const first = new Promise<Reply>((resolve) => {
      child.once("error", (error) => resolve({ ok: false, error: `${python}: ${error.message}` }));
      child.once("exit", (code) =>
        resolve({ ok: false, error: `${python} exited (${code}) before answering: ${stderr.trim()}` }),
      );
      lines.once("line", (line) => resolve(parseReply(line)));
    });
    const hello = await first;
    if (!hello.ok) {
      child.kill();
      return { unavailable: hello.missing === "torch" ? TORCH_MISSING : (hello.error ?? "no answer") };
    }
    const twins = new TorchTwins(child, String(hello.torch));
    lines.on("line", (line) => twins.pending.shift()?.(parseReply(line)));
    child.on("exit", (code) => {
      twins.exited = `the PyTorch twin process exited (${code}): ${stderr.trim()}`;
      for (const resolve of twins.pending.splice(0)) resolve({ ok: false, error: twins.exited });
    });
    return twins;
  }

  /** Builds a twin under `id`; its parameter counts are compared with the tfjs workload's. */
  async build(id: string, workload: WorkloadName, size: number, batch: number): Promise<ParameterCounts> {
    const reply = await this.request({ op: "build", id, workload, size, batch });
    return reply.parameters as ParameterCounts;
  }

  async steps(id: string, warmup: number, steps: number): Promise<TwinSteps> {
    const reply = await this.request({ op: "steps", id, warmup, steps });
    return {
      stepsMs: reply.stepsMs as number[],
      cpuMs: reply.cpuMs as number[],
      lastLoss: reply.lastLoss as number,
    };
  }

  close(): void {
    this.child.stdin.end();
  }

  private request(message: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (this.exited !== undefined) return Promise.reject(new Error(this.exited));
    return new Promise((resolve, reject) => {
      this.pending.push((reply) => (reply.ok ? resolve(reply) : reject(new Error(reply.error ?? "failed"))));
      this.child.stdin.write(`${JSON.stringify(message)}\n`);
    });
  }
}

/** A twin writes nothing else on stdout; anything else there becomes the request's error. */
function parseReply(line: string): Reply {
  try {
    return JSON.parse(line) as Reply;
  } catch {
    return { ok: false, error: `the PyTorch twin printed something that is not JSON: ${line.slice(0, 200)}` };
  }
}
