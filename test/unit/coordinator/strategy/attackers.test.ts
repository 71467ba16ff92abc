import { describe, expect, it } from "vitest";
import { createFedAvg } from "../../../../coordinator/src/strategy/fedavg.js";
import { createKrum } from "../../../../coordinator/src/strategy/krum.js";
import { createMedian } from "../../../../coordinator/src/strategy/median.js";
import type { Strategy } from "../../../../coordinator/src/strategy/strategy.js";
import { createTrimmedMean } from "../../../../coordinator/src/strategy/trimmed-mean.js";
import { Rng } from "../../../../shared/src/random.js";
import { createManifest } from "../../../../shared/src/weights/index.js";
import type { ModelWeights } from "../../../../shared/src/weights/types.js";

/**
 * Ten honest sites share a direction u (‖u‖ ≈ 3.2 over 1000 parameters) plus their own seeded
 * noise (σ = 0.03 per parameter); three attackers, the most each strategy below is configured to
 * tolerate, send sign-flipped, scaled or random updates. Every site reports the same example
 * count, so FedAvg's failure is its mean's, not its weighting's.
 */
const DIM = 1000;
const HONEST = 10;
const ATTACKERS = 3;
/** FedAvg's aggregate is moved further than this fraction of ‖honest mean‖ from it. */
const FEDAVG_BEYOND = 2;

const rng = new Rng(2024);
const direction = Float32Array.from({ length: DIM }, () => rng.normal(0, 0.1));
const honest = Array.from({ length: HONEST }, () => direction.map((u) => u + rng.normal(0, 0.03)));
const honestMean = direction.map((_, i) => honest.reduce((sum, d) => sum + (d[i] as number), 0) / HONEST);

const ATTACKS: Record<string, (k: number) => Float32Array> = {
  // All attackers send −10 × the honest mean (they may collude, and know it).
  "sign-flipping": () => honestMean.map((v) => -10 * v),
  // An honest-looking update blown up a hundredfold.
  scaling: (k) => (honest[k] as Float32Array).map((v) => 100 * v),
  // Pure noise, σ = 10 per parameter.
  "Gaussian noise": () => Float32Array.from({ length: DIM }, () => rng.normal(0, 10)),
};

/**
 * Each robust strategy and the fraction of ‖honest mean‖ its aggregate stays within. Order
 * statistics and averages of honest updates land within 0.25; Krum returns one honest update,
 * whose own noise is σ·√d / ‖u‖ ≈ 0.3 away, hence 0.5.
 */
const STRATEGIES: Record<string, [() => Strategy, number]> = {
  median: [createMedian, 0.25],
  // ⌊0.25 · 13⌋ = 3 trimmed from each end.
  "trimmed mean (β = 0.25)": [() => createTrimmedMean({ trimFraction: 0.25 }), 0.25],
  // n = 13 > 2·3 + 2.
  "Krum (f = 3)": [() => createKrum({ byzantine: 3, select: 1 }), 0.5],
  "multi-Krum (f = 3, m = 10)": [() => createKrum({ byzantine: 3, select: 10 }), 0.25],
};

const global: ModelWeights = {
  manifest: createManifest([{ name: "w", shape: [DIM] }]),
  values: new Float32Array(DIM),
};

/** ‖aggregate − honest mean‖ / ‖honest mean‖ for a round of the honest sites and the attackers. */
function relativeError(strategy: Strategy, attack: (k: number) => Float32Array): number {
  const aggregation = strategy.beginRound(global);
  const deltas = [...honest, ...Array.from({ length: ATTACKERS }, (_, k) => attack(k))];
  // Attackers arrive in the middle, so no strategy can profit from arrival order.
  for (const k of [0, 1, 2, 3, 10, 4, 5, 11, 6, 7, 12, 8, 9])
    aggregation.accept({ siteId: `s${k}`, delta: deltas[k] as Float32Array, numExamples: 100 });
  const { meanDelta } = aggregation.aggregate();
  let error = 0;
  let norm = 0;
  meanDelta.forEach((v, i) => {
    error += (v - (honestMean[i] as number)) ** 2;
    norm += (honestMean[i] as number) ** 2;
  });
  return Math.sqrt(error / norm);
}

describe.each(Object.entries(ATTACKS))("three %s attackers among ten honest sites", (_, attack) => {
  it(`move FedAvg's aggregate more than ${FEDAVG_BEYOND}× the honest mean's norm away from it`, () => {
    expect(relativeError(createFedAvg(), attack)).toBeGreaterThan(FEDAVG_BEYOND);
  });

  it.each(Object.entries(STRATEGIES))("leave the %s within its bound of it", (_, [strategy, bound]) => {
    expect(relativeError(strategy(), attack)).toBeLessThan(bound);
  });
});

it("leaves the honest mean where it is without attackers, so the bounds measure the attacks", () => {
  // Three more copies of honest updates: FedAvg moves only by their share of the noise.
  expect(relativeError(createFedAvg(), (k) => honest[k] as Float32Array)).toBeLessThan(0.1);
});
