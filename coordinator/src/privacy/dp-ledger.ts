import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import { effectiveNoiseMultiplier, guaranteedSurvivors } from "../../../shared/src/fl/secagg-dp.js";
import { centralNoiseStd } from "../../../shared/src/fl/stages/dp-gaussian.js";
import type { StageConfig } from "../../../shared/src/fl/stages/index.js";
import type { TrainTask } from "../../../shared/src/fl/task.js";
import { gaussianNoise, type RandomBytes } from "../../../shared/src/privacy/gaussian-noise.js";
import { RdpAccountant } from "../../../shared/src/privacy/rdp-accountant.js";
import type { DpSettings } from "./dp-plan.js";

/** What the ledger keeps between rounds, committed with each round (JSON in the store). */
export interface DpLedgerState {
  /** The RDP spent so far, per order. */
  readonly accountant: { readonly orders: number[]; readonly rdp: number[] };
  /** C of the next round (fixed, or the adaptive estimate after the last round). */
  readonly clipNorm: number;
  /** Training rounds charged so far. */
  readonly rounds: number;
  /** ε after them, at the plan's δ. */
  readonly epsilon: number;
}

/** One round's privacy, decided after sampling and before any task is posted. */
export interface RoundDp {
  /** How many sites the round was sent to (m, the fixed denominator). */
  readonly cohort: number;
  /**
   * The chance that a connected site is in the round: cohort / connected sites. The engine samples
   * a fixed-size cohort uniformly without replacement from the sites connected at that moment; the
   * accountant's bound is for Poisson sampling with this rate. See dp-ledger's class comment.
   */
  readonly samplingRate: number;
  readonly clipNorm: number;
  /**
   * Distributed mode: t, the fewest masked inputs the round's sum can have; each site adds
   * 1/t of the noise variance.
   */
  readonly survivorFloor?: number;
  readonly epsilonBefore: number;
  readonly epsilonAfter: number;
  /** The round would take ε past the budget: it must not run. */
  readonly overBudget: boolean;
  /** The stages the coordinator adds to the phase's pipeline for this round. */
  readonly stages: readonly StageConfig[];
  /** TrainTask.privacy for the round's tasks. */
  readonly task: TrainTask["privacy"];
}

/**
 * The coordinator's DP bookkeeping, pure but for the CSPRNG noise on the adaptive clip count:
 * the accountant (RDP of the sampled Gaussian mechanism, composed over committed rounds), the
 * clipping norm, and the stages and task fields of each round. `prepare` decides a round;
 * `settle` gives the state after it, adopted only once the round is committed with it.
 *
 * On sampling: the accountant's subsampling bound (Mironov et al. 2019) is for Poisson sampling,
 * where each site joins each round independently. This engine instead sends each round to a
 * fixed-size cohort drawn uniformly from the sites connected at the time, by a seeded RNG whose
 * seed is in the plan. The rate charged is cohort / connected sites, the inclusion probability of
 * a connected site, so a site that is always connected is charged what it risks. The guarantee
 * is nevertheless a heuristic one whenever the rate is below 1: sampling without replacement has
 * its own (different) RDP bound, and the seeded choice is reproducible by anyone who knows the
 * seed, so a party who knows it gains nothing from the sampling. With every site in every round
 * (the default fraction 1) the rate is 1, no amplification is claimed, and the bound is exact.
 */
export class DpLedger {
  private accountant: RdpAccountant;
  private current: DpLedgerState;

  constructor(
    readonly settings: DpSettings,
    saved?: DpLedgerState,
  ) {
    this.accountant = saved ? RdpAccountant.fromJSON(saved.accountant) : new RdpAccountant();
    this.current = saved ?? {
      accountant: this.accountant.toJSON(),
      clipNorm: settings.clip.kind === "fixed" ? settings.clip.norm : settings.clip.initialNorm,
      rounds: 0,
      epsilon: 0,
    };
  }

  get state(): DpLedgerState {
    return this.current;
  }

  prepare(cohort: number, connected: number): RoundDp {
    if (!(Number.isInteger(cohort) && cohort >= 1 && connected >= cohort))
      throw new FlError(ErrorCode.Internal, `a round sent to ${cohort} of ${connected} connected sites`);
    const { settings } = this;
    const samplingRate = cohort / connected;
    const { clipNorm, epsilon: epsilonBefore } = this.current;
    const epsilonAfter = this.accountant.epsilonAfter(
      samplingRate,
      settings.noiseMultiplier,
      1,
      settings.delta,
    );
    const survivorFloor =
      settings.mode === "distributed" ? guaranteedSurvivors(cohort, settings.survivors) : undefined;
    const stages: StageConfig[] =
      survivorFloor === undefined
        ? [
            { stage: "dp-clip", clipNorm, adaptive: settings.clip.kind === "adaptive" },
            { stage: "dp-gaussian", noiseMultiplier: settings.updateNoiseMultiplier, clipNorm, cohort },
          ]
        : [
            {
              stage: "dp-site-noise",
              clipNorm,
              noiseMultiplier: settings.updateNoiseMultiplier,
              survivors: survivorFloor,
              cohort,
            },
          ];
    return {
      cohort,
      samplingRate,
      clipNorm,
      ...(survivorFloor !== undefined && { survivorFloor }),
      epsilonBefore,
      epsilonAfter,
      overBudget: settings.budget !== undefined && epsilonAfter > settings.budget,
      stages,
      task: {
        cohort,
        secureAggregation: false,
        dp: {
          mode: settings.mode,
          noiseMultiplier: settings.noiseMultiplier,
          clipNorm,
          delta: settings.delta,
          epsilonBefore,
          epsilonAfter,
          ...(settings.budget !== undefined && { epsilonBudget: settings.budget }),
        },
      },
    };
  }

  /**
   * The ledger after a round, and its metrics. `unclippedFraction` is the round's mean of the
   * sites' `dp.unclipped` bits (every weight 1), over `accepted` updates.
   */
  settle(
    round: RoundDp,
    outcome: { accepted: number; unclippedFraction: number | undefined },
    random?: RandomBytes,
  ): { state: DpLedgerState; metrics: Record<string, number> } {
    const { settings } = this;
    const next = RdpAccountant.fromJSON(this.accountant.toJSON());
    next.step(round.samplingRate, settings.noiseMultiplier);
    const epsilon = next.epsilon(settings.delta).epsilon;
    let clipNorm = round.clipNorm;
    const metrics: Record<string, number> = {
      "privacy.epsilon": epsilon,
      "privacy.epsilonRound": epsilon - round.epsilonBefore,
      "privacy.delta": settings.delta,
      "privacy.noiseMultiplier": settings.noiseMultiplier,
      "privacy.updateNoiseMultiplier": settings.updateNoiseMultiplier,
      "privacy.clipNorm": round.clipNorm,
      "privacy.samplingRate": round.samplingRate,
      "privacy.noiseStd": centralNoiseStd({
        noiseMultiplier: settings.updateNoiseMultiplier,
        clipNorm: round.clipNorm,
        cohort: round.cohort,
      }),
    };
    if (settings.budget !== undefined) metrics["privacy.budget"] = settings.budget;
    if (round.survivorFloor !== undefined) {
      // The sum of s ≥ t noised updates carries σ·√(s/t); the accountant is charged σ, never more.
      const effective = effectiveNoiseMultiplier(
        settings.updateNoiseMultiplier,
        outcome.accepted,
        round.survivorFloor,
      );
      metrics["privacy.survivorFloor"] = round.survivorFloor;
      metrics["privacy.effectiveNoiseMultiplier"] = effective;
      metrics["privacy.noiseStd"] = (effective * round.clipNorm) / round.cohort;
    }
    if (settings.clip.kind === "adaptive") {
      const { countNoise, targetQuantile, learningRate } = settings.clip;
      if (outcome.unclippedFraction === undefined)
        throw new FlError(
          ErrorCode.Internal,
          "adaptive clipping: the round's updates carry no dp.unclipped bits",
        );
      const unclipped = Math.round(outcome.unclippedFraction * outcome.accepted);
      const noise = new Float64Array(1);
      gaussianNoise(noise, countNoise, random);
      // Andrew et al. 2021, Alg. 1: the noised fraction over the cohort, then a geometric step.
      const fraction = (unclipped + (noise[0] as number)) / round.cohort;
      clipNorm = round.clipNorm * Math.exp(-learningRate * (fraction - targetQuantile));
      metrics["privacy.unclippedFraction"] = fraction;
      metrics["privacy.nextClipNorm"] = clipNorm;
    }
    return {
      state: { accountant: next.toJSON(), clipNorm, rounds: this.current.rounds + 1, epsilon },
      metrics,
    };
  }

  /** Takes the state `settle` returned, once the round it belongs to is committed. */
  adopt(state: DpLedgerState): void {
    this.accountant = RdpAccountant.fromJSON(state.accountant);
    this.current = state;
  }
}
