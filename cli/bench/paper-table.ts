/** The paper benchmark's results as Markdown: the per-setting table and the findings. Pure. */

import type { PaperSizes } from "./paper-grid.js";
import type { BenchRow, Finding, MetricKey, RowSummary, RunMetrics } from "./paper-results.js";
import { estimate, formatEstimate, formatInterval, signed } from "./stats.js";

const METRICS: readonly MetricKey[] = ["macroF1", "accuracy", "mAP", "macroAuc", "dice"];

export function summariseRow(row: BenchRow): RowSummary {
  const of = (key: MetricKey) => estimate(row.runs.map((r) => r.metrics[key]));
  return {
    name: row.name,
    kind: row.kind,
    estimates: Object.fromEntries(METRICS.map((k) => [k, of(k)])) as Record<MetricKey, ReturnType<typeof of>>,
  };
}

export function renderTable(rows: readonly BenchRow[], sizes: PaperSizes, seconds: number): string {
  const seeds = new Set(rows.flatMap((r) => r.runs.map((x) => x.seed))).size;
  const lines = [
    `# Paper comparison (${sizes.imageSize}px, ${sizes.imagesPerSite} images per hospital, ${sizes.encoder} encoder, ${seeds} seed${seeds === 1 ? "" : "s"}, ${(seconds / 60).toFixed(1)} min)`,
    "",
    "Each cell: the mean over seeds ± the half-width of its 95 % confidence interval (Student t,",
    "n − 1 degrees of freedom); “(n = 1)”: a single seed, so no spread can be given.",
    "",
    "| setting | seeds | macro-F1 | accuracy | mAP | macro ROC-AUC | Dice | F1 indeterminate | F1 atypical |",
    "|---|---|---|---|---|---|---|---|---|",
  ];
  for (const row of rows) {
    const pick = (f: (m: RunMetrics) => number) =>
      formatEstimate(estimate(row.runs.map((r) => f(r.metrics))));
    const multitask = row.name.includes("-mtl-");
    lines.push(
      `| ${row.name} | ${row.runs.length} | ${pick((m) => m.macroF1)} | ${pick((m) => m.accuracy)} | ${pick((m) => m.mAP)} | ${pick((m) => m.macroAuc)} | ${multitask ? pick((m) => m.dice) : "—"} | ${pick((m) => m.f1.indeterminate ?? Number.NaN)} | ${pick((m) => m.f1.atypical ?? Number.NaN)} |`,
    );
  }
  return `${lines.join("\n")}\n`;
}

export function renderFindings(findings: readonly Finding[]): string {
  if (findings.length === 0) return "";
  const lines = [
    "## The paper's findings at this scale",
    "",
    "Each finding is a claim “a beats b”, tested on a − b computed per seed (the same seed draws",
    "the same images and initial weights for every setting, so the seeds pair the settings) with a",
    "95 % Student-t interval over seeds: it **holds** when the interval is above 0, **does not",
    "hold** when it is below 0, and **cannot be told apart** at this scale when it contains 0.",
    "The intervals are per finding, not corrected for testing several.",
    "",
    "| finding | metric | seeds | mean difference | 95 % CI | verdict | mAP: difference, CI, verdict |",
    "|---|---|---|---|---|---|---|",
  ];
  const notes: string[] = [];
  for (const f of findings) {
    const mark = f.caveat === undefined ? "" : ` [${notes.push(f.caveat)}]`;
    const map = f.mAP
      ? `${signed(f.mAP.difference.mean)} ${formatInterval(f.mAP.difference)} ${f.mAP.verdict}`
      : "—";
    lines.push(
      `| ${f.claim}${mark} | ${f.metric} | ${f.difference.n} | ${signed(f.difference.mean)} | ${formatInterval(f.difference)} | **${f.verdict}** | ${map} |`,
    );
  }
  lines.push("", "How each difference is formed:", "");
  for (const f of findings) lines.push(`- ${f.claim}: ${f.contrast}.`);
  if (notes.length > 0) {
    lines.push("");
    notes.forEach((note, i) => {
      lines.push(`[${i + 1}] ${note}.`);
    });
  }
  return `${lines.join("\n")}\n`;
}
