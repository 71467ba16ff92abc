import { describe, expect, it } from "vitest";
import { createFedAvg } from "../../../../coordinator/src/strategy/fedavg.js";
import {
  createFedAdam,
  createFedAvgM,
  createFedYogi,
  hasServerState,
  type ServerOptimizerStrategy,
} from "../../../../coordinator/src/strategy/server-optimizers.js";
import type { Strategy } from "../../../../coordinator/src/strategy/strategy.js";
import { ErrorCode } from "../../../../shared/src/errors.js";
import { Rng } from "../../../../shared/src/random.js";
import { createManifest } from "../../../../shared/src/weights/index.js";
import type { ModelWeights } from "../../../../shared/src/weights/types.js";
import { expectFlError } from "../../../helpers/expect-fl-error.js";

const manifest = createManifest([
  { name: "conv/kernel", shape: [1] },
  { name: "dense/bias", shape: [1] },
]);

function weights(values: number[]): ModelWeights {
  return { manifest, values: Float32Array.from(values) };
}

type Update = readonly [delta: number[], numExamples: number];

/** One round: begin, accept each (delta, numExamples), aggregate, step. */
function round(strategy: Strategy, global: ModelWeights, updates: readonly Update[]) {
  const aggregation = strategy.beginRound(global);
  for (const [i, [delta, numExamples]] of updates.entries()) {
    aggregation.accept({ siteId: `site-${i}`, delta: Float32Array.from(delta), numExamples });
  }
  return aggregation.step(aggregation.aggregate());
}

/** Runs the rounds in turn, returning the weights after each. */
function run(
  strategy: Strategy,
  start: ModelWeights,
  rounds: readonly (readonly Update[])[],
): ModelWeights[] {
  const out: ModelWeights[] = [];
  let global = start;
  for (const updates of rounds) {
    global = round(strategy, global, updates).weights;
    out.push(global);
  }
  return out;
}

function expectValues(actual: ModelWeights | undefined, expected: number[]): void {
  expect(actual).toBeDefined();
  expect(actual!.values.length).toBe(expected.length);
  for (const [i, value] of expected.entries()) expect(actual!.values[i]).toBeCloseTo(value, 6);
}

/** Reads the documented state layout independently of the implementation. */
function parseState(bytes: Uint8Array): { header: Record<string, unknown>; buffers: Float32Array[] } {
  expect(String.fromCharCode(...bytes.subarray(0, 4))).toBe("FLSO");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  const dataOffset = Math.ceil((8 + headerLength) / 4) * 4;
  const length = header.length as number;
  const buffers = (header.buffers as string[]).map((_, b) =>
    Float32Array.from({ length }, (_, i) => view.getFloat32(dataOffset + 4 * (b * length + i), true)),
  );
  expect(bytes.length).toBe(dataOffset + 4 * length * buffers.length);
  return { header, buffers };
}

/** Rewrites the JSON header of state bytes (keeping the data) to build malformed states. */
function withHeader(bytes: Uint8Array, edit: (header: Record<string, unknown>) => void): Uint8Array {
  const { header, buffers } = parseState(bytes);
  edit(header);
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const dataOffset = Math.ceil((8 + headerBytes.length) / 4) * 4;
  const out = new Uint8Array(dataOffset + buffers.reduce((n, b) => n + 4 * b.length, 0));
  out.set([0x46, 0x4c, 0x53, 0x4f]);
  const view = new DataView(out.buffer);
  view.setUint32(4, headerBytes.length, true);
  out.set(headerBytes, 8);
  let offset = dataOffset;
  for (const buffer of buffers) {
    for (const value of buffer) {
      view.setFloat32(offset, value, true);
      offset += 4;
    }
  }
  return out;
}

describe("FedAvgM", () => {
  it("follows m ← βm + Δ, x ← x + ηm over three rounds", () => {
    const strategy = createFedAvgM({ serverLearningRate: 0.5, momentum: 0.9 });
    const after = run(strategy, weights([1, 2]), [
      // Δ̄ = (1·[0.2, −0.4] + 3·[0.8, 0.2]) / 4 = [2.6, 0.2] / 4 = [0.65, 0.05]
      // m = [0.65, 0.05]; step 0.5·m = [0.325, 0.025]; x = [1.325, 2.025]
      [
        [[0.2, -0.4], 1],
        [[0.8, 0.2], 3],
      ],
      // Δ̄ = [−0.1, 0.3]; m = 0.9·[0.65, 0.05] + Δ̄ = [0.485, 0.345]; step [0.2425, 0.1725]
      // x = [1.5675, 2.1975]
      [[[-0.1, 0.3], 2]],
      // Δ̄ = 0; m = 0.9·[0.485, 0.345] = [0.4365, 0.3105]; step [0.21825, 0.15525]
      // x = [1.78575, 2.35275]: momentum keeps moving the model without any client change.
      [[[0, 0], 5]],
    ]);
    expectValues(after[0], [1.325, 2.025]);
    expectValues(after[1], [1.5675, 2.1975]);
    expectValues(after[2], [1.78575, 2.35275]);
    expect(strategy.steps).toBe(3);
    const { header, buffers } = parseState(strategy.exportState());
    expect(header).toMatchObject({ strategy: "fedavgm", steps: 3, buffers: ["momentum"], length: 2 });
    expect(buffers[0]![0]).toBeCloseTo(0.4365, 6);
    expect(buffers[0]![1]).toBeCloseTo(0.3105, 6);
  });

  it("equals FedAvg bit for bit with momentum 0 and learning rate 1", () => {
    const rng = new Rng(3);
    const length = 50;
    const big = createManifest([{ name: "w", shape: [length] }]);
    const start: ModelWeights = {
      manifest: big,
      values: Float32Array.from({ length }, () => rng.next() - 0.5),
    };
    const rounds = Array.from({ length: 3 }, () =>
      Array.from({ length: 4 }, () => ({
        siteId: "s",
        delta: Float32Array.from({ length }, () => (rng.next() - 0.5) / 10),
        numExamples: 1 + Math.floor(rng.next() * 100),
      })),
    );
    let viaFedAvg = start;
    let viaMomentum = start;
    const fedAvg = createFedAvg();
    const fedAvgM = createFedAvgM({ serverLearningRate: 1, momentum: 0 });
    for (const updates of rounds) {
      const a = fedAvg.beginRound(viaFedAvg);
      const b = fedAvgM.beginRound(viaMomentum);
      for (const update of updates) {
        a.accept(update);
        b.accept(update);
      }
      const fromFedAvg = a.step(a.aggregate());
      const fromMomentum = b.step(b.aggregate());
      expect(fromMomentum.metrics.updateNorm).toBe(fromFedAvg.metrics.updateNorm);
      expect(fromMomentum.metrics.totalExamples).toBe(fromFedAvg.metrics.totalExamples);
      viaFedAvg = fromFedAvg.weights;
      viaMomentum = fromMomentum.weights;
      expect(viaMomentum.values).toEqual(viaFedAvg.values);
    }
    expect(viaMomentum.values).not.toEqual(start.values);
  });
});

// Shared by the adaptive tests: η = 0.1, β₁ = 0.9, β₂ = 0.99, τ = 0.01 (so v starts at τ² = 1e-4),
// x₀ = [0, 1], one site per round with these deltas.
const adaptiveOptions = { serverLearningRate: 0.1, beta1: 0.9, beta2: 0.99, tau: 0.01 };
const adaptiveRounds: Update[][] = [[[[0.2, -0.1], 1]], [[[0.2, 0.1], 1]], [[[-0.4, 0.01], 1]]];

describe("FedAdam", () => {
  it("follows Adam without bias correction over three rounds", () => {
    const strategy = createFedAdam(adaptiveOptions);
    const after = run(strategy, weights([0, 1]), adaptiveRounds);
    // Round 1, Δ = [0.2, −0.1]: m = 0.1Δ = [0.02, −0.01];
    //   v = 0.99·1e-4 + 0.01·Δ² = [0.000499, 0.000199]; √v = [0.0223383, 0.0141067];
    //   step = 0.1·m / (√v + 0.01) = [0.002/0.0323383, −0.001/0.0241067] = [0.0618462, −0.0414822].
    expectValues(after[0], [0.0618462, 0.9585178]);
    // Round 2, Δ = [0.2, 0.1]: m = 0.9m + 0.1Δ = [0.038, 0.001];
    //   v = 0.99v + 0.01Δ² = [0.00089401, 0.00029701]; √v = [0.0299, 0.0172340];
    //   step = [0.0038/0.0399, 0.0001/0.0272340] = [0.0952381, 0.0036719].
    expectValues(after[1], [0.1570843, 0.9621897]);
    // Round 3, Δ = [−0.4, 0.01]: m = [−0.0058, 0.0019];
    //   v = [0.99·0.00089401 + 0.0016, 0.99·0.00029701 + 0.000001] = [0.00248507, 0.00029504];
    //   √v = [0.0498505, 0.0171767]; step = [−0.00058/0.0598505, 0.00019/0.0271767]
    //   = [−0.0096908, 0.0069913].
    expectValues(after[2], [0.1473934, 0.969181]);
    const { header, buffers } = parseState(strategy.exportState());
    expect(header).toMatchObject({
      format: "fl-server-optimizer-state",
      version: 1,
      strategy: "fedadam",
      steps: 3,
      buffers: ["firstMoment", "secondMoment"],
      tensors: [
        { name: "conv/kernel", shape: [1] },
        { name: "dense/bias", shape: [1] },
      ],
      hyperparameters: adaptiveOptions,
    });
    expect(buffers[0]![0]).toBeCloseTo(-0.0058, 7);
    expect(buffers[0]![1]).toBeCloseTo(0.0019, 7);
    expect(buffers[1]![0]).toBeCloseTo(0.0024850699, 9);
    expect(buffers[1]![1]).toBeCloseTo(0.0002950399, 9);
  });

  it("reports the pseudo-gradient and server step norms", () => {
    const strategy = createFedAdam(adaptiveOptions);
    // Δ̄ = (1·[0.2, −0.1] + 1·[0.2, −0.1]) / 2; |Δ̄| = √(0.04 + 0.01) = 0.2236068.
    const { metrics } = round(strategy, weights([0, 1]), [
      [[0.2, -0.1], 1],
      [[0.2, -0.1], 1],
    ]);
    expect(metrics.totalExamples).toBe(2);
    expect(metrics.updateNorm).toBeCloseTo(Math.sqrt(0.05), 6);
    // Step as in round 1 above: √(0.0618462² + 0.0414822²) = 0.0744696.
    expect(metrics.serverStepNorm).toBeCloseTo(0.0744696, 6);
  });
});

describe("FedYogi", () => {
  it("grows v additively and shrinks it only by (1 − β₂)Δ²", () => {
    const strategy = createFedYogi(adaptiveOptions);
    const after = run(strategy, weights([0, 1]), adaptiveRounds);
    // Round 1, Δ² = [0.04, 0.01] > v = 1e-4, so v ← v + 0.01Δ² = [0.0005, 0.0002];
    //   m = [0.02, −0.01]; step = [0.002/(0.0223607 + 0.01), −0.001/(0.0141421 + 0.01)]
    //   = [0.0618034, −0.0414214].
    expectValues(after[0], [0.0618034, 0.9585786]);
    // Round 2, Δ² = [0.04, 0.01] > v: v = [0.0009, 0.0003]; √v = [0.03, 0.0173205];
    //   m = [0.038, 0.001]; step = [0.0038/0.04, 0.0001/0.0273205] = [0.095, 0.0036603].
    expectValues(after[1], [0.1568034, 0.9622389]);
    // Round 3, Δ = [−0.4, 0.01]: component 0 has Δ² = 0.16 > v → v = 0.0009 + 0.0016 = 0.0025;
    //   component 1 has Δ² = 0.0001 < v = 0.0003 → v = 0.0003 − 0.000001 = 0.000299 (Adam would
    //   give 0.00029504); m = [−0.0058, 0.0019];
    //   step = [−0.00058/0.06, 0.00019/(0.0172916 + 0.01)] = [−0.0096667, 0.0069618].
    expectValues(after[2], [0.1471367, 0.9692007]);
    const { buffers } = parseState(strategy.exportState());
    expect(buffers[1]![0]).toBeCloseTo(0.0025, 9);
    expect(buffers[1]![1]).toBeCloseTo(0.000299, 9);
  });
});

describe.each<[string, (options?: object) => ServerOptimizerStrategy]>([
  ["fedavgm", (o) => createFedAvgM({ serverLearningRate: 0.5, ...o })],
  ["fedadam", (o) => createFedAdam({ ...adaptiveOptions, ...o })],
  ["fedyogi", (o) => createFedYogi({ ...adaptiveOptions, ...o })],
])("%s state", (name, create) => {
  it("resumes from exported state exactly as an uninterrupted run", () => {
    const uninterrupted = create();
    const expected = run(uninterrupted, weights([0, 1]), adaptiveRounds);

    const first = create();
    const [, afterTwo] = run(first, weights([0, 1]), adaptiveRounds.slice(0, 2));
    const saved = first.exportState();
    const resumed = create();
    resumed.importState(saved);
    expect(resumed.steps).toBe(2);
    const [afterThree] = run(resumed, afterTwo!, adaptiveRounds.slice(2));
    expect(afterThree!.values).toEqual(expected[2]!.values);
    expect(resumed.exportState()).toEqual(uninterrupted.exportState());
  });

  it("round-trips the empty state of a strategy that has not stepped yet", () => {
    const fresh = create();
    const bytes = fresh.exportState();
    expect(parseState(bytes).header).toMatchObject({ strategy: name, steps: 0, tensors: null, length: 0 });
    const other = create();
    run(other, weights([0, 1]), adaptiveRounds.slice(0, 1));
    other.importState(bytes);
    expect(other.steps).toBe(0);
    const [viaReset] = run(other, weights([0, 1]), adaptiveRounds.slice(0, 1));
    const [viaFresh] = run(create(), weights([0, 1]), adaptiveRounds.slice(0, 1));
    expect(viaReset!.values).toEqual(viaFresh!.values);
  });

  it("is not advanced by an abandoned attempt, and a stale attempt cannot step", () => {
    const strategy = create();
    const abandoned = strategy.beginRound(weights([0, 1]));
    abandoned.accept({ siteId: "a", delta: Float32Array.from([5, 5]), numExamples: 1 });
    const retry = strategy.beginRound(weights([0, 1]));
    retry.accept({ siteId: "a", delta: Float32Array.from([0.2, -0.1]), numExamples: 1 });
    expectFlError(() => abandoned.step(abandoned.aggregate()), ErrorCode.FailedPrecondition, "newer round");
    const { weights: next } = retry.step(retry.aggregate());
    const [expected] = run(create(), weights([0, 1]), adaptiveRounds.slice(0, 1));
    expect(next.values).toEqual(expected!.values);
    expect(strategy.steps).toBe(1);
    expectFlError(() => retry.step(retry.aggregate()), ErrorCode.FailedPrecondition, "already finished");
  });

  it("cannot step a round begun before state was imported", () => {
    const strategy = create();
    const open = strategy.beginRound(weights([0, 1]));
    open.accept({ siteId: "a", delta: Float32Array.from([0.2, -0.1]), numExamples: 1 });
    strategy.importState(create().exportState());
    expectFlError(() => open.step(open.aggregate()), ErrorCode.FailedPrecondition, "state was imported");
  });

  it("has no aggregate without an update, and refuses an update without examples", () => {
    const aggregation = create().beginRound(weights([0, 1]));
    expectFlError(
      () => aggregation.accept({ siteId: "a", delta: Float32Array.from([1, 1]), numExamples: 0 }),
      ErrorCode.InvalidArgument,
      "a reports 0 examples",
    );
    expectFlError(
      () => aggregation.accept({ siteId: "a", delta: Float32Array.from([1]), numExamples: 1 }),
      ErrorCode.InvalidArgument,
    );
    expectFlError(() => aggregation.aggregate(), ErrorCode.FailedPrecondition, "no update");
  });

  it("refuses a model whose shared tensors differ from those of its state", () => {
    const strategy = create();
    run(strategy, weights([0, 1]), adaptiveRounds.slice(0, 1));
    const other = createManifest([
      { name: "conv/kernel", shape: [1] },
      { name: "head/bias", shape: [1] },
    ]);
    expectFlError(
      () => strategy.beginRound({ manifest: other, values: new Float32Array(2) }),
      ErrorCode.WeightsShapeMismatch,
      "dense/bias[1]",
      "head/bias[1]",
    );
    const resumed = create();
    resumed.importState(strategy.exportState());
    const reshaped = createManifest([{ name: "conv/kernel", shape: [2] }]);
    expectFlError(
      () => resumed.beginRound({ manifest: reshaped, values: new Float32Array(2) }),
      ErrorCode.WeightsShapeMismatch,
      "conv/kernel[2]",
    );
  });

  it("rejects malformed or foreign state and leaves its own state alone", () => {
    const strategy = create();
    run(strategy, weights([0, 1]), adaptiveRounds.slice(0, 2));
    const good = strategy.exportState();
    const cases: Array<[Uint8Array, string]> = [
      [new Uint8Array([1, 2, 3]), "magic"],
      [good.subarray(0, good.length - 4), "bytes"],
      [withHeader(good, (h) => (h.strategy = name === "fedyogi" ? "fedadam" : "fedyogi")), "written by"],
      [withHeader(good, (h) => (h.steps = -1)), "steps"],
      [withHeader(good, (h) => (h.length = 3)), "length"],
      [withHeader(good, (h) => (h.tensors = [{ name: "x" }])), "tensor 0"],
      [withHeader(good, (h) => (h.format = "something-else")), "format"],
    ];
    for (const [bytes, fragment] of cases) {
      expectFlError(() => strategy.importState(bytes), ErrorCode.InvalidArgument, fragment);
    }
    expectFlError(
      () => strategy.importState(withHeader(good, (h) => (h.version = 2))),
      ErrorCode.Unsupported,
      "version 2",
    );
    const notFinite = Uint8Array.from(good);
    new DataView(notFinite.buffer).setFloat32(notFinite.length - 4, Number.NaN, true);
    expectFlError(() => strategy.importState(notFinite), ErrorCode.InvalidArgument, "NaN");
    expect(strategy.exportState()).toEqual(good);
  });
});

describe("adaptive second moment", () => {
  it("must not be imported negative", () => {
    const strategy = createFedAdam(adaptiveOptions);
    run(strategy, weights([0, 1]), adaptiveRounds.slice(0, 1));
    const bytes = Uint8Array.from(strategy.exportState());
    // The last float is secondMoment[1].
    new DataView(bytes.buffer).setFloat32(bytes.length - 4, -1, true);
    expectFlError(() => strategy.importState(bytes), ErrorCode.InvalidArgument, "secondMoment[1]", "≥ 0");
  });
});

describe("options", () => {
  it.each<[string, () => unknown, string]>([
    ["a learning rate of 0", () => createFedAvgM({ serverLearningRate: 0 }), "serverLearningRate"],
    ["momentum 1", () => createFedAvgM({ momentum: 1 }), "momentum"],
    ["a negative beta1", () => createFedAdam({ beta1: -0.1 }), "beta1"],
    ["beta2 = 1", () => createFedYogi({ beta2: 1 }), "beta2"],
    ["tau = 0", () => createFedAdam({ tau: 0 }), "tau"],
    [
      "an infinite learning rate",
      () => createFedYogi({ serverLearningRate: Number.POSITIVE_INFINITY }),
      "serverLearningRate",
    ],
  ])("rejects %s", (_what, fn, fragment) => {
    expectFlError(fn, ErrorCode.InvalidArgument, fragment);
  });

  it("uses the documented defaults, also for options passed as undefined", () => {
    // FedAvgM defaults η = 1, β = 0.9: two rounds of Δ = 1 give m = 1 then 1.9, x = 0 + 1 + 1.9.
    const strategy = createFedAvgM({ momentum: undefined });
    const after = run(strategy, weights([0, 0]), [[[[1, 1], 1]], [[[1, 1], 1]]]);
    expectValues(after[1], [2.9, 2.9]);
    expect(parseState(createFedAdam().exportState()).header.hyperparameters).toEqual({
      serverLearningRate: 1e-2,
      beta1: 0.9,
      beta2: 0.99,
      tau: 1e-3,
    });
  });

  it("marks only the server optimisers as stateful", () => {
    expect(hasServerState(createFedAvg())).toBe(false);
    expect(hasServerState(createFedAvgM())).toBe(true);
    expect(hasServerState(createFedAdam())).toBe(true);
    expect(hasServerState(createFedYogi())).toBe(true);
  });
});
