import { Rng } from "../../shared/src/random.js";

export interface SamplingOptions {
  readonly fraction: number;
  readonly minSites: number;
  readonly seed: number;
  readonly round: number;
  readonly attempt: number;
}

/**
 * Picks the sites of a round: max(minSites, ceil(fraction x available)), capped by what is
 * available, reproducible from (seed, round, attempt). Sorted input makes it independent of
 * connection order. Returns [] when fewer than minSites are available.
 */
export function sampleSites(available: readonly string[], options: SamplingOptions): string[] {
  if (available.length < options.minSites) return [];
  const wanted = Math.min(
    available.length,
    Math.max(options.minSites, Math.ceil(options.fraction * available.length)),
  );
  const rng = Rng.derive(options.seed, options.round, options.attempt);
  return rng
    .shuffle([...available].sort())
    .slice(0, wanted)
    .sort();
}
