import type { Rng } from "../../../random.js";

/**
 * One synthetic patient's body, in normalised image coordinates (u to the right, v down, both in
 * [0, 1]; the patient's right lung is on the image's left, as on a PA radiograph).
 */
export interface Anatomy {
  /** Midline of the body. */
  readonly midline: number;
  /** Half-width of the chest wall at the level of the lungs. */
  readonly chestHalfWidth: number;
  /** Soft-tissue attenuation scale (body habitus). */
  readonly softTissue: number;
  /** Apex (top) of the lungs. */
  readonly lungTop: number;
  /** Distance from the midline to the lateral lung edge, per side (0 = image left). */
  readonly lungLateral: readonly [number, number];
  /** Half-width of the mediastinum (medial lung edge) at the top and at the base. */
  readonly mediastinumTop: number;
  readonly mediastinumBase: number;
  /** Top of each hemidiaphragm dome; the patient's right (image left) sits higher. */
  readonly diaphragmTop: readonly [number, number];
  /** How far the costophrenic angles sit below the dome tops. */
  readonly domeDepth: number;
  /** Heart ellipse: centre offset to the image right of the midline, centre height, radii. */
  readonly heart: {
    readonly dx: number;
    readonly cy: number;
    readonly rx: number;
    readonly ry: number;
    /** Long-axis tilt in radians (apex down and to the image right). */
    readonly tilt: number;
  };
  /** Posterior ribs: height of the first rib at the spine, spacing, spacing growth, thickness. */
  readonly ribs: {
    readonly count: number;
    readonly firstV: number;
    readonly spacing: number;
    readonly growth: number;
    readonly thickness: number;
    readonly bend: number;
  };
  /** Clavicle height at the midline and rise toward the shoulder. */
  readonly clavicle: { readonly v: number; readonly rise: number; readonly thickness: number };
  readonly spineHalfWidth: number;
  /** 0 for no breast shadows, up to 1 for prominent ones (a lower-zone confounder). */
  readonly breast: number;
  /** Lung texture (vascular markings) strength. */
  readonly vascularity: number;
}

/** How one study (one visit) of a patient was taken; the same patient varies between studies. */
export interface Pose {
  /** Portable AP films: magnified heart, higher clavicles, poorer inspiration. */
  readonly portable: boolean;
  /** Diaphragm shift from the depth of inspiration (positive = poorer inspiration). */
  readonly inspiration: number;
  readonly shiftU: number;
  readonly shiftV: number;
  readonly scale: number;
}

export function samplePatientAnatomy(rng: Rng): Anatomy {
  const lateral = rng.uniform(0.32, 0.37);
  const diaphragm = rng.uniform(0.64, 0.72);
  return {
    midline: 0.5 + rng.normal(0, 0.008),
    chestHalfWidth: lateral + rng.uniform(0.04, 0.07),
    softTissue: rng.uniform(0.7, 1.0),
    lungTop: rng.uniform(0.1, 0.15),
    lungLateral: [lateral + rng.normal(0, 0.006), lateral + rng.normal(0, 0.006)],
    mediastinumTop: rng.uniform(0.04, 0.055),
    mediastinumBase: rng.uniform(0.06, 0.08),
    diaphragmTop: [diaphragm, diaphragm + rng.uniform(0.01, 0.035)],
    domeDepth: rng.uniform(0.06, 0.1),
    heart: {
      dx: rng.uniform(0.035, 0.065),
      cy: diaphragm - rng.uniform(0.04, 0.07),
      rx: rng.uniform(0.14, 0.18),
      ry: rng.uniform(0.095, 0.12),
      tilt: rng.uniform(0.35, 0.6),
    },
    ribs: {
      count: 10,
      firstV: rng.uniform(0.08, 0.11),
      spacing: rng.uniform(0.042, 0.05),
      growth: rng.uniform(1.02, 1.06),
      thickness: rng.uniform(0.017, 0.023),
      bend: rng.uniform(0.08, 0.13),
    },
    clavicle: {
      v: rng.uniform(0.15, 0.19),
      rise: rng.uniform(0.02, 0.06),
      thickness: rng.uniform(0.018, 0.024),
    },
    spineHalfWidth: rng.uniform(0.028, 0.036),
    breast: rng.bool(0.45) ? rng.uniform(0.3, 1) : 0,
    vascularity: rng.uniform(0.6, 1.2),
  };
}

export function sampleStudyPose(rng: Rng, portableProbability: number): Pose {
  const portable = rng.bool(portableProbability);
  return {
    portable,
    inspiration: portable ? rng.uniform(0, 0.06) : rng.uniform(-0.03, 0.03),
    shiftU: rng.normal(0, 0.015),
    shiftV: rng.normal(0, 0.015),
    scale: rng.uniform(0.94, 1.06),
  };
}

/** The anatomy as this pose shows it: one set of numbers the renderers read. */
export function posedAnatomy(anatomy: Anatomy, pose: Pose): Anatomy {
  const s = pose.scale;
  const mapV = (v: number): number => 0.5 + (v - 0.5) * s + pose.shiftV;
  const mapLen = (len: number): number => len * s;
  const heartScale = pose.portable ? 1.12 : 1;
  const [dRight, dLeft] = anatomy.diaphragmTop;
  return {
    ...anatomy,
    midline: 0.5 + (anatomy.midline - 0.5) * s + pose.shiftU,
    chestHalfWidth: mapLen(anatomy.chestHalfWidth),
    lungTop: mapV(anatomy.lungTop),
    lungLateral: [mapLen(anatomy.lungLateral[0]), mapLen(anatomy.lungLateral[1])],
    mediastinumTop: mapLen(anatomy.mediastinumTop),
    mediastinumBase: mapLen(anatomy.mediastinumBase) * (pose.portable ? 1.15 : 1),
    diaphragmTop: [mapV(dRight - pose.inspiration), mapV(dLeft - pose.inspiration)],
    domeDepth: mapLen(anatomy.domeDepth),
    heart: {
      dx: mapLen(anatomy.heart.dx),
      cy: mapV(anatomy.heart.cy - pose.inspiration * 0.6),
      rx: mapLen(anatomy.heart.rx) * heartScale,
      ry: mapLen(anatomy.heart.ry) * heartScale,
      tilt: anatomy.heart.tilt,
    },
    ribs: {
      ...anatomy.ribs,
      firstV: mapV(anatomy.ribs.firstV),
      spacing: mapLen(anatomy.ribs.spacing),
      thickness: mapLen(anatomy.ribs.thickness),
    },
    clavicle: {
      v: mapV(anatomy.clavicle.v - (pose.portable ? 0.04 : 0)),
      rise: anatomy.clavicle.rise,
      thickness: mapLen(anatomy.clavicle.thickness),
    },
    spineHalfWidth: mapLen(anatomy.spineHalfWidth),
  };
}
