import type { Rng } from "../../../random.js";
import type { Anatomy } from "./anatomy.js";
import { bottomEdge, lateralEdge, lungPoint, medialEdge, type Side, sideSign } from "./lung-geometry.js";
import { addValueNoise, smoothstep } from "./raster.js";

/** Class indices in CLASS_NAMES order. */
export const NEGATIVE = 0;
export const TYPICAL = 1;
export const INDETERMINATE = 2;
export const ATYPICAL = 3;

/** The radiological pattern one lesion draws. */
export type LesionKind = "ground-glass" | "consolidation" | "nodule" | "effusion";

/**
 * One opacity: a soft, possibly rotated ellipse clipped by an optional half-plane (a fissure),
 * or, for effusions, everything in one lung below a meniscus.
 */
export interface Lesion {
  readonly kind: LesionKind;
  readonly side: Side;
  readonly u: number;
  readonly v: number;
  readonly rx: number;
  readonly ry: number;
  readonly angle: number;
  /** Peak added attenuation. */
  readonly density: number;
  /** Edge softness as a fraction of the radius (0.05 sharp .. 0.6 fuzzy). */
  readonly softness: number;
  /** How patchy the interior is (0 homogeneous .. 1 very mottled). */
  readonly mottling: number;
  /** Keep only the side of a line where (u - lineU) * nu + (v - lineV) * nv > 0. */
  readonly clip?: {
    readonly lineU: number;
    readonly lineV: number;
    readonly nu: number;
    readonly nv: number;
  };
}

/** What a study shows: its lesions and how severe the disease is (0..1). */
export interface Findings {
  readonly lesions: readonly Lesion[];
  readonly severity: number;
  /** Which variant of the class pattern was drawn, for inspection and tests. */
  readonly pattern: string;
}

/** Draws the opacity pattern of one class. Negative studies have no lesions. */
export function sampleFindings(label: number, an: Anatomy, rng: Rng, severityScale = 1): Findings {
  if (label === NEGATIVE) return { lesions: [], severity: 0, pattern: "clear" };
  // A share of positives is mild (subtle on purpose: real reads disagree on those).
  const severity = Math.min(1, (0.25 + 0.75 * rng.next() ** 0.8) * severityScale);
  if (label === TYPICAL) return typical(an, rng, severity);
  if (label === INDETERMINATE) return indeterminate(an, rng, severity);
  if (label === ATYPICAL) return atypical(an, rng, severity);
  throw new RangeError(`unknown class index ${label}`);
}

function groundGlass(
  an: Anatomy,
  rng: Rng,
  side: Side,
  across: [number, number],
  down: [number, number],
  severity: number,
  densityRange: [number, number] = [0.15, 0.35],
): Lesion {
  const p = lungPoint(an, side, rng.uniform(...across), rng.uniform(...down));
  // Real opacity boxes cover a large part of a lung; lesions are patches, not spots.
  const size = 0.05 + 0.07 * severity * rng.uniform(0.6, 1.3);
  return {
    kind: "ground-glass",
    side,
    u: p.u,
    v: p.v,
    rx: size * rng.uniform(0.7, 1.1),
    ry: size * rng.uniform(0.9, 1.5),
    angle: rng.normal(0, 0.4),
    density: rng.uniform(...densityRange) * (0.55 + 0.6 * severity),
    softness: rng.uniform(0.35, 0.6),
    mottling: rng.uniform(0.4, 0.8),
  };
}

function typical(an: Anatomy, rng: Rng, severity: number): Findings {
  const lesions: Lesion[] = [];
  // Bilateral, peripheral, lower-zone: the multifocal COVID-19 pattern.
  const dominant: Side = rng.bool(0.5) ? 0 : 1;
  for (const side of [0, 1] as const) {
    const count =
      1 + Math.floor(severity * 2.5 * rng.uniform(0.6, 1.2)) - (side === dominant ? 0 : rng.int(2));
    for (let k = 0; k < Math.max(1, count); k++) {
      lesions.push(groundGlass(an, rng, side, [0.62, 0.95], [0.5, 0.95], severity));
    }
  }
  if (severity > 0.7 && rng.bool(0.5)) {
    const side: Side = rng.bool(0.5) ? 0 : 1;
    const p = lungPoint(an, side, rng.uniform(0.65, 0.9), rng.uniform(0.65, 0.95));
    lesions.push({
      kind: "consolidation",
      side,
      u: p.u,
      v: p.v,
      rx: rng.uniform(0.035, 0.06),
      ry: rng.uniform(0.04, 0.07),
      angle: rng.normal(0, 0.3),
      density: rng.uniform(0.25, 0.45),
      softness: 0.3,
      mottling: 0.3,
    });
  }
  return { lesions, severity, pattern: "bilateral-peripheral-lower" };
}

function indeterminate(an: Anatomy, rng: Rng, severity: number): Findings {
  const lesions: Lesion[] = [];
  const r = rng.next();
  const side: Side = rng.bool(0.5) ? 0 : 1;
  if (r < 0.45) {
    // Unilateral: looks like half of a typical picture, in any zone.
    const count = 1 + Math.floor(severity * 2.5);
    for (let k = 0; k < count; k++)
      lesions.push(groundGlass(an, rng, side, [0.4, 0.95], [0.25, 0.95], severity));
    return { lesions, severity, pattern: "unilateral" };
  }
  if (r < 0.8) {
    // Central, perihilar haze on one or both sides.
    const sides: Side[] = rng.bool(0.5) ? [0, 1] : [side];
    for (const s of sides) {
      lesions.push(groundGlass(an, rng, s, [0.08, 0.35], [0.35, 0.65], severity, [0.12, 0.3]));
    }
    return { lesions, severity, pattern: "central" };
  }
  // Diffuse faint opacity in the upper and middle zones: not the typical distribution.
  for (const s of [0, 1] as const) {
    lesions.push(groundGlass(an, rng, s, [0.3, 0.85], [0.1, 0.5], severity, [0.1, 0.22]));
  }
  return { lesions, severity, pattern: "upper-diffuse" };
}

function atypical(an: Anatomy, rng: Rng, severity: number): Findings {
  const lesions: Lesion[] = [];
  const r = rng.next();
  const side: Side = rng.bool(0.5) ? 0 : 1;
  const s = sideSign(side);
  let pattern: string;
  if (r < 0.35) {
    // Lobar consolidation: dense and homogeneous, with a straight fissure border.
    const upper = rng.bool(0.45);
    const fissureV = an.lungTop + (upper ? 0.26 : 0.3) * (an.diaphragmTop[side] - an.lungTop) + 0.08;
    const centre = lungPoint(an, side, 0.55, upper ? 0.18 : 0.72);
    const tilt = rng.normal(0, 0.12);
    lesions.push({
      kind: "consolidation",
      side,
      u: centre.u,
      v: centre.v,
      rx: 0.16,
      ry: upper ? 0.16 : 0.2,
      angle: 0,
      density: rng.uniform(0.4, 0.75) * (0.7 + 0.4 * severity),
      softness: 0.25,
      mottling: 0.15,
      clip: upper
        ? { lineU: an.midline + s * 0.15, lineV: fissureV, nu: -Math.sin(tilt), nv: -Math.cos(tilt) }
        : { lineU: an.midline + s * 0.15, lineV: fissureV + 0.05, nu: s * 0.35, nv: 0.94 },
    });
    pattern = upper ? "lobar-upper" : "lobar-lower";
  } else if (r < 0.6) {
    // Nodules: several small, dense, well-defined round opacities.
    const count = 2 + rng.int(4);
    for (let k = 0; k < count; k++) {
      const nodSide: Side = rng.bool(0.7) ? side : ((1 - side) as Side);
      const p = lungPoint(an, nodSide, rng.uniform(0.2, 0.9), rng.uniform(0.1, 0.9));
      const radius = rng.uniform(0.012, 0.028);
      lesions.push({
        kind: "nodule",
        side: nodSide,
        u: p.u,
        v: p.v,
        rx: radius,
        ry: radius * rng.uniform(0.85, 1.15),
        angle: 0,
        density: rng.uniform(0.3, 0.55),
        softness: 0.12,
        mottling: 0,
      });
    }
    pattern = "nodules";
  } else if (r < 0.85) {
    // Pleural effusion: homogeneous density at the base, meniscus rising laterally.
    const sides: Side[] = rng.bool(0.75) ? [side] : [0, 1];
    for (const es of sides) {
      const height = 0.05 + 0.12 * severity * rng.uniform(0.7, 1.2);
      lesions.push({
        kind: "effusion",
        side: es,
        u: an.midline + sideSign(es) * 0.2,
        v: an.diaphragmTop[es] - height,
        rx: 0,
        ry: height,
        angle: 0,
        density: rng.uniform(0.45, 0.75),
        softness: 0.2,
        mottling: 0,
      });
    }
    pattern = "effusion";
  } else {
    // Focal consolidation: one dense patch anywhere.
    const p = lungPoint(an, side, rng.uniform(0.2, 0.85), rng.uniform(0.15, 0.85));
    const radius = rng.uniform(0.035, 0.06);
    lesions.push({
      kind: "consolidation",
      side,
      u: p.u,
      v: p.v,
      rx: radius,
      ry: radius * rng.uniform(0.8, 1.3),
      angle: rng.normal(0, 0.5),
      density: rng.uniform(0.35, 0.6),
      softness: 0.2,
      mottling: 0.2,
    });
    pattern = "focal";
  }
  // Some atypical studies carry some ground glass as well, blurring the line to the others.
  if (rng.bool(0.3))
    lesions.push(groundGlass(an, rng, (1 - side) as Side, [0.5, 0.9], [0.4, 0.9], severity * 0.6));
  return { lesions, severity, pattern };
}

/** What the lesions add: density to put on the lungs, and a label map (lesion index + 1). */
export interface LesionLayers {
  readonly density: Float32Array;
  /** 0 = no lesion; k = lesion k-1 is visible there (later lesions overwrite earlier ones). */
  readonly labelMap: Uint8Array;
}

/** Fraction of a lesion's own peak above which a pixel belongs to its mask. */
const MASK_THRESHOLD = 0.3;

export function renderLesions(
  lesions: readonly Lesion[],
  an: Anatomy,
  lung: Float32Array,
  size: number,
  rng: Rng,
): LesionLayers {
  const n = size * size;
  const density = new Float32Array(n);
  const labelMap = new Uint8Array(n);
  if (lesions.length === 0) return { density, labelMap };
  const mottle = new Float32Array(n);
  addValueNoise(mottle, size, 18, 1, rng);
  addValueNoise(mottle, size, 40, 0.6, rng);
  lesions.forEach((lesion, index) => {
    if (lesion.kind === "effusion") renderEffusion(lesion, index + 1, an, lung, size, density, labelMap);
    else renderEllipse(lesion, index + 1, lung, mottle, size, density, labelMap, an.midline);
  });
  return { density, labelMap };
}

function renderEllipse(
  lesion: Lesion,
  label: number,
  lung: Float32Array,
  mottle: Float32Array,
  size: number,
  density: Float32Array,
  labelMap: Uint8Array,
  midline: number,
): void {
  const reach = Math.max(lesion.rx, lesion.ry) * (1 + lesion.softness);
  const x0 = Math.max(0, Math.floor((lesion.u - reach) * size));
  const x1 = Math.min(size - 1, Math.ceil((lesion.u + reach) * size));
  const y0 = Math.max(0, Math.floor((lesion.v - reach) * size));
  const y1 = Math.min(size - 1, Math.ceil((lesion.v + reach) * size));
  const cos = Math.cos(lesion.angle);
  const sin = Math.sin(lesion.angle);
  const inner = 1 - lesion.softness;
  const outer = 1 + lesion.softness;
  const clipEdge = 2 / size;
  for (let y = y0; y <= y1; y++) {
    const v = (y + 0.5) / size;
    const dv = v - lesion.v;
    for (let x = x0; x <= x1; x++) {
      const u = (x + 0.5) / size;
      // Opacities stay in their own lung.
      if ((u < midline ? 0 : 1) !== lesion.side) continue;
      const i = y * size + x;
      const inLung = lung[i] as number;
      if (inLung <= 0.05) continue;
      const du = u - lesion.u;
      const p = (du * cos + dv * sin) / lesion.rx;
      const q = (-du * sin + dv * cos) / lesion.ry;
      const r = Math.sqrt(p * p + q * q);
      if (r >= outer) continue;
      let w = 1 - smoothstep(inner, outer, r);
      if (lesion.clip) {
        const c = lesion.clip;
        w *= smoothstep(-clipEdge, clipEdge, (u - c.lineU) * c.nu + (v - c.lineV) * c.nv);
      }
      const texture = 1 + lesion.mottling * 0.6 * (mottle[i] as number);
      const value = lesion.density * w * Math.max(0, texture) * inLung;
      density[i] = (density[i] as number) + value;
      if (w > MASK_THRESHOLD && inLung > 0.5) labelMap[i] = label;
    }
  }
}

function renderEffusion(
  lesion: Lesion,
  label: number,
  an: Anatomy,
  lung: Float32Array,
  size: number,
  density: Float32Array,
  labelMap: Uint8Array,
): void {
  const side = lesion.side;
  const s = sideSign(side);
  const level = lesion.v;
  const soft = 1.5 / size + 0.01;
  const y0 = Math.max(0, Math.floor((level - 0.08) * size));
  for (let y = y0; y < size; y++) {
    const v = (y + 0.5) / size;
    const med = medialEdge(an, v);
    const lat = lateralEdge(an, side, v);
    for (let x = 0; x < size; x++) {
      const u = (x + 0.5) / size;
      const a = s * (u - an.midline);
      if (a < med * 0.8 || a > lat * 1.05) continue;
      const i = y * size + x;
      const inLung = lung[i] as number;
      if (inLung <= 0.05) continue;
      // Meniscus: the fluid climbs the lateral chest wall.
      const frac = Math.min(1, Math.max(0, (a - med) / (lat - med)));
      const meniscus = level - 0.06 * frac * frac;
      if (v > bottomEdge(an, side, a) + 0.01) continue;
      const w = smoothstep(meniscus - soft, meniscus + soft, v);
      if (w <= 0) continue;
      density[i] = (density[i] as number) + lesion.density * w * inLung;
      if (w > MASK_THRESHOLD && inLung > 0.5) labelMap[i] = label;
    }
  }
}
