import { ErrorCode, FlError } from "../errors.js";

/**
 * Rényi-DP accountant for the subsampled Gaussian mechanism (DP-FedAvg: each round samples
 * clients with probability q and adds Gaussian noise of `noiseMultiplier` times the clipping
 * norm to their summed, clipped updates).
 *
 * Written here from the papers rather than taken from a library because no maintained
 * JavaScript accountant exists (Opacus and TF Privacy are Python):
 * - RDP of the sampled Gaussian mechanism at integer orders α (Mironov, Talwar & Zhang 2019,
 *   "Rényi Differential Privacy of the Sampled Gaussian Mechanism", Sec. 3.3): ε(α) =
 *   log(A_α) / (α − 1) with A_α = Σ_k C(α, k) (1 − q)^(α−k) q^k exp((k² − k) / (2σ²)), which is
 *   tight for Poisson sampling;
 * - composition adds RDP order by order (Mironov 2017, Prop. 1);
 * - conversion to (ε, δ) with the improved bound of Canonne, Kamath & Steinke 2020 (Prop. 12;
 *   also Balle et al. 2020): ε = ε(α) + log((α − 1)/α) − (log δ + log α)/(α − 1), minimised
 *   over the orders.
 * Only integer orders are used: the bound is then slightly looser than with fractional orders,
 * never optimistic.
 */

/** Orders tracked by default: dense where small budgets are decided, sparse out to 256. */
export const DEFAULT_RDP_ORDERS: readonly number[] = [
  ...Array.from({ length: 63 }, (_, i) => i + 2),
  72,
  80,
  96,
  112,
  128,
  160,
  192,
  224,
  256,
];

/** RDP ε(α) of one step of the Poisson-subsampled Gaussian mechanism, for each order. */
export function sampledGaussianRdp(
  samplingRate: number,
  noiseMultiplier: number,
  orders: readonly number[] = DEFAULT_RDP_ORDERS,
): number[] {
  checkRate(samplingRate);
  if (!(noiseMultiplier >= 0) || !Number.isFinite(noiseMultiplier))
    throw invalid(`noise multiplier ${noiseMultiplier} must be a finite number ≥ 0`);
  checkOrders(orders);
  return orders.map((alpha) => {
    if (samplingRate === 0) return 0;
    if (noiseMultiplier === 0) return Number.POSITIVE_INFINITY;
    if (samplingRate === 1) return alpha / (2 * noiseMultiplier ** 2);
    return logA(alpha, samplingRate, noiseMultiplier) / (alpha - 1);
  });
}

/** log A_α, summed in log space: the terms overflow a double long before α = 256. */
function logA(alpha: number, q: number, sigma: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const terms: number[] = [];
  let logBinomial = 0; // log C(α, 0)
  for (let k = 0; k <= alpha; k++) {
    if (k > 0) logBinomial += Math.log((alpha - k + 1) / k);
    terms.push(logBinomial + (alpha - k) * log1mQ + k * logQ + (k * k - k) / (2 * sigma * sigma));
  }
  const max = Math.max(...terms);
  return max + Math.log(terms.reduce((sum, t) => sum + Math.exp(t - max), 0));
}

/** The smallest ε over the orders for which the composed mechanism is (ε, δ)-DP, and its order. */
export function rdpToEpsilon(
  rdp: readonly number[],
  orders: readonly number[],
  delta: number,
): { epsilon: number; order: number } {
  if (rdp.length !== orders.length) throw invalid(`${rdp.length} RDP values for ${orders.length} orders`);
  if (!(delta > 0 && delta < 1)) throw invalid(`δ ${delta} must be in (0, 1)`);
  let best = { epsilon: Number.POSITIVE_INFINITY, order: orders[0] ?? 2 };
  orders.forEach((alpha, i) => {
    const value = rdp[i] as number;
    const epsilon = value + Math.log1p(-1 / alpha) - (Math.log(delta) + Math.log(alpha)) / (alpha - 1);
    if (epsilon < best.epsilon) best = { epsilon, order: alpha };
  });
  return { epsilon: Math.max(0, best.epsilon), order: best.order };
}

/** The RDP a run has spent so far; serialisable, so a resumed coordinator goes on from it. */
export class RdpAccountant {
  private readonly spent: number[];

  constructor(
    readonly orders: readonly number[] = DEFAULT_RDP_ORDERS,
    spent?: readonly number[],
  ) {
    checkOrders(orders);
    if (spent !== undefined && spent.length !== orders.length)
      throw invalid(`${spent.length} spent RDP values for ${orders.length} orders`);
    this.spent = spent ? [...spent] : orders.map(() => 0);
  }

  /** Composes `steps` rounds of the sampled Gaussian mechanism. */
  step(samplingRate: number, noiseMultiplier: number, steps = 1): void {
    if (!Number.isSafeInteger(steps) || steps < 0) throw invalid(`steps ${steps} must be an integer ≥ 0`);
    const perStep = sampledGaussianRdp(samplingRate, noiseMultiplier, this.orders);
    perStep.forEach((value, i) => {
      this.spent[i] = (this.spent[i] as number) + steps * value;
    });
  }

  epsilon(delta: number): { epsilon: number; order: number } {
    return rdpToEpsilon(this.spent, this.orders, delta);
  }

  /** What another `steps` rounds would bring ε to, without spending them. */
  epsilonAfter(samplingRate: number, noiseMultiplier: number, steps: number, delta: number): number {
    const next = new RdpAccountant(this.orders, this.spent);
    next.step(samplingRate, noiseMultiplier, steps);
    return next.epsilon(delta).epsilon;
  }

  toJSON(): { orders: number[]; rdp: number[] } {
    return { orders: [...this.orders], rdp: [...this.spent] };
  }

  static fromJSON(value: { orders: readonly number[]; rdp: readonly number[] }): RdpAccountant {
    return new RdpAccountant(value.orders, value.rdp);
  }
}

/**
 * The smallest noise multiplier (to 0.1 %) that keeps `steps` rounds at sampling rate q within
 * (ε, δ), or undefined when none up to 1000 does: an ε the accountant can never reach for that
 * δ and number of rounds, which a config should be refused for.
 */
export function noiseMultiplierFor(
  targetEpsilon: number,
  delta: number,
  samplingRate: number,
  steps: number,
  orders: readonly number[] = DEFAULT_RDP_ORDERS,
): number | undefined {
  if (!(targetEpsilon > 0)) throw invalid(`target ε ${targetEpsilon} must be > 0`);
  const epsilonAt = (z: number) => {
    const accountant = new RdpAccountant(orders);
    accountant.step(samplingRate, z, steps);
    return accountant.epsilon(delta).epsilon;
  };
  let high = 1000;
  if (epsilonAt(high) > targetEpsilon) return undefined;
  let low = 0;
  while (high - low > 1e-3 * high) {
    const mid = (low + high) / 2;
    if (epsilonAt(mid) > targetEpsilon) low = mid;
    else high = mid;
  }
  return high;
}

function checkRate(q: number): void {
  if (!(q >= 0 && q <= 1)) throw invalid(`sampling rate ${q} must be in [0, 1]`);
}

function checkOrders(orders: readonly number[]): void {
  if (orders.length === 0 || !orders.every((a) => Number.isInteger(a) && a >= 2))
    throw invalid("RDP orders must be integers ≥ 2 (this accountant uses integer orders only)");
}

function invalid(message: string): FlError {
  return new FlError(ErrorCode.InvalidArgument, message);
}
