import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PNG } from "pngjs";
import { afterAll, beforeAll, expect, it } from "vitest";
import { SECTION_TITLES } from "../../../cli/report/document.js";
import type { RunReport } from "../../../cli/report/types.js";
import { writeRunReport } from "../../../cli/report/write-report.js";
import { StateStore } from "../../../coordinator/src/store/state-store.js";
import type { AnalysisReport } from "../../../shared/src/analysis/types.js";
import { CLASS_KEYS } from "../../../shared/src/fl/classes.js";
import { confusionMatrix } from "../../../shared/src/metrics/index.js";
import { computeSiteStatistics } from "../../../shared/src/metrics/site-statistics.js";
import { CHROMIUM, checkReportPage } from "./report-page.js";

// A run folder with everything a report can show: a real state database holding two hospitals'
// evaluations with score statistics (bootstrap replicates, temperature scan) computed by the
// metrics code from seeded probabilities, a central test set, per-round ε, and an analysis with
// real PNGs. The report is written by the same code `fl report` runs and read back in Chromium.
const K = CLASS_KEYS.length;
let dir: string;

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** n images with labels cycling through the classes and softmax scores that favour the truth by `skill`. */
function scored(n: number, skill: number, seed: number) {
  const r = rng(seed);
  const labels: number[] = [];
  const probabilities: number[] = [];
  for (let i = 0; i < n; i++) {
    const y = i % K;
    labels.push(y);
    const logits = Array.from({ length: K }, (_, c) => 2 * r() + (c === y ? skill : 0));
    const z = logits.reduce((a, b) => a + Math.exp(b), 0);
    probabilities.push(...logits.map((l) => Math.exp(l) / z));
  }
  const predicted = labels.map((_, i) => {
    const row = probabilities.slice(i * K, i * K + K);
    return row.indexOf(Math.max(...row));
  });
  return { labels, probabilities, confusion: confusionMatrix(labels, predicted, K) };
}

function png(path: string): void {
  const image = new PNG({ width: 24, height: 24 });
  for (let i = 0; i < 24 * 24; i++) image.data.set([(i % 24) * 10, 40, 200 - (i % 24) * 8, 255], i * 4);
  writeFileSync(path, PNG.sync.write(image));
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "fl-report-html-"));
  const store = StateStore.open(join(dir, "state.db"), { federationId: "wards" });
  store.setMeta(
    "config",
    JSON.stringify({
      model: { architecture: "small-cnn", imageSize: 32 },
      plan: {
        phases: [{ name: "supervised", task: "classify", rounds: 3 }],
        evaluateEvery: 1,
        strategy: { name: "fedavg" },
      },
    }),
  );
  const sites = ["north", "south"];
  for (const [i, site] of sites.entries()) {
    store.upsertSite({ siteId: site, signingPublicKey: `s${i}`, encryptionPublicKey: `e${i}` });
    store.recordJoin(site, 1000, { backend: "cpu", trainClassCounts: [10 + i, 20, 5, 3] });
  }
  const checkpoint = (version: number) => ({
    version,
    round: version,
    path: `/nonexistent/v${version}.flw`,
    sha256: "00",
    bytes: 1,
    createdAtMs: 1000 + version,
  });
  store.recordInitialCheckpoint(checkpoint(0));
  for (let round = 1; round <= 3; round++) {
    store.startRound({
      round,
      attempt: 1,
      phase: "supervised",
      modelVersionIn: round - 1,
      sampled: sites,
      startedAtMs: 1000 * round,
    });
    for (const [i, site] of sites.entries())
      store.recordUpdate({
        uploadId: `u${round}${site}`,
        round,
        attempt: 1,
        siteId: site,
        taskId: `t${round}`,
        modelVersion: round - 1,
        contentSha256: "00",
        numExamples: 38,
        plaintextBytes: 4096,
        status: "accepted",
        reason: null,
        trainMetrics: { loss: 1.4 - 0.3 * round + 0.1 * i, accuracy: 0.3 + 0.1 * round },
        receivedAtMs: 1000 * round + 10,
        signed: null,
      });
    store.completeRound({
      round,
      attempt: 1,
      acceptedCount: 2,
      failures: [],
      metrics: {
        "train.loss": 1.45 - 0.3 * round,
        "train.accuracy": 0.3 + 0.1 * round,
        "privacy.epsilon": 0.5 * round,
      },
      checkpoint: checkpoint(round),
      endedAtMs: 1000 * round + 500,
    });
    for (const [i, site] of [...sites, "@central"].entries()) {
      const test = scored(120, 0.8 * round + i * 0.3, 100 * round + i);
      const validation = scored(60, 0.8 * round, 7 + i);
      store.recordEvaluation({
        round,
        modelVersion: round,
        siteId: site,
        split: "test",
        numExamples: 120,
        confusion: test.confusion,
        metrics: { loss: 1 / round },
        receivedAtMs: 1000 * round + 600,
        statistics: computeSiteStatistics({
          probabilities: test.probabilities,
          labels: test.labels,
          numClasses: K,
          bootstrapReplicates: 40,
          bootstrapSeed: round,
          validation: { probabilities: validation.probabilities, labels: validation.labels },
          temperatures: [0.5, 0.75, 1, 1.5, 2, 3],
        }),
      });
    }
  }
  store.markCompleted(new Date("2026-12-02T00:00:00Z"));
  store.close();

  mkdirSync(join(dir, "analysis", "saliency"), { recursive: true });
  const gallery = sites.flatMap((site) =>
    CLASS_KEYS.slice(0, 2).map((classKey) => {
      const file = `saliency/${site}-${classKey}.png`;
      png(join(dir, "analysis", file));
      return { site, classKey, trueClassKey: classKey, predictedClassKey: "typical", png: file };
    }),
  );
  const analysis: AnalysisReport = {
    version: 1,
    createdAt: "2026-12-02T00:01:00.000Z",
    model: { version: 3, sha256: "ab".repeat(32), architecture: "small-cnn" },
    saliency: {
      method: "grad-cam",
      layer: "conv2d_3",
      gallery,
      sanity: [
        { randomisedUpTo: "dense", meanSpearman: 0.6, images: 8 },
        { randomisedUpTo: "conv2d_3", meanSpearman: 0.3, images: 8 },
        { randomisedUpTo: "conv2d_1", meanSpearman: 0.05, images: 8 },
      ],
      sanityPassed: true,
      pointing: [{ classKey: "typical", images: 10, massInside: 0.4, chance: 0.2, hitRate: 0.6 }],
    },
    shortcuts: {
      markers: sites.flatMap((site, i) => [
        { site, condition: "as-is" as const, images: 60, accuracy: 0.8, macroF1: 0.7 },
        { site, condition: "removed" as const, images: 60, accuracy: 0.7, macroF1: 0.6 },
        {
          site,
          condition: "swapped" as const,
          from: sites[1 - i] as string,
          images: 60,
          accuracy: 0.55,
          macroF1: 0.5,
        },
      ]),
      siteProbe: { features: 64, trainImages: 80, testImages: 40, accuracy: 0.95, chance: 0.5 },
    },
    disparities: {
      metric: "macroF1",
      best: { site: "south", value: 0.7 },
      worst: { site: "north", value: 0.6 },
      perClass: CLASS_KEYS.map((classKey, c) => ({
        classKey,
        bySite: { north: 0.5 + c * 0.05, south: 0.6 + c * 0.05 },
        pooled: 0.55 + c * 0.05,
      })),
      hardestClasses: ["negative"],
    },
  };
  writeFileSync(join(dir, "analysis", "analysis.json"), JSON.stringify(analysis));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const noChromium = !existsSync(CHROMIUM);

it("writes report.json with the pooled statistics, central evaluation, analysis and ε, and Markdown saying the same", async () => {
  const started = performance.now();
  const files = await writeRunReport(dir);
  // About 1 s on an idle 2-core machine; the bound leaves room for a loaded CI host.
  expect(performance.now() - started).toBeLessThan(10_000);
  const report = JSON.parse(readFileSync(files.json, "utf8")) as RunReport;
  expect(report.overview.completed).toBe(true);
  expect(report.final?.modelVersion).toBe(3);
  expect(report.final?.rows.map((r) => r.name)).toEqual(["north", "south", "pooled"]);
  // 40 bootstrap replicates: every number of the pooled row has its interval around it.
  const pooled = report.final?.rows.at(-1);
  expect(pooled?.accuracy.interval?.replicates).toBe(40);
  expect(pooled?.macroAuc?.interval).toBeDefined();
  expect(pooled?.accuracy.interval?.low).toBeLessThanOrEqual(pooled?.accuracy.value ?? 0);
  // The pooled confusion is the sum of the sites' (the central set kept apart).
  const [p, north, south] = report.final?.confusion ?? [];
  expect(p?.matrix).toEqual(
    north?.matrix.map((row, i) => row.map((v, j) => v + (south?.matrix[i]?.[j] ?? 0))),
  );
  expect(report.final?.calibration.map((c) => c.name)).toEqual(["pooled", "north", "south"]);
  expect(report.final?.calibration[0]?.temperature?.fitted).toBeGreaterThan(0);
  expect(report.central?.siteId).toBe("@central");
  expect(report.privacy.epsilon).toEqual([
    { round: 1, epsilon: 0.5 },
    { round: 2, epsilon: 1 },
    { round: 3, epsilon: 1.5 },
  ]);
  expect(
    report.privacy.traffic.map((t) => [
      t.site,
      t.updatesAccepted,
      t.updateBytes,
      t.evaluations,
      t.bootstrapReplicates,
    ]),
  ).toEqual([
    ["north", 3, 3 * 4096, 3, 40],
    ["south", 3, 3 * 4096, 3, 40],
  ]);
  const ids = report.readiness.map((s) => s.id);
  expect(ids).toContain("site-probe");
  expect(report.readiness.find((s) => s.id === "site-probe")?.severity).toBe("warn");
  const md = readFileSync(files.md, "utf8");
  for (const title of Object.values(SECTION_TITLES)) expect(md).toContain(`## ${title}`);
  for (const s of report.readiness) expect(md).toContain(s.text);
  expect(md).toContain("report-charts/pooled-roc.svg");
  expect(existsSync(join(dir, "report-charts", "pooled-roc.svg"))).toBe(true);
});

it.skipIf(noChromium)(
  `opens in headless Chromium with every chart drawn${noChromium ? ` (SKIPPED: no ${CHROMIUM})` : ""}`,
  async () => {
    const files = await writeRunReport(dir);
    const html = readFileSync(files.html, "utf8");
    // Self-contained: no script, nothing to fetch.
    expect(html).not.toMatch(/<script|<link|src="http|href="http/);
    const page = await checkReportPage(files.html, [join(dir, "report.png")]);
    expect(page.consoleErrors).toEqual([]);
    expect(page.failedRequests).toEqual([]);
    expect(page.otherRequests).toEqual([]);
    expect(page.headings).toEqual(Object.values(SECTION_TITLES));
    const ids = page.charts.map((c) => c.id);
    for (const id of [
      "train-loss",
      "eval-macroF1",
      "eval-accuracy",
      "eval-macroAuc",
      "confusion-pooled",
      "confusion-north",
      "pooled-roc",
      "pooled-pr",
      "reliability-pooled",
      "reliability-classes",
      "reliability-sites",
      "confusion-central",
      "central-roc",
      "saliency-sanity",
      "shortcut-markers",
      "disparity-classes",
      "privacy-epsilon",
    ])
      expect(ids).toContain(id);
    for (const c of page.charts) {
      expect(c.svg, c.id).toBe(true);
      expect(c.marks, c.id).toBeGreaterThan(0);
      expect(c.width, c.id).toBeGreaterThan(100);
    }
    // A confusion heat map: 16 cells and 16 counts.
    expect(page.charts.find((c) => c.id === "confusion-pooled")?.marks).toBe(2 * K * K);
    expect(page.images).toHaveLength(4);
    for (const image of page.images) expect(image.loaded, image.alt).toBe(true);
    expect(page.statements.find((s) => s.id === "site-probe")?.severity).toBe("warn");
    expect(page.alerts).toEqual([]);
  },
);
