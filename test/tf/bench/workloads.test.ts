import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { referenceForwardFlops, referenceTrainingFlops } from "../../../bench/reference-model.js";
import { DEFAULT_PYTHON, TorchTwins } from "../../../bench/torch/twin-process.js";
import { WORKLOADS } from "../../../bench/workloads/index.js";
import { WORKLOAD_NAMES, type WorkloadName } from "../../../bench/workloads/workload.js";
import { setUpBackends, tf } from "../../helpers/tf-backends.js";

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
/** k x k convolutions without bias, as [k, in, out]. */
const convs = (shapes: [number, number, number][]) => sum(shapes.map(([k, i, o]) => k * k * i * o));
/** Batch-norm layers by channels: gamma and beta trainable, plus moving mean and variance. */
const bn = (channels: number[]) => ({ trainable: 2 * sum(channels), total: 4 * sum(channels) });
const dense = (inputs: number, units: number) => inputs * units + units;

// Layer shapes written out by hand from each architecture's description.
const reference = {
  convs: convs([
    [3, 1, 16],
    [3, 16, 16],
    [3, 16, 32],
    [3, 32, 32],
    [3, 32, 64],
    [3, 64, 64],
    [3, 64, 128],
    [3, 128, 128],
  ]),
  bn: bn([16, 16, 32, 32, 64, 64, 128, 128]),
  head: dense(128, 4),
};
const smallCnn = {
  convs: convs([
    [3, 1, 16],
    [3, 16, 16],
    [3, 16, 32],
    [3, 32, 32],
    [3, 32, 64],
    [3, 64, 64],
  ]),
  bn: bn([16, 16, 32, 32, 64, 64]),
  head: dense(64, 4),
};
// Tiny encoder: stem 3x3/2 to 8, one basic block per stage (8, 16, 32, 64), a 1x1/2 shortcut where
// the width changes.
const encoderConvs = convs([
  [3, 1, 8],
  [3, 8, 8],
  [3, 8, 8],
  [3, 8, 16],
  [3, 16, 16],
  [1, 8, 16],
  [3, 16, 32],
  [3, 32, 32],
  [1, 16, 32],
  [3, 32, 64],
  [3, 64, 64],
  [1, 32, 64],
]);
const encoderBn = [8, 8, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64];
// Decoder steps: up-sampled input concatenated with the skip of that resolution (32, 16, 8, none).
const decoderConvs = convs([
  [3, 64 + 32, 32],
  [3, 32 + 16, 16],
  [3, 16 + 8, 8],
  [3, 8, 8],
]);
const decoderBn = [32, 16, 8, 8];
const maskHead = 1 * 1 * 8 * 1 + 1;
const projectionHead = dense(64, 64) + dense(64, 128);

const EXPECTED: Readonly<Record<WorkloadName, { trainable: number; total: number }>> = {
  reference: {
    trainable: reference.convs + reference.bn.trainable + reference.head,
    total: reference.convs + reference.bn.total + reference.head,
  },
  "small-cnn": {
    trainable: smallCnn.convs + smallCnn.bn.trainable + smallCnn.head,
    total: smallCnn.convs + smallCnn.bn.total + smallCnn.head,
  },
  multitask: {
    trainable:
      encoderConvs + decoderConvs + bn([...encoderBn, ...decoderBn]).trainable + maskHead + dense(64, 4),
    total: encoderConvs + decoderConvs + bn([...encoderBn, ...decoderBn]).total + maskHead + dense(64, 4),
  },
  // Only the query network trains; the key network is a second copy of every weight.
  moco: {
    trainable: encoderConvs + bn(encoderBn).trainable + projectionHead,
    total: 2 * (encoderConvs + bn(encoderBn).total + projectionHead),
  },
};

// Parameter counts do not depend on the input size; 32 px is the smallest every workload takes.
const size = 32;

describe("tfjs workloads of bench:train", () => {
  beforeAll(async () => {
    await setUpBackends();
  });

  it("has the issue's 295,188 parameters in the reference model", () => {
    expect(EXPECTED.reference.total).toBe(295_188);
  });

  it.each(WORKLOAD_NAMES)(
    "%s builds with the parameter counts of its layer shapes and steps on wasm",
    async (name) => {
      await tf.setBackend("wasm");
      const definition = WORKLOADS[name];
      const before = tf.memory().numTensors;
      const workload = definition.build(tf, size);
      try {
        expect(workload.parameters).toEqual(EXPECTED[name]);
        const loss = await workload.step();
        expect(Number.isFinite(loss)).toBe(true);
        expect(loss).toBeGreaterThan(0);
      } finally {
        workload.dispose();
      }
      // The bench builds each workload once per backend; what it frees must not pile up.
      expect(tf.memory().numTensors).toBe(before);
    },
  );

  it("counts the reference model's FLOPs layer by layer", () => {
    // Multiply-adds of the eight 3x3 convolutions at 64x64 (output pixels x 9 x in x out), x2, plus the dense layer.
    const macs = [64 * 64 * 9 * 16, 32 * 32 * 9 * 256, 32 * 32 * 9 * 512, 16 * 16 * 9 * 1024];
    const moreMacs = [16 * 16 * 9 * 2048, 8 * 8 * 9 * 4096, 8 * 8 * 9 * 8192, 4 * 4 * 9 * 16384];
    const forward = 2 * [...macs, ...moreMacs].reduce((a, b) => a + b, 0) + 2 * 128 * 4;
    expect(referenceForwardFlops(64)).toBe(forward);
    expect(referenceTrainingFlops(64)).toBe(3 * forward - 2 * 64 * 64 * 9 * 16);
  });
});

const torchCheck = spawnSync(DEFAULT_PYTHON, ["-c", "import torch"], { stdio: "ignore" });
const hasTorch = torchCheck.status === 0;

describe.skipIf(!hasTorch)(
  `PyTorch twins (skipped: needs python3-torch for ${DEFAULT_PYTHON}, npm run bench:setup)`,
  () => {
    let twins: TorchTwins;
    beforeAll(async () => {
      const started = await TorchTwins.start();
      if (!(started instanceof TorchTwins)) throw new Error(started.unavailable);
      twins = started;
    });
    afterAll(() => twins?.close());

    it.each(WORKLOAD_NAMES)("%s twin has the tfjs workload's parameter counts", async (name) => {
      const definition = WORKLOADS[name];
      expect(await twins.build(name, name, size, definition.batch)).toEqual(EXPECTED[name]);
      const steps = await twins.steps(name, 0, 1);
      expect(Number.isFinite(steps.lastLoss)).toBe(true);
      expect(steps.stepsMs).toHaveLength(1);
    });
  },
);
