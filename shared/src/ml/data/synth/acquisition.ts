import { Rng } from "../../../random.js";
import { drawTextGray, GLYPH_HEIGHT, textWidth } from "../image/font.js";
import type { Anatomy, Pose } from "./anatomy.js";
import type { SiteProfile } from "./hospitals.js";
import { addValueNoise, gaussianBlur, rotateBilinear, rotateNearest, stampGaussian } from "./raster.js";

let bankCache: Float32Array | undefined;

/** 2^18 standard normal deviates from a fixed seed, made once per process. */
function normalBank(): Float32Array {
  if (!bankCache) {
    const rng = new Rng(0x5eed);
    bankCache = new Float32Array(1 << 18);
    for (let i = 0; i < bankCache.length; i++) bankCache[i] = rng.normal();
  }
  return bankCache;
}

/** Radio-opaque devices (tubes, lines, ECG leads) drawn into the attenuation map. */
export function addDevices(att: Float32Array, size: number, an: Anatomy, rng: Rng): void {
  const line = (points: readonly [number, number][], width: number, amplitude: number): void => {
    const step = 0.5 / size;
    for (let k = 0; k + 1 < points.length; k++) {
      const [u0, v0] = points[k] as [number, number];
      const [u1, v1] = points[k + 1] as [number, number];
      const length = Math.hypot(u1 - u0, v1 - v0);
      const steps = Math.max(1, Math.ceil(length / step));
      for (let s = 0; s <= steps; s++) {
        const t = s / steps;
        stampGaussian(att, size, u0 + (u1 - u0) * t, v0 + (v1 - v0) * t, width, amplitude * 0.5);
      }
    }
  };
  if (rng.bool(0.7)) {
    // Endotracheal tube down the midline, ending above the carina.
    const tip = an.lungTop + rng.uniform(0.12, 0.2);
    line(
      [
        [an.midline + rng.normal(0, 0.01), 0],
        [an.midline + rng.normal(0, 0.005), tip],
      ],
      0.004,
      0.9,
    );
  }
  if (rng.bool(0.6)) {
    // Central venous line from a subclavian entry into the mediastinum.
    const s = rng.bool(0.5) ? -1 : 1;
    const entry: [number, number] = [an.midline + s * rng.uniform(0.22, 0.3), an.clavicle.v + 0.02];
    line(
      [entry, [an.midline + s * 0.06, an.clavicle.v + 0.06], [an.midline + s * 0.03, an.lungTop + 0.25]],
      0.003,
      0.8,
    );
  }
  const leads = rng.int(4);
  for (let k = 0; k < leads; k++) {
    // ECG electrode: a dense ring with its wire running off the film.
    const u = an.midline + rng.uniform(-0.35, 0.35);
    const v = rng.uniform(0.15, 0.75);
    for (let a = 0; a < 16; a++) {
      const angle = (a / 16) * Math.PI * 2;
      stampGaussian(att, size, u + Math.cos(angle) * 0.015, v + Math.sin(angle) * 0.015, 0.004, 0.5);
    }
    line(
      [
        [u, v],
        [u + rng.normal(0, 0.1), v - 0.1],
        [u + rng.normal(0, 0.2), -0.02],
      ],
      0.0025,
      0.6,
    );
  }
}

/** Per-image draws of the site's acquisition settings. */
export interface Acquisition {
  readonly exposure: number;
  readonly contrast: number;
  readonly rotation: number;
  readonly collimation: readonly [number, number, number, number];
}

export function sampleAcquisition(profile: SiteProfile, rng: Rng): Acquisition {
  const border = (): number => (rng.bool(0.5) ? rng.uniform(0, profile.collimation) : 0);
  return {
    exposure: rng.normal(profile.exposure.mean, profile.exposure.sd),
    contrast: Math.max(0.4, rng.normal(profile.contrast.mean, profile.contrast.sd)),
    rotation: (rng.normal(0, profile.rotationDeg) * Math.PI) / 180,
    collimation: [border(), border(), border(), border()],
  };
}

/**
 * Turns attenuation into the site's displayed image (values in [0, 1]) and moves the lesion
 * label map with the image (rotation). Returns the rotated label map.
 */
export function acquire(
  att: Float32Array,
  labelMap: Uint8Array,
  size: number,
  profile: SiteProfile,
  acquisition: Acquisition,
  pose: Pose,
  rng: Rng,
): { image: Float32Array; labelMap: Uint8Array } {
  const n = size * size;
  const gain = 2 ** -acquisition.exposure;
  let image: Float32Array = new Float32Array(n);
  const contrast = acquisition.contrast;
  const gamma = profile.gamma;
  for (let i = 0; i < n; i++) {
    // Attenuation can dip below 0 where lesions are subtracted; a negative base would make ** gamma NaN.
    const transmitted = Math.max(0, 1 - Math.exp(-(att[i] as number) * gain));
    const shaped = gamma === 1 ? transmitted : transmitted ** gamma;
    image[i] = (shaped - 0.5) * contrast + 0.5;
  }
  const scale = size / 128;
  gaussianBlur(image, size, profile.blur * scale);
  let rotated = labelMap;
  if (Math.abs(acquisition.rotation) > 1e-4) {
    image = rotateBilinear(image, size, acquisition.rotation, 0);
    rotated = rotateNearest(labelMap, size, acquisition.rotation);
  }
  applyCollimation(image, size, acquisition.collimation, profile.collimationValue);
  // White detector noise (a window into a fixed bank of normal deviates: same statistics, no
  // per-pixel sampling cost) plus smooth low-frequency noise (scatter, detector structure).
  const sd = profile.noise * Math.sqrt(scale);
  const correlated = new Float32Array(n);
  addValueNoise(correlated, size, Math.max(4, Math.round(size / 4)), 1, rng);
  const bank = normalBank();
  const mask = bank.length - 1;
  let k = rng.int(bank.length);
  const stride = 2 * rng.int(1024) + 1;
  for (let i = 0; i < n; i++) {
    const value = image[i] as number;
    image[i] = value + sd * (0.7 + 0.6 * value) * (bank[k] as number) + sd * 0.8 * (correlated[i] as number);
    k = (k + stride) & mask;
  }
  burnInText(image, size, profile, pose, rng);
  for (let i = 0; i < n; i++) {
    image[i] = Math.min(1, Math.max(0, image[i] as number));
  }
  return { image, labelMap: rotated };
}

function applyCollimation(
  image: Float32Array,
  size: number,
  [top, right, bottom, left]: readonly [number, number, number, number],
  value: number,
): void {
  const t = Math.floor(top * size);
  const r = size - Math.floor(right * size);
  const b = size - Math.floor(bottom * size);
  const l = Math.floor(left * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (y < t || y >= b || x < l || x >= r) image[y * size + x] = value;
    }
  }
}

function burnInText(image: Float32Array, size: number, profile: SiteProfile, pose: Pose, rng: Rng): void {
  const glyphScale = Math.max(1, Math.round(size / 90));
  const margin = Math.max(2, Math.round(size * 0.04));
  if (rng.bool(profile.marker.probability)) {
    const text = profile.marker.text;
    const markerScale = glyphScale + (rng.bool(0.5) ? 1 : 0);
    const width = textWidth(text, markerScale);
    const height = GLYPH_HEIGHT * markerScale;
    const corner = profile.marker.corner;
    const x = corner.endsWith("left") ? margin : size - margin - width;
    const y = corner.startsWith("top") ? margin : size - margin - height;
    drawTextGray(image, size, text, x + rng.int(3), y + rng.int(3), markerScale, 1);
  }
  if (pose.portable) {
    const text = "PORTABLE";
    const width = textWidth(text, glyphScale);
    drawTextGray(image, size, text, Math.floor((size - width) / 2), margin, glyphScale, 0.95);
  }
}

/**
 * How `fl analyse` re-renders a site's images to measure shortcuts: without the side marker, or
 * with another site's marker (text and corner) and collimated border (extent and value).
 */
export interface AcquisitionOverride {
  /** "none" draws no side marker; a profile draws that site's marker text at its corner. */
  readonly marker?: "none" | SiteProfile;
  /** Draw this site's collimated border instead of the image's own site's. */
  readonly border?: SiteProfile;
}

/**
 * The profile that renders `profile`'s images with the override applied. Everything else in the
 * image stays the same pixel for pixel, because no random draw depends on these fields' values:
 * `rng.bool(p)` and `rng.uniform(0, c)` take one number whatever p and c are. Removing the marker
 * skips the two draws inside its branch, which is harmless only because nothing is drawn after
 * `burnInText`; the analysis tests check that a removed marker changes only the marker's corner.
 * The swapped marker is drawn exactly where the site's own would have been drawn (same draw).
 */
export function overrideAcquisition(profile: SiteProfile, override: AcquisitionOverride): SiteProfile {
  const marker =
    override.marker === undefined
      ? profile.marker
      : override.marker === "none"
        ? { ...profile.marker, probability: 0 }
        : { ...profile.marker, text: override.marker.marker.text, corner: override.marker.marker.corner };
  const border = override.border;
  return {
    ...profile,
    marker,
    ...(border ? { collimation: border.collimation, collimationValue: border.collimationValue } : {}),
  };
}
