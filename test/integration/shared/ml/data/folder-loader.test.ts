import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import jpeg from "jpeg-js";
import { afterAll, describe, expect, it } from "vitest";
import { loadSiteSplits } from "../../../../../shared/src/ml/data/config.js";
import { encodeGreyPng } from "../../../../../shared/src/ml/data/image/png.js";
import type { ImageSet } from "../../../../../shared/src/ml/data/types.js";

const dir = mkdtempSync(join(tmpdir(), "fl-folder-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function all(splits: {
  train: ImageSet;
  val: ImageSet;
  test: ImageSet;
}): { id: string; label: number; mask: number; mean: number }[] {
  const out: { id: string; label: number; mask: number; mean: number }[] = [];
  for (const set of [splits.train, splits.val, splits.test]) {
    const px = set.size * set.size;
    set.imageIds.forEach((id, i) => {
      const image = set.images.subarray(i * px, (i + 1) * px);
      out.push({
        id,
        label: set.labels[i] as number,
        mask: set.masks.subarray(i * px, (i + 1) * px).reduce((s, v) => s + v, 0),
        mean: image.reduce((s, v) => s + v, 0) / px,
      });
    });
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

describe("folder loader", () => {
  it("reads JPEG and PNG images, mask files and boxes, and keeps unlabelled images when asked", async () => {
    // A 40x20 JPEG of constant grey 128, a PNG with its left half white as mask, a boxed PNG.
    const rgba = Buffer.alloc(40 * 20 * 4, 128);
    writeFileSync(join(dir, "a.jpg"), jpeg.encode({ data: rgba, width: 40, height: 20 }, 95).data);
    const maskPixels = new Float32Array(40 * 20);
    for (let y = 0; y < 20; y++) for (let x = 0; x < 20; x++) maskPixels[y * 40 + x] = 1;
    writeFileSync(join(dir, "a-mask.png"), encodeGreyPng(maskPixels, 40, 20));
    writeFileSync(join(dir, "b.png"), encodeGreyPng(new Float32Array(16 * 16).fill(0.25), 16, 16));
    writeFileSync(join(dir, "c.png"), encodeGreyPng(new Float32Array(16 * 16).fill(0.75), 16, 16));
    writeFileSync(
      join(dir, "labels.csv"),
      'image,label,mask,boxes\na.jpg,Atypical Appearance,a-mask.png,\nb.png,1,,"[{""x"":0,""y"":0,""width"":8,""height"":16}]"\n',
    );
    const config = {
      kind: "folder" as const,
      root: dir,
      maskColumn: "mask",
      imageSize: 8,
      includeUnlabelled: true,
    };
    const items = all(await loadSiteSplits(config, "all"));
    expect(items.map((i) => i.id)).toEqual(["a.jpg", "b.png", "c.png"]);
    const [a, b, c] = items as [(typeof items)[0], (typeof items)[0], (typeof items)[0]];
    expect(a.label).toBe(3);
    expect(a.mean).toBeCloseTo(128 / 255, 1);
    // Left half of the 40x20 image, stretched to 8x8: 4 columns x 8 rows.
    expect(a.mask).toBe(32);
    expect(b.label).toBe(1);
    expect(b.mean).toBeCloseTo(0.25, 2);
    expect(b.mask).toBe(32);
    // The mask file is not mistaken for an unlabelled image; c.png is kept with label -1.
    expect(c.label).toBe(-1);
    expect(c.mask).toBe(0);
  });
});
