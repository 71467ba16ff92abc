/**
 * npm run bench:train [-- --sizes 64,128 --backends wasm,cpu --steps 10 --profile --no-write]
 *
 * Training-step throughput of the reference model on every TensorFlow.js backend this
 * machine can load: a table on stdout and JSON in bench/results/ (train-<date>.json and
 * train-latest.json). The pure-JS CPU backend (~77 s a step) is timed over one step at 64x64.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import {
  BACKEND_NAMES,
  type BackendName,
  DEFAULT_BACKEND_LOADER_DEPS,
  loadBackend,
  parseBackendPreference,
} from "../shared/src/ml/tf/backend.js";
import { probeCuda } from "../shared/src/ml/tf/cuda.js";
import { machineInfo } from "./machine.js";
import { buildReferenceModel, REFERENCE_BATCH, referenceTrainingFlops } from "./reference-model.js";
import { type BenchRow, checkTargets, formatTable } from "./train-report.js";
import { measureTrainingSteps } from "./train-step.js";

const { values: args } = parseArgs({
  options: {
    sizes: { type: "string", default: "64,128" },
    backends: { type: "string", default: BACKEND_NAMES.join(",") },
    steps: { type: "string", default: "10" },
    profile: { type: "boolean", default: false },
    "no-write": { type: "boolean", default: false },
  },
});

const sizes = args.sizes.split(",").map(Number);
const backends = args.backends.split(",").map((name) => parseBackendPreference(name.trim())) as BackendName[];
const timedSteps = Number(args.steps);
const log = (line: string) => console.error(line);

function stepsFor(backend: BackendName, size: number): { warmup: number; timed: number; skip?: string } {
  if (backend !== "cpu")
    return { warmup: 2, timed: size >= 128 ? Math.max(3, Math.ceil(timedSteps / 2)) : timedSteps };
  if (size > 64) return { warmup: 0, timed: 0, skip: "pure-JS CPU measured at 64x64 only (minutes a step)" };
  return { warmup: 0, timed: 1 };
}

async function profileOneStep(size: number): Promise<void> {
  const profile = await tf.profile(() => {
    measureTrainingSteps(tf, { inputSize: size, warmupSteps: 0, timedSteps: 1 });
  });
  const byKernel = new Map<string, { ms: number; calls: number }>();
  for (const k of profile.kernels) {
    const entry = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
    entry.ms += Number(k.kernelTimeMs);
    entry.calls += 1;
    byKernel.set(k.name, entry);
  }
  const top = [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, 15);
  log(`tf.profile of one ${size}x${size} step on ${tf.getBackend()} (first step, includes warm-up):`);
  for (const [name, { ms, calls }] of top)
    log(`  ${name.padEnd(24)} ${ms.toFixed(1).padStart(8)} ms  ${calls} calls`);
}

const loadAverageAtStart = loadavg();
const rows: BenchRow[] = [];
const details: string[] = [];
const cuda = probeCuda();
for (const backend of backends) {
  if (backend === "tensorflow-gpu" && !cuda.available) {
    for (const inputSize of sizes)
      rows.push({ backend, inputSize, status: "unavailable", reason: cuda.evidence });
    continue;
  }
  let loaded: Awaited<ReturnType<typeof loadBackend>>;
  try {
    loaded = await loadBackend({ prefer: backend, log }, DEFAULT_BACKEND_LOADER_DEPS);
    details.push(loaded.detail);
  } catch (error: unknown) {
    const message = error instanceof Error ? error.message : String(error);
    // The loader's message names every attempt; the table needs only why this one failed.
    const reason = /did not load \(\S+: (.*)\); install/.exec(message)?.[1] ?? message;
    for (const inputSize of sizes) rows.push({ backend, inputSize, status: "unavailable", reason });
    continue;
  }
  for (const inputSize of sizes) {
    const plan = stepsFor(backend, inputSize);
    if (plan.skip !== undefined) {
      rows.push({ backend, inputSize, status: "skipped", reason: plan.skip });
      continue;
    }
    if (args.profile && backend === "wasm") await profileOneStep(inputSize);
    log(
      `measuring ${backend} at ${inputSize}x${inputSize}: ${plan.warmup} warm-up + ${plan.timed} timed steps`,
    );
    const t = measureTrainingSteps(loaded.tf, {
      inputSize,
      warmupSteps: plan.warmup,
      timedSteps: plan.timed,
    });
    const imagesPerSecond = (REFERENCE_BATCH * 1000) / t.medianMs;
    rows.push({
      backend,
      inputSize,
      status: "measured",
      warmupSteps: plan.warmup,
      stepsMs: t.stepsMs.map((ms) => Math.round(ms * 10) / 10),
      medianStepMs: t.medianMs,
      minStepMs: t.minMs,
      imagesPerSecond,
      gflopsPerSecond: (referenceTrainingFlops(inputSize) * imagesPerSecond) / 1e9,
      cpuStepsMs: t.cpuMs.map((ms) => Math.round(ms * 10) / 10),
      medianCpuStepMs: t.medianCpuMs,
      imagesPerCpuSecond: (REFERENCE_BATCH * 1000) / t.medianCpuMs,
      lastLoss: t.lastLoss,
    });
  }
}

const targets = checkTargets(rows);
console.log(formatTable(rows, targets));

const model = buildReferenceModel(64);
const report = {
  date: new Date().toISOString(),
  machine: { ...machineInfo(), loadAverageAtStart, cuda: cuda.evidence },
  tfjsVersion: tf.version_core,
  model: {
    description: "4 x [conv3x3-BN-ReLU, conv3x3/2-BN-ReLU] (16,32,64,128), GAP, dense 4 softmax; Adam 1e-3",
    parameters: model.countParams(),
    batch: REFERENCE_BATCH,
    trainingFlopsPerImage: Object.fromEntries(sizes.map((s) => [`${s}x${s}`, referenceTrainingFlops(s)])),
  },
  backendDetails: details,
  rows,
  targets,
};
model.dispose();
if (!args["no-write"]) {
  const dir = join(dirname(fileURLToPath(import.meta.url)), "results");
  mkdirSync(dir, { recursive: true });
  const json = `${JSON.stringify(report, null, 2)}\n`;
  writeFileSync(join(dir, `train-${report.date.slice(0, 10)}.json`), json);
  writeFileSync(join(dir, "train-latest.json"), json);
  log(`wrote ${join(dir, "train-latest.json")}`);
}
