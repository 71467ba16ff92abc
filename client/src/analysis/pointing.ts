/** Saliency against opacity masks: mass inside the mask and the pointing game (pure). */

export interface PointingScore {
  /** Share of the map's (non-negative) mass on mask pixels. */
  readonly massInside: number;
  /** Share of the image's pixels in the mask: what a uniform map scores. */
  readonly chance: number;
  /** Whether the map's largest value lies on a mask pixel. */
  readonly hit: boolean;
}

/**
 * Scores one map against one mask (same length). Undefined, so `undefined`, when the mask is
 * empty (nothing to point at) or the map has no mass (it points nowhere).
 */
export function pointingScore(map: ArrayLike<number>, mask: ArrayLike<number>): PointingScore | undefined {
  if (map.length !== mask.length) throw new RangeError(`map of ${map.length} pixels, mask of ${mask.length}`);
  let total = 0;
  let inside = 0;
  let area = 0;
  let best = 0;
  for (let i = 0; i < map.length; i++) {
    const value = Math.max(0, map[i] as number);
    const on = (mask[i] as number) > 0;
    total += value;
    if (on) {
      inside += value;
      area++;
    }
    if (value > Math.max(0, map[best] as number)) best = i;
  }
  if (area === 0 || total === 0) return undefined;
  return { massInside: inside / total, chance: area / map.length, hit: (mask[best] as number) > 0 };
}

/** Means of the scores of one class's images. */
export function meanPointing(scores: readonly PointingScore[]): {
  images: number;
  massInside: number;
  chance: number;
  hitRate: number;
} {
  const n = scores.length;
  const mean = (pick: (s: PointingScore) => number): number =>
    n === 0 ? 0 : scores.reduce((sum, s) => sum + pick(s), 0) / n;
  return {
    images: n,
    massInside: mean((s) => s.massInside),
    chance: mean((s) => s.chance),
    hitRate: mean((s) => (s.hit ? 1 : 0)),
  };
}
