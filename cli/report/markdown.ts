/**
 * The report in Markdown: the same sections, tables and statements as the HTML; charts and
 * saliency images are linked files next to it (Markdown cannot inline an SVG portably).
 */
import type { Block, Section } from "./document.js";

const cellText = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");
const SEVERITY = { fail: "FAIL", warn: "WARN", ok: "OK", info: "INFO" } as const;

function block(b: Block, chartPath: (id: string) => string, imagePath: (src: string) => string): string {
  switch (b.kind) {
    case "p":
      return b.alert ? `> **${b.text}**` : b.text;
    case "table": {
      const lines = [
        `| ${b.head.map(cellText).join(" | ")} |`,
        `|${b.head.map(() => "---").join("|")}|`,
        ...b.rows.map((r) => `| ${r.map(cellText).join(" | ")} |`),
      ];
      if (b.caption) lines.push("", `_${b.caption}_`);
      return lines.join("\n");
    }
    case "charts":
      return b.charts.map((c) => `![${c.title}](${chartPath(c.id)})`).join("\n");
    case "gallery":
      return b.items.length === 0
        ? "No saliency images."
        : b.items.map((i) => `![${i.caption}](${imagePath(i.src)})`).join("\n");
    case "statements":
      return b.items.map((s) => `- **${SEVERITY[s.severity]}** ${s.text}`).join("\n");
  }
}

export function renderMarkdown(input: {
  title: string;
  subtitle: string;
  sections: readonly Section[];
  chartPath: (id: string) => string;
  imagePath: (src: string) => string;
}): string {
  const parts = [`# ${input.title}`, input.subtitle];
  for (const s of input.sections) {
    parts.push(`## ${s.title}`);
    for (const b of s.blocks) parts.push(block(b, input.chartPath, input.imagePath));
  }
  return `${parts.join("\n\n")}\n`;
}
