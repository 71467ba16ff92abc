import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { buildReport } from "../../../cli/report/build-report.js";
import { buildCharts, MAX_CHARTED_SITES } from "../../../cli/report/charts.js";
import { buildDocument } from "../../../cli/report/document.js";
import { loadRun } from "../../../cli/report/load-run.js";
import type { RunInput } from "../../../cli/report/types.js";
import { StateStore } from "../../../coordinator/src/store/state-store.js";
import { computeSiteStatistics } from "../../../shared/src/metrics/index.js";
import { synthetic } from "../metrics/synthetic.js";

const SITES = MAX_CHARTED_SITES + 3;
let dir: string;
let input: RunInput;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "fl-charted-sites-"));
  const store = StateStore.open(join(dir, "state.db"), { federationId: "many" });
  const checkpoint = {
    version: 1,
    round: 1,
    path: "/nonexistent/v1.flw",
    sha256: "00",
    bytes: 1,
    createdAtMs: 2,
  };
  store.recordInitialCheckpoint({ ...checkpoint, version: 0, round: 0 });
  const sites = Array.from({ length: SITES }, (_, s) => `site-${String(s).padStart(2, "0")}`);
  store.startRound({
    round: 1,
    attempt: 1,
    phase: "supervised",
    modelVersionIn: 0,
    sampled: sites,
    startedAtMs: 1,
  });
  store.completeRound({
    round: 1,
    attempt: 1,
    acceptedCount: SITES,
    failures: [],
    metrics: {},
    checkpoint,
    endedAtMs: 3,
  });
  for (const [s, siteId] of sites.entries()) {
    const data = synthetic(12, 4, s + 1);
    const confusion = [0, 1, 2, 3].map(() => [0, 0, 0, 0]);
    for (const label of data.labels) {
      const cells = confusion[label] as number[];
      cells[label] = (cells[label] as number) + 1;
    }
    store.recordEvaluation({
      round: 1,
      modelVersion: 1,
      siteId,
      split: "test",
      numExamples: 12,
      confusion,
      metrics: {},
      statistics: computeSiteStatistics(data),
      receivedAtMs: 4,
    });
  }
  store.close();
  input = await loadRun(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it(`draws the first ${MAX_CHARTED_SITES} sites and says how many more are in report.json`, () => {
  const report = buildReport(input, new Date(0));
  // Every site's numbers stay in the report (and so in report.json).
  expect(report.final?.confusion).toHaveLength(SITES + 1);
  const charts = buildCharts(report);
  const confusionCharts = charts.filter((c) => c.section === "confusion").map((c) => c.id);
  expect(confusionCharts).toEqual([
    "confusion-pooled",
    ...Array.from({ length: MAX_CHARTED_SITES }, (_, s) => `confusion-site-${String(s).padStart(2, "0")}`),
  ]);
  const text = JSON.stringify(buildDocument(report, charts, {}));
  expect(text).toContain("3 more sites' confusion matrices are in report.json");
  expect(text).toContain("3 more sites' reliability curves are in report.json");
  expect(input.traffic).toHaveLength(SITES);
  expect(input.traffic[0]).toMatchObject({ evaluations: 1, histogramBins: 1000, bootstrapReplicates: 0 });
});
