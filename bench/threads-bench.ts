/**
 * npm run bench:threads [-- --threads 1,2 --size 64 --steps 6 --rounds 3 --no-write]
 *
 * The reference model's training step on the wasm backend with 1, 2, … threads (1: the
 * single-threaded SIMD build the project trains on by default; more: the threaded SIMD build,
 * XNNPACK's operators on a pool of that many threads). Each measurement is a fresh process, and
 * the thread counts alternate within each round, so that load from other work falls on all of them.
 * Prints threads vs images/s and speed-up, the serial fraction that speed-up implies (Amdahl) and
 * the speed-up it predicts for more cores; writes bench/results/threads-<date>.json and
 * threads-latest.json.
 *
 * Two speed-ups are reported: by wall time, and by the step's critical path, the CPU time of the
 * thread that drives the step (Linux: /proc/self/task/<tid>/schedstat). On a machine shared with
 * other work, wall time also counts waiting for a core; the critical path does not, while it still
 * includes the time the driving thread spends waiting on the pool's other threads.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type * as tfc from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { initBackend, type LoadedBackend } from "../shared/src/ml/tf/backend.js";
import { MAX_WASM_THREADS } from "../shared/src/ml/tf/threads/thread-count.js";
import { wasmPoolSize } from "../shared/src/ml/tf/threads/threaded-wasm.js";
import { machineInfo, writeBenchResult } from "./machine.js";
import { buildReferenceModel, REFERENCE_BATCH, REFERENCE_CLASSES } from "./reference-model.js";

const defaultThreads = [1, 2, 4, 8].filter(
  (n) => n === 1 || n <= Math.min(availableParallelism(), MAX_WASM_THREADS),
);
const { values: args } = parseArgs({
  options: {
    threads: { type: "string", default: defaultThreads.join(",") },
    size: { type: "string", default: "64" },
    steps: { type: "string", default: "6" },
    warmup: { type: "string", default: "2" },
    rounds: { type: "string", default: "3" },
    child: { type: "string" },
    "no-write": { type: "boolean", default: false },
  },
});

function positiveInteger(option: string, value: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new Error(`--${option} takes a whole number from 1 to ${max} (got "${value}")`);
  return n;
}

/** One process's measurement: per timed step, wall, process CPU and driving-thread CPU (ms). */
interface ChildResult {
  readonly threads: number;
  readonly pool: number;
  readonly detail: string;
  readonly wallMs: number[];
  readonly cpuMs: number[];
  /** null where /proc/self/task is not readable (not Linux). */
  readonly mainThreadMs: number[] | null;
  readonly lastLoss: number;
}

const CHILD_PREFIX = "THREADS-BENCH ";

function mainThreadCpuMs(): number | null {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/schedstat`, "utf8");
    return Number(stat.split(" ")[0]) / 1e6;
  } catch {
    return null;
  }
}

async function runChild(threads: number, size: number, warmup: number, steps: number): Promise<ChildResult> {
  const loaded = await initBackend({ prefer: "wasm", threads, log: () => {} });
  const tf: LoadedBackend["tf"] = loaded.tf;
  const model = buildReferenceModel(size);
  const optimizer = tf.train.adam(1e-3);
  const x = tf.randomNormal([REFERENCE_BATCH, size, size, 1], 0, 1, "float32", 7);
  const labels = tf.tensor1d(
    Array.from({ length: REFERENCE_BATCH }, (_, i) => i % REFERENCE_CLASSES),
    "int32",
  );
  const y = tf.cast(tf.oneHot(labels, REFERENCE_CLASSES), "float32");
  const step = (): number =>
    tf.tidy(() => {
      const cost = optimizer.minimize(() => {
        const predicted = model.apply(x, { training: true }) as tfc.Tensor;
        return tf.mean(tfl.metrics.categoricalCrossentropy(y, predicted)) as tfc.Scalar;
      }, true);
      return (cost?.dataSync()[0] as number | undefined) ?? Number.NaN;
    });
  for (let i = 0; i < warmup; i++) step();
  const wallMs: number[] = [];
  const cpuMs: number[] = [];
  const mainMs: number[] = [];
  let readable = mainThreadCpuMs() !== null;
  let lastLoss = Number.NaN;
  for (let i = 0; i < steps; i++) {
    const main0 = mainThreadCpuMs();
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    lastLoss = step();
    wallMs.push(performance.now() - start);
    const cpu = process.cpuUsage(cpu0);
    cpuMs.push((cpu.user + cpu.system) / 1000);
    const main1 = mainThreadCpuMs();
    if (main0 === null || main1 === null) readable = false;
    else mainMs.push(main1 - main0);
  }
  const pool = tf.env().getBool("WASM_HAS_MULTITHREAD_SUPPORT") ? wasmPoolSize(tf.backend()) : 1;
  return {
    threads,
    pool,
    detail: loaded.detail,
    wallMs,
    cpuMs,
    mainThreadMs: readable ? mainMs : null,
    lastLoss,
  };
}

function measureInChild(threads: number, size: number, warmup: number, steps: number): Promise<ChildResult> {
  const script = fileURLToPath(import.meta.url);
  const childArgs = ["--import", "tsx", script, "--child", String(threads), "--size", String(size)];
  childArgs.push("--warmup", String(warmup), "--steps", String(steps));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, childArgs, { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      const line = out.split("\n").find((l) => l.startsWith(CHILD_PREFIX));
      if (code !== 0 || line === undefined)
        reject(new Error(`the ${threads}-thread measurement exited with ${code}:\n${out}`));
      else resolve(JSON.parse(line.slice(CHILD_PREFIX.length)) as ChildResult);
    });
  });
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** Amdahl: the serial fraction s with 1 / (s + (1 - s) / n) = speedUp; clamped to [0, 1]. */
function serialFraction(speedUp: number, threads: number): number {
  const s = (threads / speedUp - 1) / (threads - 1);
  return Math.min(1, Math.max(0, s));
}

function amdahl(serial: number, threads: number): number {
  return 1 / (serial + (1 - serial) / threads);
}

interface Row {
  readonly threads: number;
  readonly pool: number;
  readonly processes: number;
  readonly medianWallMs: number;
  /** The fastest step: on a loaded machine, the closest to what a quiet one gives. */
  readonly minWallMs: number;
  readonly imagesPerSecond: number;
  readonly medianCpuMs: number;
  readonly medianMainThreadMs: number | null;
  readonly speedUpWall: number;
  readonly speedUpBestStep: number;
  readonly speedUpCriticalPath: number | null;
}

function summarise(results: readonly ChildResult[], threadCounts: readonly number[]): Row[] {
  const byThreads = (n: number) => results.filter((r) => r.threads === n);
  const one = byThreads(1);
  const oneWall = median(one.flatMap((r) => r.wallMs));
  const oneBest = Math.min(...one.flatMap((r) => r.wallMs));
  // One thread: the driving thread does all the work, so its CPU time is the whole step's.
  const oneMain = one.every((r) => r.mainThreadMs !== null)
    ? median(one.flatMap((r) => r.mainThreadMs ?? []))
    : null;
  return threadCounts.map((threads) => {
    const runs = byThreads(threads);
    const wall = median(runs.flatMap((r) => r.wallMs));
    const best = Math.min(...runs.flatMap((r) => r.wallMs));
    const main = runs.every((r) => r.mainThreadMs !== null)
      ? median(runs.flatMap((r) => r.mainThreadMs ?? []))
      : null;
    return {
      threads,
      pool: runs[0]?.pool ?? threads,
      processes: runs.length,
      medianWallMs: wall,
      minWallMs: best,
      imagesPerSecond: (REFERENCE_BATCH * 1000) / wall,
      medianCpuMs: median(runs.flatMap((r) => r.cpuMs)),
      medianMainThreadMs: main,
      speedUpWall: oneWall / wall,
      speedUpBestStep: oneBest / best,
      speedUpCriticalPath: main !== null && oneMain !== null ? oneMain / main : null,
    };
  });
}

const fixed = (value: number | null, digits: number) => (value === null ? "-" : value.toFixed(digits));

async function main(): Promise<void> {
  const size = positiveInteger("size", args.size);
  const steps = positiveInteger("steps", args.steps);
  const warmup = Number(args.warmup);
  if (args.child !== undefined) {
    const result = await runChild(
      positiveInteger("child", args.child, MAX_WASM_THREADS),
      size,
      warmup,
      steps,
    );
    process.stdout.write(`${CHILD_PREFIX}${JSON.stringify(result)}\n`);
    process.exit(0);
  }
  const threadCounts = [
    ...new Set(args.threads.split(",").map((t) => positiveInteger("threads", t.trim(), MAX_WASM_THREADS))),
  ];
  if (!threadCounts.includes(1)) threadCounts.unshift(1);
  const rounds = positiveInteger("rounds", args.rounds);
  const results: ChildResult[] = [];
  for (let round = 0; round < rounds; round++) {
    // Alternate the order too, so that neither side always runs first in a round.
    const order = round % 2 === 0 ? threadCounts : [...threadCounts].reverse();
    for (const threads of order) {
      const result = await measureInChild(threads, size, warmup, steps);
      results.push(result);
      process.stderr.write(
        `round ${round + 1}/${rounds}, ${threads} thread(s): median ${median(result.wallMs).toFixed(0)} ms/step (${result.detail})\n`,
      );
    }
  }
  const rows = summarise(results, threadCounts);
  const best = rows.find((r) => r.threads === 2) ?? rows[rows.length - 1];
  const law = (speedUp: number | null, threads: number) => {
    if (speedUp === null || threads < 2) return null;
    const serial = serialFraction(speedUp, threads);
    return {
      serialFraction: serial,
      predictedSpeedUp: Object.fromEntries(
        [4, 8, 16].map((n) => [n, amdahl(serial, Math.min(n, MAX_WASM_THREADS))]),
      ),
    };
  };
  const wallLaw = best ? law(best.speedUpWall, best.threads) : null;
  const bestStepLaw = best ? law(best.speedUpBestStep, best.threads) : null;
  const pathLaw = best ? law(best.speedUpCriticalPath, best.threads) : null;

  const lines = [
    `reference model, ${size}x${size}, batch ${REFERENCE_BATCH}, Adam; ${rounds} rounds x ${steps} steps a process; ${machineInfo().logicalCores} cores, load ${machineInfo()
      .loadAverage.map((l) => l.toFixed(1))
      .join(" ")}`,
    "| threads | images/s | ms/step (wall) | best ms/step | CPU ms/step | driving-thread CPU ms | speed-up (wall) | (best step) | (critical path) |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows.map(
      (r) =>
        `| ${r.threads} | ${r.imagesPerSecond.toFixed(1)} | ${r.medianWallMs.toFixed(0)} | ${r.minWallMs.toFixed(0)} | ${r.medianCpuMs.toFixed(0)} | ${fixed(r.medianMainThreadMs, 0)} | ${r.speedUpWall.toFixed(2)} | ${r.speedUpBestStep.toFixed(2)} | ${fixed(r.speedUpCriticalPath, 2)} |`,
    ),
  ];
  for (const [name, fit] of [
    ["wall", wallLaw],
    ["best-step", bestStepLaw],
    ["critical path", pathLaw],
  ] as const) {
    if (fit === null || best === undefined) continue;
    const predicted = Object.entries(fit.predictedSpeedUp)
      .map(([n, s]) => `${n} cores ${s.toFixed(2)}x`)
      .join(", ");
    lines.push(
      `Amdahl from the ${name} speed-up at ${best.threads} threads: serial fraction ${fit.serialFraction.toFixed(2)}; predicted ${predicted} (the threaded build stops at ${MAX_WASM_THREADS} threads)`,
    );
  }
  process.stdout.write(`${lines.join("\n")}\n`);
  if (!args["no-write"]) {
    const report = {
      date: new Date().toISOString(),
      machine: machineInfo(),
      settings: { size, steps, warmup, rounds, threads: threadCounts, batch: REFERENCE_BATCH },
      target: { threads: 2, speedUp: 1.7 },
      rows,
      amdahl: { wall: wallLaw, bestStep: bestStepLaw, criticalPath: pathLaw },
      runs: results,
    };
    process.stdout.write(`wrote ${writeBenchResult("threads", report)}\n`);
  }
}

await main();
