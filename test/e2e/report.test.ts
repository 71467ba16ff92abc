import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";
import { SECTION_TITLES } from "../../cli/report/document.js";
import type { RunReport } from "../../cli/report/types.js";
import { CHROMIUM, checkReportPage } from "../integration/report/report-page.js";

// The report as a user meets it: a real (tiny) `fl simulate` writes the analysis and the report
// at its end, the page is opened in Debian's headless Chromium, and `fl report` redoes it.
const FL = fileURLToPath(new URL("../../bin/fl.js", import.meta.url));
const out = mkdtempSync(join(tmpdir(), "fl-report-e2e-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));
/** Where the lead looks at the screenshot (the test's own copy is in the run folder). */
const SHARED_SCREENSHOT = "/tmp/h/report.png";

const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");
const noChromium = !existsSync(CHROMIUM);

it.skipIf(noChromium)(
  `fl simulate ends with report.html, which opens in Chromium with every section and chart drawn${noChromium ? ` (SKIPPED: no ${CHROMIUM})` : ""}`,
  async () => {
    const run = spawnSync(
      process.execPath,
      [
        FL,
        "simulate",
        "--rounds",
        "2",
        "--epochs",
        "1",
        "--image-size",
        "32",
        "--images-per-site",
        "60",
        "--out",
        out,
      ],
      { encoding: "utf8", timeout: 280_000, env: { ...process.env, CI: "true" } },
    );
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).toContain(`report: ${join(out, "report.html")}`);
    expect(run.stdout).not.toMatch(/REPORT FAILED|ANALYSIS FAILED/);

    const report = JSON.parse(readFileSync(join(out, "report.json"), "utf8")) as RunReport;
    expect(report.overview).toMatchObject({
      federationId: "sim",
      completed: true,
      lastCommittedRound: 2,
      plannedRounds: 2,
    });
    expect(report.final?.isFinalModel).toBe(true);
    expect(report.final?.rows.map((r) => r.name)).toEqual(["community", "metro-icu", "outpatient", "pooled"]);
    // The pooled images are the sites' together.
    const rows = report.final?.rows ?? [];
    expect(rows.at(-1)?.images).toBe(rows.slice(0, -1).reduce((n, r) => n + r.images, 0));
    expect(readFileSync(join(out, "report.md"), "utf8")).toMatch(/^# Federation sim: run report\n/);

    const page = await checkReportPage(join(out, "report.html"), [join(out, "report.png")]);
    mkdirSync("/tmp/h", { recursive: true });
    copyFileSync(join(out, "report.png"), SHARED_SCREENSHOT);
    expect(page.consoleErrors).toEqual([]);
    expect(page.failedRequests).toEqual([]);
    expect(page.otherRequests).toEqual([]);
    expect(page.headings).toEqual(Object.values(SECTION_TITLES));
    const ids = page.charts.map((c) => c.id);
    for (const id of [
      "train-loss",
      "eval-macroF1",
      "eval-accuracy",
      "confusion-pooled",
      "confusion-community",
    ])
      expect(ids).toContain(id);
    if (report.final?.pooledStatistics)
      for (const id of ["pooled-roc", "pooled-pr", "reliability-pooled", "reliability-classes"])
        expect(ids).toContain(id);
    if (report.central) expect(ids).toContain("confusion-central");
    for (const c of page.charts) {
      expect(c.svg, c.id).toBe(true);
      expect(c.marks, c.id).toBeGreaterThan(0);
    }
    for (const image of page.images) expect(image.loaded, image.alt).toBe(true);
    const analysis = report.analysis;
    if (analysis && !("error" in analysis) && analysis.saliency && !("skipped" in analysis.saliency))
      expect(page.images.length).toBe(analysis.saliency.gallery.length);
    expect(page.statements.length).toBe(report.readiness.length);

    // `fl report` again, from the folder alone: fast, and the run's database untouched.
    const before = sha256(join(out, "state.db"));
    const again = spawnSync(process.execPath, [FL, "report", out], { encoding: "utf8", timeout: 60_000 });
    expect(again.status, again.stderr).toBe(0);
    const seconds = Number(/\((\d+(?:\.\d+)?) s\)/.exec(again.stdout)?.[1]);
    // About 0.5 s on an idle 2-core machine (the target is under 3 s); the bound leaves room for a loaded host.
    expect(seconds).toBeLessThan(10);
    expect(sha256(join(out, "state.db"))).toBe(before);
    expect(existsSync(join(out, "state.db-wal"))).toBe(false);
  },
);

it("fl report says what is wrong with a folder that is not a run", () => {
  const empty = mkdtempSync(join(tmpdir(), "fl-report-empty-"));
  try {
    const r = spawnSync(process.execPath, [FL, "report", empty], { encoding: "utf8", timeout: 60_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`error: ${empty} is not a run folder: it has no state.db`);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});
