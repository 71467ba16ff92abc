/**
 * The paper benchmark's report.html: the per-setting table, the findings with their paired
 * intervals and verdicts, the two charts, and a link to the full run report (with saliency and
 * shortcut tests) of the best setting's first seed — one run analysed rather than all of them,
 * since each analysis costs seconds and the runs of a setting differ only by seed.
 */
import { existsSync } from "node:fs";
import { join, relative } from "node:path";
import { writeFileAtomic } from "../../shared/src/io/atomic-file.js";
import { analyseAndReport } from "../report/after-run.js";
import type { Block, Section } from "../report/document.js";
import { renderHtml } from "../report/html.js";
import { renderChartSvg } from "../report/vega.js";
import { findingsChart, macroF1Chart } from "./paper-charts.js";
import type { PaperResults } from "./paper-results.js";
import { formatEstimate, formatInterval, signed } from "./stats.js";

const METRICS = ["macroF1", "accuracy", "mAP", "macroAuc", "dice"] as const;

/** The run the report links to: the best federated setting at the first seed, when it exists. */
export function shownRun(dir: string, results: PaperResults): string | undefined {
  const best = [...results.summaries]
    .filter((s) => s.kind === "federated")
    .sort((a, b) => b.estimates.macroF1.mean - a.estimates.macroF1.mean)[0];
  const seed = results.seeds[0];
  if (best === undefined || seed === undefined) return undefined;
  const runDir = join(dir, "runs", `${best.name}-seed${seed}`);
  return existsSync(runDir) ? runDir : undefined;
}

export function paperSections(results: PaperResults, runLink: string | undefined): Section[] {
  const { sizes } = results;
  const overview: Block[] = [
    {
      kind: "p",
      text: `${results.summaries.length} settings × ${results.seeds.length} seeds (${results.seeds.join(", ")}) on the "${results.preset}" hospitals: ${sizes.imageSize} px, ${sizes.imagesPerSite} images per hospital, ${sizes.encoder} encoder; ${(results.seconds / 60).toFixed(1)} min of runs. Code version ${results.fingerprint.codeVersion}.`,
    },
    {
      kind: "p",
      text:
        results.seeds.length < 5
          ? `Only ${results.seeds.length} seed(s): intervals are wide or absent ("n = 1"), and most findings cannot be told apart.`
          : "Intervals are 95 % Student-t over seeds; differences are paired by seed.",
      ...(results.seeds.length < 5 && { alert: true }),
    },
  ];
  if (runLink !== undefined)
    overview.push({
      kind: "p",
      text: `The full run report of the best setting (first seed), with saliency, calibration and shortcut tests: \`${runLink}\`.`,
    });
  const table: Block = {
    kind: "table",
    head: ["setting", "kind", ...METRICS.map((m) => `${m} (mean ± 95 % half-width)`)],
    rows: results.summaries.map((s) => [
      s.name,
      s.kind,
      ...METRICS.map((m) => formatEstimate(s.estimates[m])),
    ]),
  };
  const findings: Block =
    results.findings.length === 0
      ? { kind: "p", text: "No finding could be tested: the settings it compares did not run." }
      : {
          kind: "table",
          head: ["finding", "contrast", "seeds", "mean difference", "95 % CI", "verdict", "mAP", "caveat"],
          rows: results.findings.map((f) => [
            f.claim,
            f.contrast,
            String(f.difference.n),
            signed(f.difference.mean),
            formatInterval(f.difference),
            f.verdict,
            f.mAP
              ? `${signed(f.mAP.difference.mean)} ${formatInterval(f.mAP.difference)} ${f.mAP.verdict}`
              : "—",
            f.caveat ?? "",
          ]),
          caption:
            "A finding holds when its paired interval is above 0, does not hold when below, and cannot be told apart when it contains 0 (not corrected for testing several).",
        };
  const charts: Block = {
    kind: "charts",
    charts: [
      {
        id: "macro-f1",
        section: "benchmark",
        title: "Macro-F1 per setting",
        spec: macroF1Chart(results.summaries),
      },
      ...(results.findings.length > 0
        ? [
            {
              id: "findings",
              section: "benchmark" as const,
              title: "Paired differences (findings)",
              spec: findingsChart(results.findings),
            },
          ]
        : []),
    ],
  };
  return [
    { id: "overview", title: "Overview", blocks: overview },
    { id: "settings", title: "Settings", blocks: [table, charts] },
    { id: "findings", title: "The paper's findings at this scale", blocks: [findings] },
  ];
}

/** Analyses and reports the shown run, then writes `<dir>/report.html` from results.json and the charts. */
export async function writePaperReport(
  dir: string,
  results: PaperResults,
  say: (line: string) => void,
): Promise<string> {
  const run = shownRun(dir, results);
  if (run !== undefined) await analyseAndReport(run, "completed", say);
  const sections = paperSections(results, undefined);
  const svgs = new Map<string, string>();
  for (const section of sections)
    for (const block of section.blocks)
      if (block.kind === "charts")
        for (const chart of block.charts)
          svgs.set(chart.id, await renderChartSvg(chart.spec, { idPrefix: chart.id }));
  const link =
    run !== undefined && existsSync(join(run, "report.html"))
      ? relative(dir, join(run, "report.html"))
      : undefined;
  const html = renderHtml({
    title: "Paper benchmark",
    subtitle: `Ridzuan et al. (MIUA 2022) comparison on synthetic hospitals, ${results.seeds.length} seeds`,
    sections: paperSections(results, link),
    svgs,
    images: {},
  });
  const path = join(dir, "report.html");
  writeFileAtomic(path, html);
  return path;
}
