import { describe, expect, it } from "vitest";
import { ErrorCode, isFlError } from "../../../../../shared/src/errors.js";
import {
  DataConfigSchema,
  listSites,
  loadSiteSplits,
  resolveDataConfig,
  summarizeData,
} from "../../../../../shared/src/ml/data/index.js";

describe("DataConfigSchema", () => {
  it("fills defaults", () => {
    const config = DataConfigSchema.parse({ kind: "synthetic", preset: "3-hospitals" });
    expect(config).toMatchObject({
      imagesPerSite: 200,
      imageSize: 128,
      seed: 0,
      maskSource: "boxes",
      partition: { kind: "natural" },
      splits: { val: 0.15, test: 0.15 },
    });
    expect(DataConfigSchema.parse({ kind: "siim", root: "/d" })).toMatchObject({
      studyCsv: "train_study_level.csv",
      imageCsv: "train_image_level.csv",
      imageDir: "train",
      resize: "stretch",
    });
    expect(DataConfigSchema.parse({ kind: "folder", root: "/d" })).toMatchObject({
      labels: "labels.csv",
      imageColumn: "image",
      labelColumn: "label",
    });
  });

  it("rejects typos and bad values, naming each key", () => {
    let error: unknown;
    try {
      resolveDataConfig({ kind: "synthetic", preset: "7-hospitals", imageSize: 3, imagesPerSit: 5 } as never);
    } catch (e) {
      error = e;
    }
    expect(isFlError(error, ErrorCode.InvalidConfig)).toBe(true);
    const message = (error as Error).message;
    expect(message).toMatch(/data\.preset: unknown preset/);
    expect(message).toMatch(/data\.imageSize/);
    expect(message).toMatch(/imagesPerSit/);
    expect(() => resolveDataConfig({ kind: "siim", root: "/d", splits: { val: 0.5, test: 0.5 } })).toThrow(
      /val \+ test must be below 1/,
    );
  });
});

describe("synthetic configs", () => {
  it("lists the preset's hospitals, or site-1..N for a repartition", async () => {
    expect(await listSites({ kind: "synthetic", preset: "5-hospitals", imagesPerSite: 20 })).toEqual([
      "metro-icu",
      "community",
      "university",
      "rural",
      "outpatient",
    ]);
    expect(
      await listSites({
        kind: "synthetic",
        preset: "3-hospitals",
        imagesPerSite: 20,
        partition: { kind: "iid", sites: 4 },
      }),
    ).toEqual(["site-1", "site-2", "site-3", "site-4"]);
  });

  it("loads one site deterministically, with disjoint splits of the site's images", async () => {
    const config = {
      kind: "synthetic" as const,
      preset: "3-hospitals",
      imagesPerSite: 30,
      imageSize: 24,
      seed: 3,
    };
    const a = await loadSiteSplits(config, "community");
    const b = await loadSiteSplits(config, "community");
    expect(a.train.count + a.val.count + a.test.count).toBe(30);
    expect(Buffer.from(a.train.images.buffer).equals(Buffer.from(b.train.images.buffer))).toBe(true);
    expect(a.val.imageIds).toEqual(b.val.imageIds);
    const ids = [...a.train.imageIds, ...a.val.imageIds, ...a.test.imageIds];
    expect(new Set(ids).size).toBe(30);
    const patients = (s: typeof a.train) => new Set(s.patientIds);
    for (const p of patients(a.test)) expect(patients(a.train).has(p)).toBe(false);
    expect(a.train.images.length).toBe(a.train.count * 24 * 24);
    expect(a.train.masks.length).toBe(a.train.count * 24 * 24);
  });

  it("summarises per-site class counts that add up", async () => {
    const summary = await summarizeData({ kind: "synthetic", preset: "3-hospitals", imagesPerSite: 100 });
    expect(summary.sites).toHaveLength(3);
    for (const site of summary.sites) {
      expect(site.all.total).toBe(100);
      expect(site.all.perClass.reduce((s, x) => s + x, 0)).toBe(100);
      expect(site.splits.train.total + site.splits.val.total + site.splits.test.total).toBe(100);
    }
    expect(summary.pooled.total).toBe(300);
  });

  it("refuses an unknown site with the list of sites", async () => {
    await expect(
      loadSiteSplits({ kind: "synthetic", preset: "3-hospitals", imagesPerSite: 10 }, "nowhere"),
    ).rejects.toThrow(/no site "nowhere".*metro-icu, community, outpatient/);
  });
});
