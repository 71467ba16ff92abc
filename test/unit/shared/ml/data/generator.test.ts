import { describe, expect, it } from "vitest";
import {
  generateImage,
  type SyntheticImageRequest,
} from "../../../../../shared/src/ml/data/synth/generator.js";
import { SITE_PRESETS } from "../../../../../shared/src/ml/data/synth/hospitals.js";
import { deriveSeed } from "../../../../../shared/src/random.js";

const profiles = SITE_PRESETS["5-hospitals"] ?? [];

function request(k: number, label: number, size = 64): SyntheticImageRequest {
  return {
    size,
    label,
    patientSeed: deriveSeed(11, "p", k),
    studySeed: deriveSeed(11, "s", k),
    imageSeed: deriveSeed(11, "i", k),
    profile: profiles[k % profiles.length] as SyntheticImageRequest["profile"],
  };
}

/** Mask pixel counts by image half (left/right) and by vertical thirds. */
function maskLayout(mask: Uint8Array, size: number) {
  let left = 0;
  let right = 0;
  let upper = 0;
  let lower = 0;
  let centralBand = 0;
  let total = 0;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (!mask[y * size + x]) continue;
      total++;
      if (x < size / 2) left++;
      else right++;
      if (y < size * 0.45) upper++;
      else lower++;
      if (Math.abs(x - size / 2) < size * 0.2) centralBand++;
    }
  }
  return { left, right, upper, lower, centralBand, total };
}

describe("generateImage", () => {
  it("is deterministic: the same request gives identical pixels, masks and boxes", () => {
    for (let k = 0; k < 8; k++) {
      const a = generateImage(request(k, k % 4));
      const b = generateImage(request(k, k % 4));
      expect(Buffer.from(a.image.buffer).equals(Buffer.from(b.image.buffer))).toBe(true);
      expect(Buffer.from(a.lesionMask).equals(Buffer.from(b.lesionMask))).toBe(true);
      expect(a.boxes).toEqual(b.boxes);
    }
  });

  it("differs when any seed differs", () => {
    const base = request(1, 1);
    const a = generateImage(base);
    for (const change of [{ patientSeed: 5 }, { studySeed: 5 }, { imageSeed: 5 }]) {
      const b = generateImage({ ...base, ...change });
      let diff = 0;
      for (let i = 0; i < a.image.length; i++)
        diff += Math.abs((a.image[i] as number) - (b.image[i] as number));
      expect(diff / a.image.length).toBeGreaterThan(0.002);
    }
  });

  it("keeps values in [0, 1] at several sizes", () => {
    for (const size of [32, 64, 128]) {
      const { image } = generateImage(request(3, 2, size));
      expect(image.length).toBe(size * size);
      let min = 1;
      let max = 0;
      for (const v of image) {
        min = Math.min(min, v);
        max = Math.max(max, v);
      }
      expect(min).toBeGreaterThanOrEqual(0);
      expect(max).toBeLessThanOrEqual(1);
      expect(max - min).toBeGreaterThan(0.5);
    }
  });

  it("has a non-empty mask and boxes exactly for the non-negative classes", () => {
    for (const size of [32, 64]) {
      for (let k = 0; k < 80; k++) {
        const label = k % 4;
        const out = generateImage(request(k, label, size));
        const pixels = out.lesionMask.reduce((s, v) => s + v, 0);
        if (label === 0) {
          expect(pixels).toBe(0);
          expect(out.boxes).toEqual([]);
        } else {
          expect(pixels).toBeGreaterThan(0);
          expect(out.boxes.length).toBeGreaterThan(0);
        }
      }
    }
  });

  it("puts every mask pixel inside one of the boxes", () => {
    for (let k = 0; k < 30; k++) {
      const out = generateImage(request(k, 1 + (k % 3)));
      const size = out.size;
      for (let i = 0; i < out.lesionMask.length; i++) {
        if (!out.lesionMask[i]) continue;
        const x = i % size;
        const y = Math.floor(i / size);
        const inside = out.boxes.some((b) => x >= b.x && x < b.x + b.width && y >= b.y && y < b.y + b.height);
        expect(inside).toBe(true);
      }
    }
  });

  it("draws Typical as bilateral, lower-zone opacity", () => {
    let bilateral = 0;
    let lowerDominant = 0;
    const n = 40;
    for (let k = 0; k < n; k++) {
      const out = generateImage(request(k, 1, 64));
      const m = maskLayout(out.lesionMask, 64);
      if (m.left > 0 && m.right > 0) bilateral++;
      if (m.lower > m.upper) lowerDominant++;
      expect(out.findings.pattern).toBe("bilateral-peripheral-lower");
      expect(new Set(out.findings.lesions.map((l) => l.side)).size).toBe(2);
    }
    expect(bilateral / n).toBeGreaterThan(0.85);
    expect(lowerDominant / n).toBeGreaterThan(0.85);
  });

  it("draws Indeterminate as unilateral, central or upper-zone patterns", () => {
    const patterns = new Set<string>();
    for (let k = 0; k < 60; k++) {
      const out = generateImage(request(k, 2, 64));
      patterns.add(out.findings.pattern);
      const sides = new Set(out.findings.lesions.map((l) => l.side));
      if (out.findings.pattern === "unilateral") {
        expect(sides.size).toBe(1);
        const m = maskLayout(out.lesionMask, 64);
        // Halves of the image, not of the (shifted, rotated) body: allow a sliver across.
        expect(Math.min(m.left, m.right) / m.total).toBeLessThan(0.05);
      }
      if (out.findings.pattern === "central") {
        const m = maskLayout(out.lesionMask, 64);
        expect(m.centralBand / m.total).toBeGreaterThan(0.5);
      }
    }
    expect(patterns).toEqual(new Set(["unilateral", "central", "upper-diffuse"]));
  });

  it("draws Atypical as consolidation, nodules or effusion", () => {
    const kinds = new Set<string>();
    for (let k = 0; k < 60; k++) {
      const out = generateImage(request(k, 3, 64));
      for (const lesion of out.findings.lesions) kinds.add(lesion.kind);
      if (out.findings.pattern === "nodules") {
        expect(out.findings.lesions.filter((l) => l.kind === "nodule").length).toBeGreaterThanOrEqual(2);
      }
    }
    expect(kinds.has("consolidation")).toBe(true);
    expect(kinds.has("nodule")).toBe(true);
    expect(kinds.has("effusion")).toBe(true);
  });

  it("makes opacity brighter than the same patient without it", () => {
    // Same seeds, Negative vs Typical: the only difference is the disease.
    let brighter = 0;
    for (let k = 0; k < 20; k++) {
      const sick = generateImage(request(k, 1, 64));
      const clear = generateImage(request(k, 0, 64));
      let inside = 0;
      let count = 0;
      for (let i = 0; i < sick.lesionMask.length; i++) {
        if (!sick.lesionMask[i]) continue;
        inside += (sick.image[i] as number) - (clear.image[i] as number);
        count++;
      }
      if (inside / count > 0.01) brighter++;
    }
    expect(brighter).toBeGreaterThanOrEqual(18);
  });
});
