import type { Anatomy } from "./anatomy.js";

/** 0 = the image-left lung (patient's right), 1 = the image-right lung (patient's left). */
export type Side = 0 | 1;

const APEX_HEIGHT = 0.2;

export function sideSign(side: Side): number {
  return side === 0 ? -1 : 1;
}

/** Medial lung edge (distance from the midline) at height v. */
export function medialEdge(an: Anatomy, v: number): number {
  const t = Math.min(1, Math.max(0, (v - an.lungTop) / (an.diaphragmTop[0] - an.lungTop)));
  return an.mediastinumTop + (an.mediastinumBase - an.mediastinumTop) * t;
}

/** Lateral lung edge (distance from the midline) at height v: lungs widen toward the base. */
export function lateralEdge(an: Anatomy, side: Side, v: number): number {
  const t = Math.min(1, Math.max(0, (v - an.lungTop) / (an.diaphragmTop[side] - an.lungTop)));
  return an.lungLateral[side] * (0.9 + 0.1 * Math.sqrt(t));
}

/** Upper lung boundary at lateral distance a: a rounded apex. */
function topEdge(an: Anatomy, side: Side, a: number): number {
  const med = an.mediastinumTop;
  const lat = an.lungLateral[side] * 0.92;
  const centre = med + 0.45 * (lat - med);
  const radius = a < centre ? centre - med : lat - centre;
  const x = Math.min(1, Math.abs(a - centre) / radius);
  return an.lungTop + APEX_HEIGHT * (1 - Math.sqrt(1 - x * x));
}

/** Lower boundary (the diaphragm dome, deepest at the costophrenic angle) at lateral distance a. */
export function bottomEdge(an: Anatomy, side: Side, a: number): number {
  const med = an.mediastinumBase;
  const lat = an.lungLateral[side];
  const peak = med + 0.4 * (lat - med);
  const top = an.diaphragmTop[side];
  if (a >= peak) {
    const x = (a - peak) / (lat - peak);
    return top + an.domeDepth * x * x;
  }
  const x = (peak - a) / (peak - med);
  return top + 0.3 * an.domeDepth * x * x;
}

/**
 * Signed distance-like margin of (a, v) from the lung outline (positive inside), in normalised
 * units; used for soft edges and for keeping lesions inside the lung.
 */
export function lungMargin(an: Anatomy, side: Side, a: number, v: number): number {
  const m1 = a - medialEdge(an, v);
  const m2 = lateralEdge(an, side, v) - a;
  const m3 = v - topEdge(an, side, a);
  const m4 = bottomEdge(an, side, a) - v;
  return Math.min(m1, m2, m3, m4);
}

/**
 * A point in a lung from fractions: `across` 0 = medial .. 1 = lateral, `down` 0 = apex ..
 * 1 = dome of the diaphragm. Returns image coordinates (u, v).
 */
export function lungPoint(an: Anatomy, side: Side, across: number, down: number): { u: number; v: number } {
  const v = an.lungTop + 0.04 + down * (an.diaphragmTop[side] - an.lungTop - 0.02);
  const med = medialEdge(an, v);
  const lat = lateralEdge(an, side, v);
  const a = med + across * (lat - med);
  return { u: an.midline + sideSign(side) * a, v };
}
