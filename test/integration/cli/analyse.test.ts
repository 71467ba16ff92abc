import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PNG } from "pngjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";

// `fl analyse` on a real (tiny) simulation run: the analysis.json it writes is checked field by
// field against the contract (shared/src/analysis/types.ts), its PNGs decode, and its per-site
// evaluation of the test splits reproduces the run's own final evaluation.
const FL = fileURLToPath(new URL("../../../bin/fl.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "fl-analyse-"));
const run = join(dir, "run");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const skipped = z.object({ skipped: z.string().min(1) }).strict();
const unit = z.number().min(0).max(1);
const saliency = z
  .object({
    method: z.literal("grad-cam"),
    layer: z.string().min(1),
    gallery: z.array(
      z
        .object({
          site: z.string(),
          classKey: z.string(),
          trueClassKey: z.string(),
          predictedClassKey: z.string(),
          png: z.string(),
          decoderPng: z.string().optional(),
        })
        .strict(),
    ),
    sanity: z.array(
      z
        .object({
          randomisedUpTo: z.string(),
          meanSpearman: z.number().min(-1).max(1),
          images: z.number().int(),
        })
        .strict(),
    ),
    sanityPassed: z.boolean(),
    pointing: z
      .array(
        z
          .object({
            classKey: z.string(),
            images: z.number().int().positive(),
            massInside: unit,
            chance: unit,
            hitRate: unit,
          })
          .strict(),
      )
      .optional(),
  })
  .strict();
const shortcuts = z
  .object({
    markers: z.array(
      z
        .object({
          site: z.string(),
          condition: z.enum(["as-is", "removed", "swapped"]),
          from: z.string().optional(),
          images: z.number().int(),
          accuracy: unit,
          macroF1: unit,
        })
        .strict(),
    ),
    siteProbe: z
      .object({
        features: z.number().int().positive(),
        trainImages: z.number().int().positive(),
        testImages: z.number().int().positive(),
        accuracy: unit,
        chance: unit,
      })
      .strict(),
  })
  .strict();
const disparities = z
  .object({
    metric: z.literal("macroF1"),
    best: z.object({ site: z.string(), value: unit }).strict(),
    worst: z.object({ site: z.string(), value: unit }).strict(),
    perClass: z.array(
      z.object({ classKey: z.string(), bySite: z.record(z.string(), unit), pooled: unit }).strict(),
    ),
    hardestClasses: z.array(z.string()).min(1),
  })
  .strict();
const AnalysisReportSchema = z
  .object({
    version: z.literal(1),
    createdAt: z.string().datetime(),
    model: z
      .object({
        version: z.number().int(),
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
        architecture: z.string(),
      })
      .strict(),
    saliency: z.union([saliency, skipped]).optional(),
    shortcuts: z.union([shortcuts, skipped]).optional(),
    disparities: z.union([disparities, skipped]).optional(),
  })
  .strict();

function fl(...args: string[]) {
  return spawnSync(process.execPath, [FL, ...args], { encoding: "utf8", timeout: 280_000 });
}

beforeAll(() => {
  const simulated = fl(
    "simulate",
    "--rounds",
    "1",
    "--epochs",
    "1",
    "--image-size",
    "32",
    "--images-per-site",
    "40",
    "--insecure",
    "--out",
    run,
  );
  expect(simulated.status, simulated.stderr).toBe(0);
}, 300_000);

describe("fl analyse", () => {
  it("writes an analysis.json that follows the contract, with PNGs that decode", () => {
    const started = Date.now();
    const analysed = fl("analyse", run, "--max-images", "16");
    expect(analysed.status, analysed.stderr).toBe(0);
    expect(analysed.stdout).toContain("sanity check");
    expect(analysed.stdout).toContain(join(run, "analysis", "analysis.json"));
    expect(Date.now() - started).toBeLessThan(60_000);
    const report = AnalysisReportSchema.parse(
      JSON.parse(readFileSync(join(run, "analysis", "analysis.json"), "utf8")),
    );
    const finalModel = JSON.parse(readFileSync(join(run, "model", "final.json"), "utf8")) as {
      version: number;
      sha256: string;
    };
    expect(report.model).toEqual({
      version: finalModel.version,
      sha256: finalModel.sha256,
      architecture: "small-cnn",
    });

    const s = saliency.parse(report.saliency);
    expect(s.layer).toBe("stage3.conv2.relu");
    expect(s.gallery.length).toBeGreaterThan(0);
    for (const entry of s.gallery) {
      expect(entry.trueClassKey).toBe(entry.classKey);
      const png = PNG.sync.read(readFileSync(join(run, "analysis", entry.png)));
      expect(png.width).toBe(256); // 32 px images drawn 8x
      expect(png.height).toBe(256);
    }
    // One cascade step per layer of the small CNN (3 stages x 2 convolutions, and the head).
    expect(s.sanity.map((step) => step.randomisedUpTo)).toEqual([
      "head.logits",
      "stage3.conv2",
      "stage3.conv1",
      "stage2.conv2",
      "stage2.conv1",
      "stage1.conv2",
      "stage1.conv1",
    ]);
    expect(s.pointing?.length).toBeGreaterThan(0); // synthetic positives have opacity masks
    expect(s.pointing?.some((p) => p.classKey === "negative")).toBe(false); // negatives have none

    const sc = shortcuts.parse(report.shortcuts);
    const sites = ["community", "metro-icu", "outpatient"];
    expect(sc.markers.map((m) => `${m.site}/${m.condition}/${m.from ?? ""}`)).toEqual([
      "community/as-is/",
      "community/removed/",
      "community/swapped/metro-icu",
      "metro-icu/as-is/",
      "metro-icu/removed/",
      "metro-icu/swapped/outpatient",
      "outpatient/as-is/",
      "outpatient/removed/",
      "outpatient/swapped/community",
    ]);
    expect(sc.siteProbe.features).toBe(64);
    expect(sc.siteProbe.chance).toBeGreaterThanOrEqual(1 / 3);

    // The as-is evaluation is the run's own final evaluation, recomputed from the model file.
    const evaluation = JSON.parse(readFileSync(join(run, "evaluation.json"), "utf8")) as {
      pooled: { perClass: { f1: number }[] };
      perSite: Record<string, { count: number; accuracy: number; macroF1: number }>;
    };
    for (const site of sites) {
      const asIs = sc.markers.find((m) => m.site === site && m.condition === "as-is");
      expect(asIs?.images).toBe(evaluation.perSite[site]?.count);
      expect(asIs?.accuracy).toBeCloseTo(evaluation.perSite[site]?.accuracy as number, 12);
      expect(asIs?.macroF1).toBeCloseTo(evaluation.perSite[site]?.macroF1 as number, 12);
    }
    const d = disparities.parse(report.disparities);
    for (const [c, row] of d.perClass.entries()) {
      expect(row.pooled).toBeCloseTo(evaluation.pooled.perClass[c]?.f1 as number, 12);
    }
    const macro = sites.map((site) => evaluation.perSite[site]?.macroF1 as number);
    expect(d.best.value).toBeCloseTo(Math.max(...macro), 12);
    expect(d.worst.value).toBeCloseTo(Math.min(...macro), 12);
  });

  it("refuses a path that is not a run folder, and a run without a model, naming the path", () => {
    const missing = fl("analyse", join(dir, "nope"));
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain(`${join(dir, "nope")} is not a folder`);
    const notRun = fl("analyse", dir);
    expect(notRun.status).toBe(1);
    expect(notRun.stderr).toContain(`${dir} is not a run folder (no coordinator.yaml)`);
    const early = join(dir, "early");
    cpSync(run, early, { recursive: true });
    rmSync(join(early, "model"), { recursive: true });
    rmSync(join(early, "checkpoints"), { recursive: true });
    const noModel = fl("analyse", early);
    expect(noModel.status).toBe(1);
    expect(noModel.stderr).toContain(`no model in ${early}`);
  });
});
