import { readdirSync, readFileSync, rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listSites, loadSiteSplits, summarizeData } from "../../../../../shared/src/ml/data/config.js";
import {
  type WrittenDataset,
  writeSyntheticDataset,
} from "../../../../../shared/src/ml/data/synth/write-siim.js";
import type { ImageSet } from "../../../../../shared/src/ml/data/types.js";

let dir = "";
let written: WrittenDataset;
const SEED = 5;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "fl-siim-"));
  written = await writeSyntheticDataset({
    out: dir,
    preset: "3-hospitals",
    imagesPerSite: 14,
    seed: SEED,
    nativeSize: 64,
    png: true,
  });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function byId(set: ImageSet): Map<string, number> {
  return new Map(set.imageIds.map((id, i) => [id, i]));
}

function correlation(a: Float32Array, b: Float32Array): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i] as number;
    mb += b[i] as number;
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = (a[i] as number) - ma;
    const db = (b[i] as number) - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  return sab / Math.sqrt(saa * sbb);
}

describe("fl data synth output read back by the SIIM and folder loaders", () => {
  it("writes the SIIM layout: two CSVs and one DICOM per image under train/<study>/<series>/", () => {
    const studyCsv = readFileSync(written.studyCsv, "utf8").trim().split("\n");
    expect(studyCsv[0]).toBe(
      "id,Negative for Pneumonia,Typical Appearance,Indeterminate Appearance,Atypical Appearance,site",
    );
    const imageCsv = readFileSync(written.imageCsv, "utf8").trim().split("\n");
    expect(imageCsv[0]).toBe("id,boxes,label,StudyInstanceUID");
    expect(imageCsv).toHaveLength(1 + 42);
    let files = 0;
    for (const study of readdirSync(join(dir, "train"))) {
      for (const series of readdirSync(join(dir, "train", study)))
        files += readdirSync(join(dir, "train", study, series)).length;
    }
    expect(files).toBe(42);
  });

  it("loads every site with the same images, labels and masks as the in-memory generator", async () => {
    const siim = { kind: "siim" as const, root: dir, siteColumn: "site", imageSize: 64, seed: SEED };
    const synthetic = {
      kind: "synthetic" as const,
      preset: "3-hospitals",
      imagesPerSite: 14,
      imageSize: 64,
      seed: SEED,
    };
    expect(await listSites(siim)).toEqual(["metro-icu", "community", "outpatient"]);
    for (const site of await listSites(siim)) {
      const fromFiles = await loadSiteSplits(siim, site);
      const inMemory = await loadSiteSplits(synthetic, site);
      const files = [fromFiles.train, fromFiles.val, fromFiles.test];
      const memory = [inMemory.train, inMemory.val, inMemory.test];
      expect(files.reduce((s, x) => s + x.count, 0)).toBe(14);
      const memoryIndex = memory.map(byId);
      for (const set of files) {
        set.imageIds.forEach((id, i) => {
          const k = memoryIndex.findIndex((m) => m.has(id));
          expect(k).toBeGreaterThanOrEqual(0);
          const other = memory[k] as ImageSet;
          const j = (memoryIndex[k] as Map<string, number>).get(id) as number;
          expect(set.labels[i]).toBe(other.labels[j]);
          const px = 64 * 64;
          const a = set.images.subarray(i * px, (i + 1) * px);
          const b = other.images.subarray(j * px, (j + 1) * px);
          // Stored with each site's bit depth, photometric and window (or min/max): the same picture.
          expect(correlation(a, b)).toBeGreaterThan(0.995);
          const maskA = set.masks.subarray(i * px, (i + 1) * px);
          const maskB = other.masks.subarray(j * px, (j + 1) * px);
          expect(Buffer.from(maskA).equals(Buffer.from(maskB))).toBe(true);
          const masked = maskA.reduce((s, v) => s + v, 0);
          if (set.labels[i] === 0) expect(masked).toBe(0);
          else expect(masked).toBeGreaterThan(0);
        });
      }
    }
  });

  it("the PNG folder layout loads the same ids and masks", async () => {
    const config = JSON.parse(readFileSync(written.folderConfig as string, "utf8"));
    const splits = await loadSiteSplits({ ...config, imageSize: 64 }, "community");
    const siim = await loadSiteSplits(
      { kind: "siim", root: dir, siteColumn: "site", imageSize: 64, seed: SEED },
      "community",
    );
    // Folder image ids are paths ("community/<id>.png"), SIIM ids are bare.
    const folderIds = [...splits.train.imageIds, ...splits.val.imageIds, ...splits.test.imageIds].map((p) =>
      p.replace(/^.*\/|\.png$/g, ""),
    );
    const siimIds = [...siim.train.imageIds, ...siim.val.imageIds, ...siim.test.imageIds];
    expect(new Set(folderIds)).toEqual(new Set(siimIds));
  });

  it("uses the preprocessing cache on a second load and gets identical tensors", async () => {
    const cacheDir = join(dir, ".cache");
    const siim = { kind: "siim" as const, root: dir, siteColumn: "site", imageSize: 32, seed: SEED };
    const first = await loadSiteSplits(siim, "outpatient", { cacheDir });
    const entries = readdirSync(cacheDir).flatMap((d) => readdirSync(join(cacheDir, d)));
    expect(entries.length).toBe(14);
    const second = await loadSiteSplits(siim, "outpatient", { cacheDir });
    expect(Buffer.from(second.train.images.buffer).equals(Buffer.from(first.train.images.buffer))).toBe(true);
  });

  it("summarises per-site class counts from the CSVs and DICOM headers alone", async () => {
    const summary = await summarizeData({ kind: "siim", root: dir, siteColumn: "site", imageSize: 64 });
    expect(summary.sites.map((s) => s.siteId)).toEqual(["metro-icu", "community", "outpatient"]);
    expect(summary.pooled.total).toBe(42);
    expect(summary.badItems.total).toBe(0);
    // Patients come from the DICOM PatientID: fewer patients than studies when some have two.
    for (const site of summary.sites) expect(site.patients).toBeLessThanOrEqual(site.studies);
  });
});
