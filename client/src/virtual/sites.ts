import { ErrorCode, FlError } from "../../../shared/src/errors.js";

/** One simulated hospital: its id, and the synthetic data it holds. */
export interface VirtualSite {
  readonly siteId: string;
  /** The preset hospital whose profile (scanner, population) this one shares. */
  readonly baseSite: string;
  /** A synthetic data config whose `baseSite` is this hospital's data. */
  readonly data: Readonly<Record<string, unknown>>;
}

/** `vh001` … `vh500`: zero-padded so that sorted ids are in number order. */
export function virtualSiteIds(count: number): string[] {
  if (!Number.isInteger(count) || count < 1)
    throw new FlError(ErrorCode.InvalidConfig, `virtual sites must be a positive integer, not ${count}`);
  const width = Math.max(3, String(count).length);
  return Array.from({ length: count }, (_, i) => `vh${String(i + 1).padStart(width, "0")}`);
}

/**
 * N hospitals from a synthetic preset of P: hospital i takes the profile of preset site i mod P
 * and the seed `seed + floor(i / P)`, so hospitals of one profile draw different patients and
 * the first P are exactly the preset's hospitals. Only the data config is made here: images are
 * rendered by whichever trainer worker serves the site.
 */
export function virtualSites(
  count: number,
  data: Readonly<Record<string, unknown>>,
  presetSites: readonly string[],
): VirtualSite[] {
  if (data.kind !== "synthetic")
    throw new FlError(
      ErrorCode.InvalidConfig,
      `virtual sites are made from a synthetic preset, but the data config is of kind "${String(data.kind)}": drop --data (or use the process-per-hospital mode without --virtual-sites)`,
    );
  if (presetSites.length === 0)
    throw new FlError(ErrorCode.InvalidConfig, "the synthetic preset defines no hospitals");
  const seed = typeof data.seed === "number" ? data.seed : 0;
  return virtualSiteIds(count).map((siteId, i) => ({
    siteId,
    baseSite: presetSites[i % presetSites.length] as string,
    data: { ...data, seed: seed + Math.floor(i / presetSites.length) },
  }));
}
