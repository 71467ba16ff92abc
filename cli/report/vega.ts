import { parse, View } from "vega";
import { compile, type TopLevelSpec } from "vega-lite";

export type ChartSpec = TopLevelSpec;

/**
 * Renders a Vega-Lite chart to a standalone SVG string, offline: Vega's own scenegraph and SVG
 * renderer, no browser, no canvas and nothing fetched at view time, so a report that embeds the
 * result opens anywhere. Text widths are estimated by Vega without a canvas, which is close
 * enough for labels.
 *
 * `idPrefix` renames the SVG's element ids (Vega numbers its clip paths from 1 in every chart):
 * several charts inlined in one page would otherwise clip by each other's paths.
 */
export async function renderChartSvg(spec: ChartSpec, options: { idPrefix?: string } = {}): Promise<string> {
  const { spec: vegaSpec } = compile(spec);
  const view = new View(parse(vegaSpec), { renderer: "none" });
  try {
    const svg = await view.toSVG();
    const prefix = options.idPrefix;
    if (prefix === undefined) return svg;
    return svg
      .replace(/\bid="([^"]+)"/g, `id="${prefix}$1"`)
      .replace(/url\(#([^)]+)\)/g, `url(#${prefix}$1)`)
      .replace(/href="#([^"]+)"/g, `href="#${prefix}$1"`);
  } finally {
    view.finalize();
  }
}
