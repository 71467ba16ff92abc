import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import type { ModelWeights } from "../../../shared/src/weights/types.js";
import { bufferedRound, totalExamples } from "./round-deltas.js";
import type { RoundAggregation, Strategy, UpdateContribution } from "./strategy.js";

export interface KrumOptions {
  /** f: how many of a round's sites may be attackers. A round needs n > 2f + 2 updates. */
  readonly byzantine: number;
  /** m: how many lowest-scoring updates are averaged; 1 is Krum, more is multi-Krum. */
  readonly select: number;
}

/**
 * Krum and multi-Krum (Blanchard et al. 2017, "Machine Learning with Adversaries"): each update
 * is scored by the sum of its squared L2 distances to its n − f − 2 nearest other updates, and
 * the m lowest-scoring ones are averaged, unweighted (sites weigh equally, whatever their example
 * counts). An attacker far from the honest cluster scores high and is left out. Every delta of
 * the round is kept in memory, and scoring costs n(n − 1)/2 distances over all parameters.
 */
export function createKrum(options: KrumOptions): Strategy {
  const { byzantine: f, select: m } = options;
  if (!Number.isInteger(f) || f < 0)
    throw new FlError(ErrorCode.InvalidArgument, `krum: byzantine must be an integer ≥ 0, got ${f}`);
  if (!Number.isInteger(m) || m < 1)
    throw new FlError(ErrorCode.InvalidArgument, `krum: select must be an integer ≥ 1, got ${m}`);
  return {
    name: "krum",
    beginRound(global: ModelWeights): RoundAggregation {
      return bufferedRound(global, (deltas, length) => {
        const n = deltas.length;
        if (n <= 2 * f + 2)
          throw new FlError(
            ErrorCode.FailedPrecondition,
            `krum: tolerating ${f} attackers needs more than ${2 * f + 2} updates (n > 2f + 2); this round has ${n}`,
          );
        // Averaging more than n − f could include an attacker even when all were scored right.
        if (m > n - f)
          throw new FlError(
            ErrorCode.FailedPrecondition,
            `krum: selecting ${m} updates with ${f} attackers needs at least ${m + f} updates; this round has ${n}`,
          );
        const chosen = krumSelect(deltas, f, m);
        const mean = new Float32Array(length);
        for (let i = 0; i < length; i++) {
          let sum = 0;
          for (const d of chosen) sum += d.delta[i] as number;
          mean[i] = sum / chosen.length;
        }
        return { meanDelta: mean, count: n, totalExamples: totalExamples(chosen) };
      });
    },
  };
}

/** Krum's scores, in the order of `deltas`. */
export function krumScores(deltas: readonly UpdateContribution[], byzantine: number): number[] {
  const n = deltas.length;
  const distances = Array.from({ length: n }, () => new Float64Array(n));
  for (let a = 0; a < n; a++) {
    const x = (deltas[a] as UpdateContribution).delta;
    for (let b = a + 1; b < n; b++) {
      const y = (deltas[b] as UpdateContribution).delta;
      let sum = 0;
      for (let i = 0; i < x.length; i++) {
        const diff = (x[i] as number) - (y[i] as number);
        sum += diff * diff;
      }
      (distances[a] as Float64Array)[b] = sum;
      (distances[b] as Float64Array)[a] = sum;
    }
  }
  const neighbours = n - byzantine - 2;
  return distances.map((row, a) => {
    const others = row.filter((_, b) => b !== a).sort();
    let score = 0;
    for (let k = 0; k < neighbours; k++) score += others[k] as number;
    return score;
  });
}

/** The m updates with the lowest scores; ties go to the earlier-accepted update. */
function krumSelect(deltas: readonly UpdateContribution[], f: number, m: number): UpdateContribution[] {
  const scores = krumScores(deltas, f);
  return deltas
    .map((d, k) => ({ d, score: scores[k] as number, k }))
    .sort((a, b) => a.score - b.score || a.k - b.k)
    .slice(0, m)
    .map(({ d }) => d);
}
