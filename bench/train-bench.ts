/**
 * npm run bench:train [-- --workloads reference,small-cnn,multitask,moco --sizes 64,128
 *   --backends wasm --steps 5 --rounds 3 --python /usr/bin/python3 --profile --no-write]
 *
 * Each workload's TensorFlow.js training step against its PyTorch twin (bench/torch/), one
 * thread each, alternating blocks of steps in one run: a table on stdout and JSON in
 * bench/results/ (train-<date>.json and train-latest.json). `--sizes` are the reference model's
 * input sizes; the other workloads run at the size the project trains them at. Without
 * python3-torch the tfjs side is still measured and the rows say how to install it.
 */
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import {
  type BackendName,
  DEFAULT_BACKEND_LOADER_DEPS,
  type LoadedBackend,
  loadBackend,
  parseBackendPreference,
} from "../shared/src/ml/tf/backend.js";
import { probeCuda } from "../shared/src/ml/tf/cuda.js";
import { machineInfo, writeBenchResult } from "./machine.js";
import { DEFAULT_PYTHON, TorchTwins } from "./torch/twin-process.js";
import {
  alternationSchedule,
  compare,
  formatTable,
  type SideResult,
  summarise,
  type TrainRow,
} from "./train-report.js";
import { type BlockTimings, timeSteps } from "./train-step.js";
import { WORKLOADS } from "./workloads/index.js";
import {
  type BuiltWorkload,
  parseWorkloads,
  WORKLOAD_NAMES,
  type WorkloadDefinition,
} from "./workloads/workload.js";

const { values: args } = parseArgs({
  options: {
    workloads: { type: "string", default: WORKLOAD_NAMES.join(",") },
    sizes: { type: "string", default: WORKLOADS.reference.sizes.join(",") },
    backends: { type: "string", default: "wasm" },
    steps: { type: "string", default: "5" },
    rounds: { type: "string", default: "3" },
    python: { type: "string", default: process.env.FL_BENCH_PYTHON ?? DEFAULT_PYTHON },
    profile: { type: "boolean", default: false },
    "no-write": { type: "boolean", default: false },
  },
});

function positiveIntegers(option: string, value: string): number[] {
  const numbers = value.split(",").map((v) => Number(v.trim()));
  if (numbers.length === 0 || numbers.some((n) => !Number.isInteger(n) || n < 1))
    throw new Error(`--${option} takes positive integers separated by commas (got "${value}")`);
  return numbers;
}

function positiveInteger(option: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${option} takes a positive integer (got "${value}")`);
  return n;
}

const WARMUP_STEPS = 2;

function parseOptions() {
  const names = parseWorkloads(args.workloads);
  return {
    workloadNames: names,
    referenceSizes: positiveIntegers("sizes", args.sizes),
    timedSteps: positiveInteger("steps", args.steps),
    schedule: alternationSchedule(positiveInteger("rounds", args.rounds)),
    backends: args.backends.split(",").map((name) => parseBackendPreference(name.trim())) as BackendName[],
  };
}
let options: ReturnType<typeof parseOptions>;
try {
  options = parseOptions();
} catch (error) {
  console.error(`bench:train: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(2);
}
const { workloadNames, referenceSizes, timedSteps, schedule, backends } = options;
const log = (line: string) => console.error(line);

interface Job {
  readonly definition: WorkloadDefinition;
  readonly inputSize: number;
}
const jobs: Job[] = workloadNames.flatMap((name) => {
  const definition = WORKLOADS[name];
  const sizes = name === "reference" ? referenceSizes : definition.sizes;
  return sizes.map((inputSize) => ({ definition, inputSize }));
});

/** The pure-JS CPU backend takes over a minute a reference step: one step at 64x64, nothing else. */
function plan(
  backend: BackendName,
  job: Job,
): { skip?: string; warmup: number; timed: number; rounds: number } {
  if (backend !== "cpu") return { warmup: WARMUP_STEPS, timed: timedSteps, rounds: schedule.length };
  if (job.definition.name !== "reference" || job.inputSize !== 64)
    return {
      skip: "pure-JS CPU measured on the reference model at 64x64 only",
      warmup: 0,
      timed: 0,
      rounds: 0,
    };
  return { warmup: 0, timed: 1, rounds: 1 };
}

async function profileOneStep(job: Job, workload: BuiltWorkload): Promise<void> {
  const profile = await tf.profile(async () => {
    await workload.step();
  });
  const byKernel = new Map<string, { ms: number; calls: number }>();
  for (const k of profile.kernels) {
    const entry = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
    entry.ms += Number(k.kernelTimeMs);
    entry.calls += 1;
    byKernel.set(k.name, entry);
  }
  const top = [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, 15);
  log(
    `tf.profile of one ${job.definition.name} ${job.inputSize}x${job.inputSize} step on ${tf.getBackend()}:`,
  );
  for (const [name, { ms, calls }] of top)
    log(`  ${name.padEnd(24)} ${ms.toFixed(1).padStart(8)} ms  ${calls} calls`);
}

const errorMessage = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Both sides of one job on one backend, built and ready for their blocks. */
interface Pair {
  readonly job: Job;
  readonly plan: ReturnType<typeof plan>;
  tfjs: { workload: BuiltWorkload; blocks: BlockTimings[] } | SideResult;
  torch:
    | { id: string; parameters: Awaited<ReturnType<TorchTwins["build"]>>; blocks: BlockTimings[] }
    | SideResult;
}

async function measureBackend(
  backend: BackendName,
  loaded: LoadedBackend,
  twins: TorchTwins | string,
): Promise<TrainRow[]> {
  const pairs: Pair[] = [];
  for (const job of jobs) {
    const p = plan(backend, job);
    if (p.skip !== undefined) {
      pairs.push({
        job,
        plan: p,
        tfjs: { status: "skipped", reason: p.skip },
        torch: { status: "skipped", reason: p.skip },
      });
      continue;
    }
    const { name, batch } = job.definition;
    let tfjs: Pair["tfjs"];
    try {
      tfjs = { workload: job.definition.build(loaded.tf, job.inputSize), blocks: [] };
    } catch (error) {
      tfjs = { status: "unavailable", reason: `build failed: ${errorMessage(error)}` };
    }
    let torch: Pair["torch"];
    if (typeof twins === "string") torch = { status: "unavailable", reason: twins };
    else {
      const id = `${backend}/${name}@${job.inputSize}`;
      try {
        torch = { id, parameters: await twins.build(id, name, job.inputSize, batch), blocks: [] };
      } catch (error) {
        torch = { status: "unavailable", reason: `twin failed: ${errorMessage(error)}` };
      }
    }
    if (args.profile && backend === "wasm" && "workload" in tfjs) await profileOneStep(job, tfjs.workload);
    pairs.push({ job, plan: p, tfjs, torch });
  }
  for (const [round, order] of schedule.entries()) {
    for (const pair of pairs) {
      if (round >= pair.plan.rounds) continue;
      for (const side of order) {
        // Torch warms up even where the slow pure-JS backend does not, so that no cold step counts for it.
        const warmup = round > 0 ? 0 : side === "tfjs" ? pair.plan.warmup : WARMUP_STEPS;
        const where = `${pair.job.definition.name} ${pair.job.inputSize}x${pair.job.inputSize}`;
        if (side === "tfjs" && "workload" in pair.tfjs) {
          log(`round ${round + 1}: tfjs ${backend} ${where}: ${warmup} warm-up + ${pair.plan.timed} steps`);
          const tfjsSide = pair.tfjs;
          try {
            tfjsSide.blocks.push(
              await timeSteps(tfjsSide.workload, { warmupSteps: warmup, timedSteps: pair.plan.timed }),
            );
          } catch (error) {
            tfjsSide.workload.dispose();
            pair.tfjs = {
              status: "unavailable",
              reason: `step failed: ${errorMessage(error)}`,
              parameters: tfjsSide.workload.parameters,
            };
          }
        }
        if (side === "torch" && typeof twins !== "string" && "blocks" in pair.torch) {
          log(`round ${round + 1}: torch ${where}: ${warmup} warm-up + ${pair.plan.timed} steps`);
          const torchSide = pair.torch;
          try {
            torchSide.blocks.push(await twins.steps(torchSide.id, warmup, pair.plan.timed));
          } catch (error) {
            pair.torch = {
              status: "unavailable",
              reason: `twin failed: ${errorMessage(error)}`,
              parameters: torchSide.parameters,
            };
          }
        }
      }
    }
  }
  return pairs.map(({ job, tfjs, torch }) => {
    const { batch, name, trainingFlopsPerImage } = job.definition;
    let tfjsResult: SideResult;
    if ("workload" in tfjs) {
      tfjsResult = {
        status: "measured",
        parameters: tfjs.workload.parameters,
        summary: summarise(batch, tfjs.blocks),
      };
      tfjs.workload.dispose();
    } else tfjsResult = tfjs;
    const torchResult: SideResult =
      "blocks" in torch
        ? { status: "measured", parameters: torch.parameters, summary: summarise(batch, torch.blocks) }
        : torch;
    const flops =
      trainingFlopsPerImage && tfjsResult.status === "measured"
        ? {
            tfjsGflopsPerSecond:
              (trainingFlopsPerImage(job.inputSize) * tfjsResult.summary.imagesPerSecond) / 1e9,
          }
        : {};
    return {
      workload: name,
      inputSize: job.inputSize,
      batch,
      backend,
      tfjs: tfjsResult,
      torch: torchResult,
      ...flops,
    };
  });
}

const loadAverageAtStart = loadavg();
const started = await TorchTwins.start(args.python);
const twins = started instanceof TorchTwins ? started : started.unavailable;
if (typeof twins === "string") log(`PyTorch twins unavailable: ${twins}`);
const rows: TrainRow[] = [];
const details: string[] = [];
const cuda = probeCuda();
const unavailableRows = (backend: BackendName, reason: string) =>
  jobs.map(({ definition, inputSize }) => ({
    workload: definition.name,
    inputSize,
    batch: definition.batch,
    backend,
    tfjs: { status: "unavailable", reason } as const,
    torch: { status: "skipped", reason: "its tfjs backend did not load" } as const,
  }));
try {
  for (const backend of backends) {
    if (backend === "tensorflow-gpu" && !cuda.available) {
      rows.push(...unavailableRows(backend, cuda.evidence));
      continue;
    }
    let loaded: LoadedBackend;
    try {
      loaded = await loadBackend({ prefer: backend, log }, DEFAULT_BACKEND_LOADER_DEPS);
      details.push(loaded.detail);
    } catch (error: unknown) {
      const message = errorMessage(error);
      // The loader's message names every attempt; the table needs only why this one failed.
      rows.push(
        ...unavailableRows(backend, /did not load \(\S+: (.*)\); install/.exec(message)?.[1] ?? message),
      );
      continue;
    }
    rows.push(...(await measureBackend(backend, loaded, twins)));
  }
} finally {
  if (typeof twins !== "string") twins.close();
}

console.log(formatTable(rows));

const report = {
  date: new Date().toISOString(),
  machine: { ...machineInfo(), loadAverageAtStart, loadAverageAtEnd: loadavg(), cuda: cuda.evidence },
  tfjsVersion: tf.version_core,
  torch:
    typeof twins === "string"
      ? { unavailable: twins, python: args.python }
      : { version: twins.torchVersion, python: args.python, threads: 1 },
  method: {
    warmupSteps: WARMUP_STEPS,
    stepsPerBlock: timedSteps,
    rounds: schedule.length,
    alternation: "each round runs a block of each side; the first side alternates from round to round",
  },
  workloads: Object.fromEntries(
    workloadNames.map((name) => [
      name,
      { description: WORKLOADS[name].description, batch: WORKLOADS[name].batch },
    ]),
  ),
  backendDetails: details,
  rows: rows.map((row) => ({ ...row, comparison: compare(row) })),
};
if (!args["no-write"]) log(`wrote ${writeBenchResult("train", report)}`);
