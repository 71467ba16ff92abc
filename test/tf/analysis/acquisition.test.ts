import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { GLYPH_HEIGHT, textWidth } from "../../../shared/src/ml/data/image/font.js";
import { overrideAcquisition } from "../../../shared/src/ml/data/synth/acquisition.js";
import { generateImage } from "../../../shared/src/ml/data/synth/generator.js";
import { type SiteProfile, sitePreset } from "../../../shared/src/ml/data/synth/hospitals.js";
import { planSyntheticSite } from "../../../shared/src/ml/data/synth/plan.js";

const SIZE = 64;
const [metro, community, outpatient] = sitePreset("3-hospitals") as [SiteProfile, SiteProfile, SiteProfile];

function render(profile: SiteProfile, count: number, override = (p: SiteProfile): SiteProfile => p) {
  return planSyntheticSite(profile, count, 7).map((item) => {
    if (item.source.kind !== "synthetic") throw new Error("synthetic items expected");
    const s = item.source;
    return generateImage({
      size: SIZE,
      label: s.trueLabel,
      patientSeed: s.patientSeed,
      studySeed: s.studySeed,
      imageSeed: s.imageSeed,
      profile: override(s.profile),
    });
  });
}

/** The box a marker of `text` can occupy at `corner` (burnInText's margin, scale and jitter). */
function markerBox(text: string, corner: SiteProfile["marker"]["corner"]) {
  const glyphScale = Math.max(1, Math.round(SIZE / 90));
  const margin = Math.max(2, Math.round(SIZE * 0.04));
  const width = textWidth(text, glyphScale + 1) + 2;
  const height = GLYPH_HEIGHT * (glyphScale + 1) + 2;
  const x0 = corner.endsWith("left") ? margin : SIZE - margin - width;
  const y0 = corner.startsWith("top") ? margin : SIZE - margin - height;
  return (x: number, y: number): boolean => x >= x0 && x < x0 + width + 2 && y >= y0 && y < y0 + height + 2;
}

function changedPixels(a: Float32Array, b: Float32Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) out.push(i);
  return out;
}

describe("synthetic acquisition overrides", () => {
  it("leave the default render byte for byte as it was", () => {
    // Hash of 6 images per site of the 3-hospitals preset at 64 px, seed 7, computed before the
    // override existed: the default simulation's data (and so its model) must not change.
    const hash = createHash("sha256");
    for (const profile of [metro, community, outpatient]) {
      for (const image of render(profile, 6)) {
        hash.update(Buffer.from(image.image.buffer));
        hash.update(Buffer.from(image.lesionMask));
      }
    }
    expect(hash.digest("hex")).toBe("c8f98834c6343e6225cf825828178f64c0e54e341c5fa50965e3919d6dfe9eea");
    const same = render(metro, 4, (p) => overrideAcquisition(p, {}));
    for (const [i, image] of render(metro, 4).entries()) {
      expect(changedPixels(image.image, same[i]?.image as Float32Array)).toEqual([]);
    }
  });

  it("remove the marker and change nothing outside it", () => {
    const asIs = render(metro, 12);
    const removed = render(metro, 12, (p) => overrideAcquisition(p, { marker: "none" }));
    const inBox = markerBox(metro.marker.text, metro.marker.corner);
    let withMarker = 0;
    asIs.forEach((image, i) => {
      const changed = changedPixels(image.image, removed[i]?.image as Float32Array);
      if (changed.length > 0) withMarker++;
      for (const p of changed)
        expect(inBox(p % SIZE, Math.floor(p / SIZE)), `pixel ${p} of image ${i}`).toBe(true);
      // The marker is burnt in white: removing it can only darken.
      for (const p of changed) expect(removed[i]?.image[p] as number).toBeLessThan(image.image[p] as number);
      expect(removed[i]?.lesionMask).toEqual(image.lesionMask);
    });
    // metro-icu burns its marker into 90% of images: most of the 12 must have changed.
    expect(withMarker).toBeGreaterThanOrEqual(8);
  });

  it("swap in another site's marker at that site's corner, and its border", () => {
    const asIs = render(metro, 12);
    const swapped = render(metro, 12, (p) => overrideAcquisition(p, { marker: community }));
    const own = markerBox(metro.marker.text, metro.marker.corner);
    const donor = markerBox(community.marker.text, community.marker.corner);
    let inDonorCorner = 0;
    asIs.forEach((image, i) => {
      for (const p of changedPixels(image.image, swapped[i]?.image as Float32Array)) {
        const [x, y] = [p % SIZE, Math.floor(p / SIZE)];
        expect(own(x, y) || donor(x, y), `pixel ${p} of image ${i}`).toBe(true);
        if (donor(x, y)) inDonorCorner++;
      }
    });
    expect(inDonorCorner).toBeGreaterThan(0);
    // community's border is white (unexposed film), metro-icu's black: collimated pixels turn 1.
    const bordered = render(metro, 12, (p) => overrideAcquisition(p, { border: community }));
    const whiteEdges = bordered.filter((image) => image.image[SIZE * (SIZE >> 1)] === 1).length;
    expect(whiteEdges).toBeGreaterThan(0);
    expect(overrideAcquisition(metro, { border: community }).collimation).toBe(community.collimation);
  });
});
