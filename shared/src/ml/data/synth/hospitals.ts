import { ErrorCode, FlError } from "../../../errors.js";

/** Where a burnt-in marker sits. */
export type Corner = "top-left" | "top-right" | "bottom-left" | "bottom-right";

/** How a site's DICOM files are written by `fl data synth` (the loaders must cope with all). */
export interface DicomStyle {
  /** Rows = columns of the stored image. */
  readonly size: number;
  readonly bitsStored: 8 | 10 | 12 | 14 | 16;
  /** MONOCHROME1 stores inverted values (high = dark), as many CR readers do. */
  readonly photometric: "MONOCHROME1" | "MONOCHROME2";
  readonly vr: "explicit" | "implicit";
  readonly rescaleSlope: number;
  readonly rescaleIntercept: number;
  /** Whether Window Center/Width tags are written (otherwise readers fall back to min/max). */
  readonly window: boolean;
  readonly modality: "CR" | "DX";
  readonly manufacturer: string;
}

/**
 * One hospital's population and scanner: what makes sites differ in a federation. Intensity
 * figures refer to a 128 px image with values in [0, 1].
 */
export interface SiteProfile {
  /** Site id used in file names, configs and partition summaries. */
  readonly id: string;
  /** Human description, e.g. "urban teaching hospital, ICU-heavy". */
  readonly description: string;
  /** Study-level class prevalence in CLASS_NAMES order; need not sum to 1 (normalised). */
  readonly prevalence: readonly [number, number, number, number];
  /** Probability that a positive study shows a confusable neighbour of its recorded class (reader disagreement). */
  readonly labelNoise: number;
  /** Exposure in stops (positive = overexposed, darker lungs); mean and per-image sd. */
  readonly exposure: { readonly mean: number; readonly sd: number };
  /** Linear contrast multiplier around mid-grey; mean and per-image sd. */
  readonly contrast: { readonly mean: number; readonly sd: number };
  /** Display gamma of the site's processing (below 1 brightens). */
  readonly gamma: number;
  /** Sd of the additive detector noise. */
  readonly noise: number;
  /** Gaussian blur sigma in pixels (focal spot, scatter, reader MTF). */
  readonly blur: number;
  /** Sd of patient rotation in degrees. */
  readonly rotationDeg: number;
  /** Share of portable AP films (magnified heart, poorer inspiration, "PORTABLE" text). */
  readonly portable: number;
  /** Probability of lines, tubes and ECG leads; rises with disease severity (ICU patients). */
  readonly devices: number;
  /** Side marker burnt into the image. */
  readonly marker: { readonly text: string; readonly corner: Corner; readonly probability: number };
  /** Up to this fraction of each border is collimated (blank). */
  readonly collimation: number;
  /** Value of collimated borders: 0 black (processing masks them), 1 white (unexposed film). */
  readonly collimationValue: number;
  /** Multiplies disease severity (referral centres see sicker patients). */
  readonly severityScale: number;
  readonly dicom: DicomStyle;
}

const BASE_DICOM: DicomStyle = {
  size: 256,
  bitsStored: 12,
  photometric: "MONOCHROME2",
  vr: "explicit",
  rescaleSlope: 1,
  rescaleIntercept: 0,
  window: true,
  modality: "DX",
  manufacturer: "Synthetic",
};

/** Urban teaching hospital: ICU-heavy, portable films, tubes and lines, noisy, sicker patients. */
const METRO_ICU: SiteProfile = {
  id: "metro-icu",
  description: "urban teaching hospital, ICU-heavy: portable AP films, devices, noisy detectors",
  prevalence: [0.18, 0.58, 0.19, 0.05],
  labelNoise: 0.08,
  exposure: { mean: -0.15, sd: 0.2 },
  contrast: { mean: 0.9, sd: 0.1 },
  gamma: 1.1,
  noise: 0.035,
  blur: 0.9,
  rotationDeg: 4,
  portable: 0.75,
  devices: 0.45,
  marker: { text: "R", corner: "top-left", probability: 0.9 },
  collimation: 0.04,
  collimationValue: 0,
  severityScale: 1.1,
  dicom: {
    ...BASE_DICOM,
    size: 288,
    bitsStored: 14,
    rescaleIntercept: -1024,
    modality: "DX",
    manufacturer: "Synth DX-A",
  },
};

/** District general hospital: computed radiography, MONOCHROME1, implicit VR, softer images. */
const COMMUNITY: SiteProfile = {
  id: "community",
  description: "district hospital: computed radiography (MONOCHROME1, implicit VR), soft and blurry",
  prevalence: [0.3, 0.47, 0.14, 0.09],
  labelNoise: 0.12,
  exposure: { mean: 0.2, sd: 0.25 },
  contrast: { mean: 0.8, sd: 0.12 },
  gamma: 0.9,
  noise: 0.02,
  blur: 1.4,
  rotationDeg: 3,
  portable: 0.35,
  devices: 0.15,
  marker: { text: "L", corner: "top-right", probability: 0.8 },
  collimation: 0.08,
  collimationValue: 1,
  severityScale: 1,
  dicom: {
    ...BASE_DICOM,
    size: 256,
    bitsStored: 10,
    photometric: "MONOCHROME1",
    vr: "implicit",
    window: false,
    modality: "CR",
    manufacturer: "Synth CR-B",
  },
};

/** Outpatient clinic: modern DR, high contrast, little noise, milder disease. */
const OUTPATIENT: SiteProfile = {
  id: "outpatient",
  description: "outpatient clinic: modern DR, high contrast, low noise, milder disease",
  prevalence: [0.36, 0.36, 0.18, 0.1],
  labelNoise: 0.06,
  exposure: { mean: 0, sd: 0.12 },
  contrast: { mean: 1.15, sd: 0.08 },
  gamma: 1,
  noise: 0.012,
  blur: 0.6,
  rotationDeg: 2,
  portable: 0.08,
  devices: 0.03,
  marker: { text: "PA", corner: "bottom-right", probability: 0.7 },
  collimation: 0.02,
  collimationValue: 0,
  severityScale: 0.85,
  dicom: {
    ...BASE_DICOM,
    size: 320,
    bitsStored: 16,
    rescaleSlope: 0.5,
    rescaleIntercept: 0,
    modality: "DX",
    manufacturer: "Synth DR-C",
  },
};

const RURAL: SiteProfile = {
  id: "rural",
  description: "rural hospital: older CR, underexposed, 8-bit archive, rotated patients",
  prevalence: [0.4, 0.35, 0.15, 0.1],
  labelNoise: 0.15,
  exposure: { mean: -0.35, sd: 0.3 },
  contrast: { mean: 0.85, sd: 0.15 },
  gamma: 1.2,
  noise: 0.03,
  blur: 1.2,
  rotationDeg: 5,
  portable: 0.2,
  devices: 0.05,
  marker: { text: "R", corner: "bottom-left", probability: 0.6 },
  collimation: 0.1,
  collimationValue: 1,
  severityScale: 0.95,
  dicom: {
    ...BASE_DICOM,
    size: 224,
    bitsStored: 8,
    modality: "CR",
    window: false,
    manufacturer: "Synth CR-D",
  },
};

const PEDIATRIC_MIXED: SiteProfile = {
  id: "university",
  description: "university hospital: mixed wards, DR, moderate noise, more indeterminate reads",
  prevalence: [0.3, 0.43, 0.2, 0.07],
  labelNoise: 0.1,
  exposure: { mean: 0.1, sd: 0.15 },
  contrast: { mean: 1.0, sd: 0.1 },
  gamma: 1,
  noise: 0.02,
  blur: 0.8,
  rotationDeg: 3,
  portable: 0.3,
  devices: 0.2,
  marker: { text: "L", corner: "top-left", probability: 0.85 },
  collimation: 0.05,
  collimationValue: 0,
  severityScale: 1,
  dicom: {
    ...BASE_DICOM,
    size: 256,
    bitsStored: 12,
    vr: "implicit",
    modality: "DX",
    manufacturer: "Synth DX-E",
  },
};

/**
 * The pooled SIIM-FISABIO-RSNA prevalence of the four classes.
 * @internal Exported for the plan test, which checks presets against it.
 */
export const POOLED_PREVALENCE: readonly [number, number, number, number] = [0.28, 0.47, 0.17, 0.08];

function withPrevalence(
  profile: SiteProfile,
  id: string,
  prevalence: readonly [number, number, number, number],
): SiteProfile {
  return { ...profile, id, prevalence };
}

const NEUTRAL: SiteProfile = {
  ...PEDIATRIC_MIXED,
  id: "site",
  description: "identical sites: same scanner and population (IID baseline)",
  prevalence: POOLED_PREVALENCE,
  labelNoise: 0.08,
};

/**
 * Named federations. Site prevalences are skewed per site but average to the pooled
 * 28% / 47% / 17% / 8% (equal site sizes), as the real data set's classes do.
 */
export const SITE_PRESETS: Readonly<Record<string, readonly SiteProfile[]>> = {
  "3-hospitals": [METRO_ICU, COMMUNITY, OUTPATIENT],
  "5-hospitals": [
    withPrevalence(METRO_ICU, "metro-icu", [0.15, 0.62, 0.15, 0.08]),
    withPrevalence(COMMUNITY, "community", [0.25, 0.5, 0.17, 0.08]),
    withPrevalence(PEDIATRIC_MIXED, "university", [0.3, 0.45, 0.18, 0.07]),
    withPrevalence(RURAL, "rural", [0.4, 0.35, 0.15, 0.1]),
    withPrevalence(OUTPATIENT, "outpatient", [0.3, 0.43, 0.2, 0.07]),
  ],
  "4-iid": [0, 1, 2, 3].map((k) => ({ ...NEUTRAL, id: `site-${k + 1}` })),
  "1-central": [{ ...NEUTRAL, id: "central", description: "one pooled site (centralised baseline)" }],
};

export const PRESET_NAMES = Object.keys(SITE_PRESETS);

export function sitePreset(name: string): readonly SiteProfile[] {
  const preset = SITE_PRESETS[name];
  if (!preset) {
    throw new FlError(
      ErrorCode.InvalidConfig,
      `unknown synthetic preset "${name}": use one of ${PRESET_NAMES.join(", ")}`,
    );
  }
  return preset;
}
