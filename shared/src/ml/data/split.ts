import { ErrorCode, FlError } from "../../errors.js";
import { Rng } from "../../random.js";
import { type CatalogItem, groupItems, groupLabel } from "./catalog.js";

/** Fractions of a site's images held out; the rest is training data. */
export interface SplitFractions {
  readonly val: number;
  readonly test: number;
}

export type SplitName = "train" | "val" | "test";
export const SPLIT_NAMES: readonly SplitName[] = ["train", "val", "test"];

/** Indices into the given item list, per split. */
export type SplitIndices = Readonly<Record<SplitName, readonly number[]>>;

/**
 * Splits items into train/val/test, stratified by class and grouped so that every patient and
 * every study lies in exactly one split (groups are the connected components of patient and
 * study ids). Each class's groups are shuffled and dealt, largest first, to the split furthest
 * below its target share. Deterministic in (items, fractions, seed).
 */
export function splitItems(
  items: readonly CatalogItem[],
  fractions: SplitFractions,
  seed: number,
): SplitIndices {
  const { val, test } = fractions;
  if (!(val >= 0 && test >= 0 && val + test < 1)) {
    throw new FlError(
      ErrorCode.InvalidConfig,
      `split fractions must be >= 0 and sum below 1 (val=${val}, test=${test})`,
    );
  }
  const shares: Record<SplitName, number> = { train: 1 - val - test, val, test };
  const out: Record<SplitName, number[]> = { train: [], val: [], test: [] };
  const rng = Rng.derive(seed, "split");
  const groups = groupItems(items);
  const byLabel = new Map<number, number[][]>();
  for (const group of groups) {
    const label = groupLabel(items, group);
    const list = byLabel.get(label);
    if (list) list.push(group);
    else byLabel.set(label, [group]);
  }
  for (const label of [...byLabel.keys()].sort((a, b) => a - b)) {
    const list = rng.shuffle(byLabel.get(label) as number[][]);
    // Stable sort by size keeps the shuffled order among equals; big groups first pack better.
    list.sort((a, b) => b.length - a.length);
    const total = list.reduce((sum, g) => sum + g.length, 0);
    const assigned: Record<SplitName, number> = { train: 0, val: 0, test: 0 };
    for (const group of list) {
      let best: SplitName = "train";
      let bestDeficit = Number.NEGATIVE_INFINITY;
      for (const name of SPLIT_NAMES) {
        if (shares[name] === 0) continue;
        const deficit = shares[name] * total - assigned[name];
        if (deficit > bestDeficit + 1e-9) {
          best = name;
          bestDeficit = deficit;
        }
      }
      out[best].push(...group);
      assigned[best] += group.length;
    }
  }
  for (const name of SPLIT_NAMES) out[name].sort((a, b) => a - b);
  return out;
}
