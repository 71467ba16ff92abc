import type { Rng } from "../../../random.js";
import type { Anatomy } from "./anatomy.js";
import { lateralEdge, lungMargin, medialEdge, type Side, sideSign } from "./lung-geometry.js";
import { addValueNoise, smoothstep, stampGaussian } from "./raster.js";

/** The patient without disease: attenuation (higher = whiter) and where the lungs are. */
export interface AnatomyLayers {
  readonly size: number;
  /** Line-integral attenuation, roughly 0 (air) .. 2.5 (spine behind heart). */
  readonly attenuation: Float32Array;
  /** Aerated-lung membership in [0, 1] (soft edge). */
  readonly lung: Float32Array;
}

const LUNG_AIR = 0.7;

export function renderAnatomy(an: Anatomy, size: number, rng: Rng): AnatomyLayers {
  const n = size * size;
  const attenuation = new Float32Array(n);
  const lung = new Float32Array(n);
  const edge = 1.2 / size;
  const heartCx = an.midline + an.heart.dx;
  const heartCos = Math.cos(an.heart.tilt);
  const heartSin = Math.sin(an.heart.tilt);
  const carinaV = an.lungTop + 0.16;
  const heartFloor = an.diaphragmTop[1] + 0.01;

  // Lung texture: low-frequency density variation, added only where the lungs are.
  const texture = new Float32Array(n);
  addValueNoise(texture, size, 6, 0.05, rng);
  addValueNoise(texture, size, 14, 0.035, rng);
  addValueNoise(texture, size, 28, 0.02, rng);

  const shoulderV = an.clavicle.v + 0.02;
  for (let y = 0; y < size; y++) {
    const v = (y + 0.5) / size;
    // Body half-width per row: neck, shoulders, chest.
    let half: number;
    if (v < shoulderV - 0.08) half = 0.11 + (v / Math.max(0.01, shoulderV - 0.08)) * 0.06;
    else if (v < shoulderV)
      half = 0.17 + ((v - (shoulderV - 0.08)) / 0.08) * (an.chestHalfWidth + 0.12 - 0.17);
    else half = an.chestHalfWidth + 0.12 - Math.min(0.08, (v - shoulderV) * 0.25);
    const med = medialEdge(an, v);
    const spineRow = 0.88 + 0.12 * Math.cos(v * 180);
    const base = y * size;
    for (let x = 0; x < size; x++) {
      const u = (x + 0.5) / size;
      const du = u - an.midline;
      const ax = Math.abs(du);
      // Chord length through an elliptic cross-section: thin at the edges, thick at the centre.
      const q = 1 - (du / half) * (du / half);
      const thickness = q > 0 ? Math.sqrt(q) : 0;
      let a = thickness > 0 ? an.softTissue * (0.35 + 0.65 * thickness) : 0.03;

      const side: Side = du < 0 ? 0 : 1;
      let l = 0;
      if (ax > med - edge && ax < an.lungLateral[side] + edge) {
        const m = lungMargin(an, side, ax, v);
        l = smoothstep(-edge, edge, m);
      }
      // Heart: a tilted ellipsoid (apex down and to the patient's left) that displaces lung air.
      const hdx = u - heartCx;
      const hdy = v - an.heart.cy;
      const hx = (hdx * heartCos + hdy * heartSin) / an.heart.rx;
      const hy = (-hdx * heartSin + hdy * heartCos) / an.heart.ry;
      const hr = hx * hx + hy * hy;
      const heart =
        hr < 1.1 ? Math.sqrt(Math.max(0, 1 - hr)) * 0.8 + (1 - smoothstep(0.8, 1.05, hr)) * 0.2 : 0;
      l *= 1 - Math.min(1, heart * 1.6) * 0.8;
      // Below the left hemidiaphragm the heart merges into the abdomen's density.
      a += 0.14 * heart * (1 - smoothstep(heartFloor - 0.01, heartFloor + 0.025, v));
      // Trachea: an air column down the midline to the carina.
      if (v < carinaV && ax < 0.03)
        a -= 0.12 * (1 - smoothstep(0.008, 0.016, ax)) * (1 - smoothstep(carinaV - 0.03, carinaV, v));
      // Shoulder girdle and pectoral muscles: more soft tissue over the upper zones.
      a += thickness * 0.14 * (1 - smoothstep(an.lungTop, an.lungTop + 0.3, v));
      // Spine and mediastinal soft tissue.
      if (ax < an.spineHalfWidth * 1.6) {
        const s = 1 - smoothstep(an.spineHalfWidth * 0.7, an.spineHalfWidth * 1.4, ax);
        a += 0.22 * s * spineRow;
      }
      // Lower zones hold more air (less overlying tissue) than the apices.
      a *= 1 - LUNG_AIR * l * (0.88 + 0.12 * smoothstep(an.lungTop, an.diaphragmTop[side], v));
      a += l * (texture[base + x] as number);
      attenuation[base + x] = a;
      lung[base + x] = l;
    }
  }

  addStructures(attenuation, lung, an, size, rng);
  return { size, attenuation, lung };
}

function addStructures(att: Float32Array, lung: Float32Array, an: Anatomy, size: number, rng: Rng): void {
  // Aortic knob and hila.
  stampGaussian(att, size, an.midline + 0.045, an.lungTop + 0.17, 0.022, 0.22);
  for (const side of [0, 1] as const) {
    const s = sideSign(side);
    const hilumU = an.midline + s * (an.mediastinumBase + 0.035);
    const hilumV = an.lungTop + 0.3 * (an.diaphragmTop[side] - an.lungTop) + 0.06;
    stampGaussian(att, size, hilumU, hilumV, 0.028, 0.09);
    addVessels(att, lung, an, side, hilumU, hilumV, size, rng);
    addRibs(att, an, side, size);
    addClavicle(att, an, side, size);
    if (an.breast > 0) addBreast(att, an, side, size);
  }
}

function addVessels(
  att: Float32Array,
  lung: Float32Array,
  an: Anatomy,
  side: Side,
  hilumU: number,
  hilumV: number,
  size: number,
  rng: Rng,
): void {
  const s = sideSign(side);
  const trunks = 7;
  for (let t = 0; t < trunks; t++) {
    // Trunks fan out of the hilum from up-and-medial to down-and-medial via lateral.
    const angle = -1.75 + (t + rng.uniform(0.2, 0.8)) * (3.3 / trunks);
    const u = hilumU + s * rng.uniform(-0.01, 0.02);
    const v = hilumV + rng.uniform(-0.03, 0.03);
    growVessel(att, lung, size, rng, s, u, v, angle, 0.1, 0.0055, 0.075 * an.vascularity, 0);
  }
}

/** One vessel segment, then two thinner, fainter daughter branches, until the lung edge. */
function growVessel(
  att: Float32Array,
  lung: Float32Array,
  size: number,
  rng: Rng,
  s: number,
  u0: number,
  v0: number,
  angle: number,
  length: number,
  radius: number,
  peak: number,
  depth: number,
): void {
  const step = 0.7 / size;
  const radiusPx = Math.max(0.6, radius * size);
  // Peak of a line of Gaussians spaced `step` apart is amp * sigma * sqrt(2 pi) / spacing.
  const amplitude = (peak * 0.7) / (radiusPx * 2.5066);
  let u = u0;
  let v = v0;
  let a = angle;
  const steps = Math.ceil(length / step);
  for (let k = 0; k < steps; k++) {
    a += rng.normal(0, 0.04);
    u += s * Math.cos(a) * step;
    v += Math.sin(a) * step;
    const x = Math.floor(u * size);
    const y = Math.floor(v * size);
    if (x < 0 || y < 0 || x >= size || y >= size) return;
    if ((lung[y * size + x] as number) < 0.3 && depth > 0) return;
    stampGaussian(att, size, u, v, radius, amplitude);
  }
  if (depth >= 3) return;
  for (const turn of [-1, 1]) {
    growVessel(
      att,
      lung,
      size,
      rng,
      s,
      u,
      v,
      a + turn * rng.uniform(0.25, 0.55),
      length * rng.uniform(0.6, 0.8),
      radius * 0.72,
      peak * 0.78,
      depth + 1,
    );
  }
}

function addBand(
  att: Float32Array,
  size: number,
  uStart: number,
  uEnd: number,
  centreAt: (u: number) => number,
  thickness: number,
  amplitude: number,
  cortex: number,
): void {
  const x0 = Math.max(0, Math.floor(Math.min(uStart, uEnd) * size));
  const x1 = Math.min(size - 1, Math.ceil(Math.max(uStart, uEnd) * size));
  const span = x1 - x0 + 1;
  const du = 0.5 / size;
  for (let x = x0; x <= x1; x++) {
    const u = (x + 0.5) / size;
    const centre = centreAt(u);
    // Keep the thickness perpendicular to the band where it runs steeply.
    const slope = (centreAt(u + du) - centre) / du;
    const half = ((thickness * size) / 2) * Math.sqrt(1 + slope * slope);
    const cy = centre * size - 0.5;
    const fadeT = (x - x0) / span;
    const fade = smoothstep(0, 0.1, fadeT) * smoothstep(0, 0.1, 1 - fadeT);
    const y0 = Math.max(0, Math.floor(cy - half - 1));
    const y1 = Math.min(size - 1, Math.ceil(cy + half + 1));
    for (let y = y0; y <= y1; y++) {
      const d = Math.abs(y - cy) / half;
      if (d >= 1.15) continue;
      const profile = d < 1 ? 1 - cortex + cortex * d ** 6 : (1.15 - d) / 0.15;
      att[y * size + x] = (att[y * size + x] as number) + amplitude * fade * profile;
    }
  }
}

function addRibs(att: Float32Array, an: Anatomy, side: Side, size: number): void {
  const s = sideSign(side);
  const lat = an.lungLateral[side];
  let v0 = an.ribs.firstV;
  let spacing = an.ribs.spacing;
  for (let k = 0; k < an.ribs.count; k++) {
    const rowV = v0;
    const drop = an.ribs.bend * (0.8 + 0.05 * k);
    const peak = 0.3 * lat;
    const rise = 0.012;
    const curve = (drop + rise) / ((lat + 0.03 - peak) * (lat + 0.03 - peak));
    // Posterior rib: from the spine, rising a little, then arching down the lateral chest wall.
    addBand(
      att,
      size,
      an.midline + s * an.spineHalfWidth,
      an.midline + s * (lat + 0.04),
      (u) => {
        const a = Math.abs(u - an.midline) - peak;
        return rowV - rise + curve * a * a;
      },
      an.ribs.thickness * (1 + 0.03 * k),
      0.11 * (0.8 + 0.4 * ((k * 0.37) % 1)),
      0.5,
    );
    // Anterior rib: the same rib coming back round, fainter, descending toward the midline.
    if (k >= 1 && k < 7) {
      const lateralV = rowV + drop * 0.85;
      addBand(
        att,
        size,
        an.midline + s * (lat + 0.02),
        an.midline + s * 0.12,
        (u) =>
          lateralV +
          0.42 * (lat - Math.abs(u - an.midline)) * (1 - 0.25 * ((lat - Math.abs(u - an.midline)) / lat)),
        an.ribs.thickness * 1.15,
        0.06,
        0.25,
      );
    }
    v0 += spacing;
    spacing *= an.ribs.growth;
  }
}

function addClavicle(att: Float32Array, an: Anatomy, side: Side, size: number): void {
  const s = sideSign(side);
  const c = an.clavicle;
  addBand(
    att,
    size,
    an.midline + s * 0.02,
    an.midline + s * 0.34,
    (u) => {
      const r = Math.abs(u - an.midline) / 0.34;
      return c.v - c.rise * r + 0.012 * Math.sin(Math.PI * 2 * r);
    },
    c.thickness,
    0.34,
    0.55,
  );
}

function addBreast(att: Float32Array, an: Anatomy, side: Side, size: number): void {
  // A soft-tissue lobe over the lower lateral lung with a sharp lower margin: looks like
  // lower-zone haze, which is exactly the confounder radiologists learn to ignore.
  const s = sideSign(side);
  const cu = an.midline + s * (lateralEdge(an, side, an.diaphragmTop[side]) * 0.62);
  const cv = an.diaphragmTop[side] - 0.03;
  const rx = 0.17;
  const ry = 0.13;
  const x0 = Math.max(0, Math.floor((cu - rx) * size));
  const x1 = Math.min(size - 1, Math.ceil((cu + rx) * size));
  const y0 = Math.max(0, Math.floor((cv - ry) * size));
  const y1 = Math.min(size - 1, Math.ceil((cv + ry) * size));
  for (let y = y0; y <= y1; y++) {
    const v = (y + 0.5) / size;
    const dy = (v - cv) / ry;
    for (let x = x0; x <= x1; x++) {
      const u = (x + 0.5) / size;
      const dx = (u - cu) / rx;
      const r = dx * dx + dy * dy;
      if (r >= 1) continue;
      const lowerWeight = smoothstep(-0.9, 0.4, dy);
      const edge = 1 - smoothstep(0.85, 1, r);
      att[y * size + x] = (att[y * size + x] as number) + 0.16 * an.breast * lowerWeight * edge;
    }
  }
}
