/**
 * node --import tsx bench/profile-step.ts [--sizes 64,128] [--steps 5]
 *
 * Where a wasm training step of the reference model spends its time: process CPU ms per step
 * (median), then the CPU ms of each kernel summed over the same steps, and the rest of the step
 * that no kernel accounts for (tfjs engine bookkeeping: tape, tidy, gradient functions, layers'
 * JavaScript). CPU time, not tf.profile's wall time: on a shared machine wall time includes
 * waiting for a core. Prints only; a development tool, it writes nothing.
 */
import { parseArgs } from "node:util";
import {
  getKernelsForBackend,
  type KernelConfig,
  registerKernel,
  type Scalar,
  type Tensor,
  unregisterKernel,
} from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { DEFAULT_BACKEND_LOADER_DEPS, loadBackend } from "../shared/src/ml/tf/backend.js";
import { buildReferenceModel, REFERENCE_BATCH, REFERENCE_CLASSES } from "./reference-model.js";

const { values: args } = parseArgs({
  options: {
    sizes: { type: "string", default: "64,128" },
    steps: { type: "string", default: "5" },
  },
});
const { tf } = await loadBackend({ prefer: "wasm", log: () => {} }, DEFAULT_BACKEND_LOADER_DEPS);

/**
 * CPU ms and calls per kernel while `counting`. Kernels that our kernels run inside themselves
 * (BatchMatMul in Conv2DBackpropFilter, ...) count in their caller only.
 */
const perKernel = new Map<string, { ms: number; calls: number }>();
let counting = false;
let depth = 0;
for (const config of getKernelsForBackend("wasm")) {
  const { kernelFunc } = config;
  const timed: KernelConfig = {
    ...config,
    kernelFunc: (args) => {
      if (!counting || depth > 0) return kernelFunc(args);
      const start = process.cpuUsage();
      depth++;
      let result: ReturnType<typeof kernelFunc>;
      try {
        result = kernelFunc(args);
      } finally {
        depth--;
      }
      const used = process.cpuUsage(start);
      const entry = perKernel.get(config.kernelName) ?? { ms: 0, calls: 0 };
      entry.ms += (used.user + used.system) / 1000;
      entry.calls += 1;
      perKernel.set(config.kernelName, entry);
      return result;
    },
  };
  unregisterKernel(config.kernelName, "wasm");
  registerKernel(timed);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

function cpuMs(run: () => void): number {
  const start = process.cpuUsage();
  run();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

for (const size of args.sizes.split(",").map(Number)) {
  const model = buildReferenceModel(size);
  const optimizer = tf.train.adam(1e-3);
  const x = tf.randomNormal([REFERENCE_BATCH, size, size, 1], 0, 1, "float32", 7);
  const labels = tf.tensor1d(
    Array.from({ length: REFERENCE_BATCH }, (_, i) => i % REFERENCE_CLASSES),
    "int32",
  );
  const y = tf.cast(tf.oneHot(labels, REFERENCE_CLASSES), "float32");
  let loss = Number.NaN;
  const step = () => {
    loss = tf.tidy(() => {
      const cost = optimizer.minimize(() => {
        const predicted = model.apply(x, { training: true }) as Tensor;
        return tf.mean(tfl.metrics.categoricalCrossentropy(y, predicted)) as Scalar;
      }, true);
      return (cost?.dataSync()[0] as number | undefined) ?? Number.NaN;
    });
  };
  for (let i = 0; i < 2; i++) step();
  const steps = Array.from({ length: Number(args.steps) }, () => cpuMs(step));
  console.log(
    `${size}x${size}: step CPU ms median ${median(steps).toFixed(1)} [${steps.map((s) => s.toFixed(0)).join(" ")}], ` +
      `${((REFERENCE_BATCH * 1000) / median(steps)).toFixed(1)} img/s, loss ${loss.toFixed(4)}`,
  );
  perKernel.clear();
  counting = true;
  const counted = Array.from({ length: Number(args.steps) }, () => cpuMs(step));
  counting = false;
  const n = counted.length;
  const stepMs = counted.reduce((a, b) => a + b, 0) / n;
  const kernelMs = [...perKernel.values()].reduce((sum, e) => sum + e.ms, 0) / n;
  const calls = [...perKernel.values()].reduce((sum, e) => sum + e.calls, 0) / n;
  console.log(
    `  per step (mean of ${n}, counted): ${stepMs.toFixed(1)} CPU ms, kernels ${kernelMs.toFixed(1)} ms in ${calls} calls, outside kernels ${(stepMs - kernelMs).toFixed(1)} ms`,
  );
  for (const [name, { ms, calls }] of [...perKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, 16))
    console.log(
      `    ${name.padEnd(22)} ${(ms / n).toFixed(1).padStart(7)} ms ${String(calls / n).padStart(4)} calls`,
    );
  optimizer.dispose();
  model.dispose();
  tf.dispose([x, labels, y]);
}
