import { createRng, mixSeed, shuffled } from "../../shared/src/random.js";

export interface SamplingOptions {
  readonly fraction: number;
  readonly minClients: number;
  readonly seed: number;
  readonly round: number;
  readonly attempt: number;
}

/**
 * Picks the sites of a round: max(minClients, ceil(fraction x available)), capped by what is
 * available, reproducible from (seed, round, attempt). Sorted input makes it independent of
 * connection order. Returns [] when fewer than minClients are available.
 */
export function sampleSites(available: readonly string[], options: SamplingOptions): string[] {
  if (available.length < options.minClients) return [];
  const wanted = Math.min(
    available.length,
    Math.max(options.minClients, Math.ceil(options.fraction * available.length)),
  );
  const rng = createRng(mixSeed(options.seed, options.round, options.attempt));
  return shuffled([...available].sort(), rng)
    .slice(0, wanted)
    .sort();
}
