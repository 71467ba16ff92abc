import { Rng } from "../../../random.js";
import type { Box } from "../types.js";
import { acquire, addDevices, sampleAcquisition } from "./acquisition.js";
import { type Anatomy, posedAnatomy, samplePatientAnatomy, sampleStudyPose } from "./anatomy.js";
import type { SiteProfile } from "./hospitals.js";
import { type Findings, renderLesions, sampleFindings } from "./lesions.js";
import { renderAnatomy } from "./render-anatomy.js";

/** Everything that determines one synthetic image. Same request, same pixels. */
export interface SyntheticImageRequest {
  /** Output side length in pixels. */
  readonly size: number;
  /** True class index (what is drawn; the recorded label may differ by label noise). */
  readonly label: number;
  /** Seeds the patient's body: the same patient looks alike across studies. */
  readonly patientSeed: number;
  /** Seeds the disease findings: images of one study show the same findings. */
  readonly studySeed: number;
  /** Seeds pose, acquisition, devices and noise of this image. */
  readonly imageSeed: number;
  readonly profile: SiteProfile;
}

/** A rendered image with its ground truth. */
export interface SyntheticImage {
  readonly size: number;
  /** Row-major size x size, values in [0, 1]. */
  readonly image: Float32Array;
  /** 1 where an opacity is visible (the lesions themselves, not their boxes). */
  readonly lesionMask: Uint8Array;
  /** Opacity boxes in pixels, SIIM-style: one per lesion cluster, merged within a lung. */
  readonly boxes: readonly Box[];
  readonly findings: Findings;
  readonly portable: boolean;
}

export function generateImage(request: SyntheticImageRequest): SyntheticImage {
  const { size, profile } = request;
  const patient = samplePatientAnatomy(new Rng(request.patientSeed));
  const imageRng = new Rng(request.imageSeed);
  const pose = sampleStudyPose(imageRng, profile.portable);
  const anatomy = posedAnatomy(patient, pose);
  const layers = renderAnatomy(anatomy, size, imageRng);
  const studyRng = new Rng(request.studySeed);
  const findings = sampleFindings(request.label, anatomy, studyRng, profile.severityScale);
  const lesionLayers = renderLesions(findings.lesions, anatomy, layers.lung, size, studyRng);
  const att = layers.attenuation;
  const density = lesionLayers.density;
  for (let i = 0; i < att.length; i++) att[i] = (att[i] as number) + (density[i] as number);
  // Sicker patients are likelier to be on the ICU with tubes and lines.
  if (imageRng.bool(Math.min(1, profile.devices * (0.5 + findings.severity))))
    addDevices(att, size, anatomy, imageRng);
  const acquisition = sampleAcquisition(profile, imageRng);
  const { image, labelMap } = acquire(att, lesionLayers.labelMap, size, profile, acquisition, pose, imageRng);
  ensureVisibleMask(labelMap, density, findings, size, acquisition.rotation);
  const lesionMask = new Uint8Array(labelMap.length);
  for (let i = 0; i < labelMap.length; i++) lesionMask[i] = (labelMap[i] as number) > 0 ? 1 : 0;
  const boxes = boxesFromLabelMap(labelMap, size, findings, anatomy);
  return { size, image, lesionMask, boxes, findings, portable: pose.portable };
}

/**
 * A positive study always has a non-empty mask: if every lesion fell below the mask threshold
 * (tiny images, faint lesions) the densest lesion pixel is marked.
 */
function ensureVisibleMask(
  labelMap: Uint8Array,
  density: Float32Array,
  findings: Findings,
  size: number,
  rotation: number,
): void {
  if (findings.lesions.length === 0) return;
  for (let i = 0; i < labelMap.length; i++) if ((labelMap[i] as number) > 0) return;
  let best = 0;
  for (let i = 1; i < density.length; i++) if ((density[i] as number) > (density[best] as number)) best = i;
  // Move the point with the image rotation (same geometry as rotateBilinear).
  const c = (size - 1) / 2;
  const sx = (best % size) - c;
  const sy = Math.floor(best / size) - c;
  const cos = Math.cos(rotation);
  const sin = Math.sin(rotation);
  const x = Math.min(size - 1, Math.max(0, Math.round(cos * sx - sin * sy + c)));
  const y = Math.min(size - 1, Math.max(0, Math.round(sin * sx + cos * sy + c)));
  labelMap[y * size + x] = 1;
}

/** Bounding boxes per lesion, then merged when they touch or sit close in the same lung. */
function boxesFromLabelMap(labelMap: Uint8Array, size: number, findings: Findings, anatomy: Anatomy): Box[] {
  const count = findings.lesions.length;
  if (count === 0) return [];
  const minX = new Int32Array(count + 1).fill(size);
  const minY = new Int32Array(count + 1).fill(size);
  const maxX = new Int32Array(count + 1).fill(-1);
  const maxY = new Int32Array(count + 1).fill(-1);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const k = labelMap[y * size + x] as number;
      if (k === 0) continue;
      if (x < (minX[k] as number)) minX[k] = x;
      if (x > (maxX[k] as number)) maxX[k] = x;
      if (y < (minY[k] as number)) minY[k] = y;
      if (y > (maxY[k] as number)) maxY[k] = y;
    }
  }
  const boxes: { box: Box; side: number }[] = [];
  for (let k = 1; k <= count; k++) {
    if ((maxX[k] as number) < 0) continue;
    const x0 = minX[k] as number;
    const y0 = minY[k] as number;
    const box = { x: x0, y: y0, width: (maxX[k] as number) - x0 + 1, height: (maxY[k] as number) - y0 + 1 };
    const centreU = (x0 + box.width / 2) / size;
    boxes.push({ box, side: centreU < anatomy.midline ? 0 : 1 });
  }
  return mergeBoxes(boxes, Math.round(size * 0.06));
}

function mergeBoxes(items: { box: Box; side: number }[], gap: number): Box[] {
  const merged = items.map((item) => ({ ...item }));
  let changed = true;
  while (changed) {
    changed = false;
    outer: for (let i = 0; i < merged.length; i++) {
      for (let j = i + 1; j < merged.length; j++) {
        const a = merged[i] as { box: Box; side: number };
        const b = merged[j] as { box: Box; side: number };
        if (a.side !== b.side || !near(a.box, b.box, gap)) continue;
        const x = Math.min(a.box.x, b.box.x);
        const y = Math.min(a.box.y, b.box.y);
        const right = Math.max(a.box.x + a.box.width, b.box.x + b.box.width);
        const bottom = Math.max(a.box.y + a.box.height, b.box.y + b.box.height);
        merged[i] = { side: a.side, box: { x, y, width: right - x, height: bottom - y } };
        merged.splice(j, 1);
        changed = true;
        break outer;
      }
    }
  }
  return merged.map((item) => item.box);
}

function near(a: Box, b: Box, gap: number): boolean {
  return (
    a.x <= b.x + b.width + gap &&
    b.x <= a.x + a.width + gap &&
    a.y <= b.y + b.height + gap &&
    b.y <= a.y + a.height + gap
  );
}
