import { runUpdateStages } from "../../shared/src/fl/pipeline.js";
import { createClipStage } from "../../shared/src/fl/stages/clip-l2.js";
import { addGaussianNoise } from "../../shared/src/privacy/gaussian-noise.js";
import {
  decodeSum,
  encodeFixedPoint,
  type FixedPointCodec,
  maxFracBits,
} from "../../shared/src/secagg/index.js";
import { createManifest } from "../../shared/src/weights/index.js";

/**
 * A privacy mechanism as the bench applies it to a round's updates.
 * - `secureAggregation`: the coordinator receives only the sum of the cohort's updates, here
 *   computed as shared/src/secagg computes it: each update encoded by its fixed-point codec and the
 *   residues added in Z_2^32 (the pairwise and self masks, which cancel exactly in that sum, are
 *   left out: they change what the wire carries, not what the coordinator ends up with).
 * - `dp`: DP-FedAvg (McMahan et al. 2018): each site's update clipped to L2 norm C by the
 *   pipeline's clip-l2 stage, Gaussian noise of total standard deviation z·C on the sum from the
 *   CSPRNG. `placement` says who adds it: `central`, the coordinator after summing (it sees the
 *   un-noised updates); `site`, each hospital before sending — N(0, (zC)²) each without secure
 *   aggregation (local noise, so that each update alone is protected), N(0, (zC)²/n) each under it
 *   (distributed DP: only the sum is seen, and it carries the full noise).
 */
export interface Mechanism {
  readonly secureAggregation: boolean;
  readonly dp?: DpSettings;
}

export interface DpSettings {
  readonly placement: "central" | "site";
  readonly clipNorm: number;
  readonly noiseMultiplier: number;
}

/** The standard deviation each site adds (0 without site noise). */
export function siteNoiseStd(mechanism: Mechanism, cohort: number): number {
  const dp = mechanism.dp;
  if (dp === undefined || dp.placement !== "site") return 0;
  const total = dp.noiseMultiplier * dp.clipNorm;
  return mechanism.secureAggregation ? total / Math.sqrt(cohort) : total;
}

/** What one site sends: its delta after the client stages (clip) and its share of the noise. */
export function clientUpdate(delta: Float32Array, mechanism: Mechanism, cohort: number): Float32Array {
  if (mechanism.dp === undefined) return delta;
  const manifest = createManifest([{ name: "update", shape: [delta.length], sharing: "shared" }]);
  const clipped = runUpdateStages(
    [createClipStage({ maxNorm: mechanism.dp.clipNorm })],
    { delta: { manifest, values: delta }, numExamples: 1, metrics: {} },
    { siteId: "bench", round: 1, phase: "classification" },
  ).delta.values;
  const values = Float32Array.from(clipped);
  const std = siteNoiseStd(mechanism, cohort);
  if (std > 0) addGaussianNoise(values, std);
  return values;
}

/**
 * The codec the cohort agrees on: an L∞ bound that clipped updates plus 8 standard deviations of
 * site noise stay within (16 without DP, far above any one round's step here), and the most
 * fractional bits the cohort's bit budget allows.
 */
export function secAggCodec(mechanism: Mechanism, cohort: number): FixedPointCodec {
  const dp = mechanism.dp;
  const clip = dp === undefined ? 16 : dp.clipNorm + 8 * siteNoiseStd(mechanism, cohort);
  return { clip, fracBits: maxFracBits(clip, cohort) };
}

/** The sum of the sent updates as the coordinator obtains it. */
export function aggregateSum(sent: readonly Float32Array[], mechanism: Mechanism): Float64Array {
  const length = sent[0]?.length ?? 0;
  if (!mechanism.secureAggregation) {
    const sum = new Float64Array(length);
    for (const update of sent)
      for (let i = 0; i < length; i++) sum[i] = (sum[i] as number) + (update[i] as number);
    return sum;
  }
  const codec = secAggCodec(mechanism, sent.length);
  const ring = new Uint32Array(length);
  for (const update of sent) {
    const encoded = encodeFixedPoint(update, codec);
    for (let i = 0; i < length; i++) ring[i] = ((ring[i] as number) + (encoded[i] as number)) >>> 0;
  }
  return decodeSum(ring, codec);
}

/**
 * What the coordinator can look at when it attacks the update of site `target`: that site's sent
 * update alone, or under secure aggregation only the cohort's sum (`count` updates).
 */
export function coordinatorView(
  deltas: readonly Float32Array[],
  target: number,
  mechanism: Mechanism,
): { update: Float32Array; count: number } {
  const sent = deltas.map((d) => clientUpdate(d, mechanism, deltas.length));
  if (!mechanism.secureAggregation) return { update: sent[target] as Float32Array, count: 1 };
  return { update: Float32Array.from(aggregateSum(sent, mechanism)), count: sent.length };
}

/** A round's outcome: the mean update the global model steps by (central noise included). */
export function protectUpdates(deltas: readonly Float32Array[], mechanism: Mechanism): Float32Array {
  const sent = deltas.map((d) => clientUpdate(d, mechanism, deltas.length));
  const sum = Float32Array.from(aggregateSum(sent, mechanism));
  const dp = mechanism.dp;
  if (dp !== undefined && dp.placement === "central") addGaussianNoise(sum, dp.noiseMultiplier * dp.clipNorm);
  return sum.map((v) => v / deltas.length);
}
