/**
 * `fl report RUN`: reads a run folder and writes report.html (self-contained), report.md (the
 * same content, charts as files in report-charts/) and report.json (every number), each whole
 * or not at all.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { ErrorCode, errorMessage, FlError } from "../../shared/src/errors.js";
import { writeFileAtomic } from "../../shared/src/io/atomic-file.js";
import { buildReport } from "./build-report.js";
import { buildCharts } from "./charts.js";
import { buildDocument } from "./document.js";
import { renderHtml } from "./html.js";
import { ANALYSIS_DIR, loadRun } from "./load-run.js";
import { renderMarkdown } from "./markdown.js";
import type { RunInput, RunReport } from "./types.js";
import { renderChartSvg } from "./vega.js";

export const CHARTS_DIR = "report-charts";

export interface RunReportFiles {
  readonly html: string;
  readonly md: string;
  readonly json: string;
}

export interface RenderedReport {
  readonly report: RunReport;
  readonly html: string;
  readonly markdown: string;
  /** The charts' SVGs, by file name under CHARTS_DIR (the Markdown links them). */
  readonly chartFiles: ReadonlyMap<string, string>;
}

const fileName = (id: string) => `${id.replace(/[^A-Za-z0-9_.-]/g, "_")}.svg`;

/** The report's three renderings from what was read of a run; writes nothing. */
export async function renderReport(input: RunInput, options: { now?: Date } = {}): Promise<RenderedReport> {
  const report = buildReport(input, options.now ?? new Date());
  const charts = buildCharts(report);
  const svgs = new Map<string, string>();
  for (const [i, chart] of charts.entries()) {
    try {
      svgs.set(chart.id, await renderChartSvg(chart.spec, { idPrefix: `c${i}-` }));
    } catch (error) {
      throw new FlError(
        ErrorCode.Internal,
        `cannot draw the chart "${chart.title}" (${chart.id}): ${errorMessage(error)}`,
        {
          cause: error,
        },
      );
    }
  }
  const sections = buildDocument(report, charts, input.images);
  const title = `Federation ${report.overview.federationId}: run report`;
  const subtitle = `${input.runDir} · generated ${report.generatedAt}`;
  return {
    report,
    html: renderHtml({ title, subtitle, sections, svgs, images: input.images }),
    markdown: renderMarkdown({
      title,
      subtitle,
      sections,
      chartPath: (id) => `${CHARTS_DIR}/${fileName(id)}`,
      imagePath: (src) => `${ANALYSIS_DIR}/${src}`,
    }),
    chartFiles: new Map(charts.map((c) => [fileName(c.id), svgs.get(c.id) ?? ""])),
  };
}

/**
 * Writes the run's report next to its state. report.md replaces the coordinator's short one
 * (which it rewrites after every round while the run goes on).
 */
export async function writeRunReport(
  runDir: string,
  options: {
    now?: Date;
    /** Why the analysis just failed: the report says so instead of showing an older one. */
    analysisError?: string;
  } = {},
): Promise<RunReportFiles> {
  const input = await loadRun(runDir);
  const rendered = await renderReport(
    options.analysisError === undefined ? input : { ...input, analysis: { error: options.analysisError } },
    options.now === undefined ? {} : { now: options.now },
  );
  const files = {
    html: join(runDir, "report.html"),
    md: join(runDir, "report.md"),
    json: join(runDir, "report.json"),
  };
  const write = (path: string, content: string) => {
    try {
      writeFileAtomic(path, content);
    } catch (error) {
      throw new FlError(ErrorCode.Internal, `cannot write ${path}: ${errorMessage(error)}`, { cause: error });
    }
  };
  const chartsDir = join(runDir, CHARTS_DIR);
  try {
    mkdirSync(chartsDir, { recursive: true });
  } catch (error) {
    throw new FlError(ErrorCode.Internal, `cannot create ${chartsDir}: ${errorMessage(error)}`, {
      cause: error,
    });
  }
  for (const [name, svg] of rendered.chartFiles) write(join(chartsDir, name), svg);
  write(files.json, `${JSON.stringify(rendered.report, null, 2)}\n`);
  write(files.md, rendered.markdown);
  write(files.html, rendered.html);
  return files;
}
