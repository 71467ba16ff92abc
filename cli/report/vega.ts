import { parse, View } from "vega";
import { compile, type TopLevelSpec } from "vega-lite";

export type ChartSpec = TopLevelSpec;

/**
 * Renders a Vega-Lite chart to a standalone SVG string, offline: Vega's own scenegraph and SVG
 * renderer, no browser, no canvas and nothing fetched at view time, so a report that embeds the
 * result opens anywhere. Text widths are estimated by Vega without a canvas, which is close
 * enough for labels.
 */
export async function renderChartSvg(spec: ChartSpec): Promise<string> {
  const { spec: vegaSpec } = compile(spec);
  const view = new View(parse(vegaSpec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
