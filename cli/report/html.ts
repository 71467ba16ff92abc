/**
 * The report as one self-contained HTML page: inline CSS, charts as inline SVG, images as data:
 * URIs, no script and nothing fetched, so it opens offline, from an e-mail or an archive.
 */
import type { Block, Section } from "./document.js";

const esc = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** `code` spans in the document's plain text. */
const inline = (s: string) => esc(s).replace(/`([^`]+)`/g, "<code>$1</code>");

const CSS = `
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:1rem 2rem;color:#1d2430;line-height:1.45}
h1{margin-bottom:.2rem}h2{border-bottom:2px solid #d8dee8;padding-bottom:.2rem;margin-top:2.2rem}
nav a{margin-right:.8rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.88rem}th,td{border:1px solid #d8dee8;padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#f2f5f9}
caption{caption-side:bottom;text-align:left;font-size:.8rem;color:#5a6475;padding-top:.3rem}
.alert{background:#fdecea;border-left:5px solid #c62828;padding:.6rem .8rem;font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:1rem}.chart{margin:0}.chart svg{max-width:100%;height:auto}.chart figcaption{font-size:.8rem;color:#5a6475}
.gallery{display:flex;flex-wrap:wrap;gap:.8rem}.gallery figure{margin:0;width:180px}.gallery img{width:180px;image-rendering:pixelated;border:1px solid #d8dee8}.gallery figcaption{font-size:.75rem}
ul.statements{list-style:none;padding:0}ul.statements li{margin:.35rem 0;padding:.4rem .6rem;border-left:5px solid #999}
ul.statements li.fail{border-color:#c62828;background:#fdecea}ul.statements li.warn{border-color:#ef8f00;background:#fff5e5}ul.statements li.ok{border-color:#2e7d32;background:#edf7ee}ul.statements li.info{border-color:#607d8b;background:#f1f4f6}
.sev{font-weight:700;text-transform:uppercase;font-size:.75rem;margin-right:.5rem}
`;

function block(
  b: Block,
  svgs: ReadonlyMap<string, string>,
  images: Readonly<Record<string, string>>,
): string {
  switch (b.kind) {
    case "p":
      return `<p${b.alert ? ' class="alert"' : ""}>${inline(b.text)}</p>`;
    case "table":
      return `<table>${b.caption ? `<caption>${esc(b.caption)}</caption>` : ""}<thead><tr>${b.head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${b.rows
        .map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join("")}</tr>`)
        .join("")}</tbody></table>`;
    case "charts":
      return `<div class="charts">${b.charts
        .map(
          (c) =>
            `<figure class="chart" data-chart="${esc(c.id)}">${svgs.get(c.id) ?? ""}<figcaption>${esc(c.title)}</figcaption></figure>`,
        )
        .join("")}</div>`;
    case "gallery":
      return b.items.length === 0
        ? "<p>No saliency images.</p>"
        : `<div class="gallery">${b.items
            .map(
              (i) =>
                `<figure><img alt="${esc(i.caption)}" src="${images[i.src] ?? ""}"><figcaption>${esc(i.caption)}</figcaption></figure>`,
            )
            .join("")}</div>`;
    case "statements":
      return `<ul class="statements">${b.items
        .map(
          (s) =>
            `<li class="${s.severity}" data-id="${esc(s.id)}"><span class="sev">${s.severity}</span>${inline(s.text)}</li>`,
        )
        .join("")}</ul>`;
  }
}

export function renderHtml(input: {
  title: string;
  subtitle: string;
  sections: readonly Section[];
  svgs: ReadonlyMap<string, string>;
  images: Readonly<Record<string, string>>;
}): string {
  const nav = input.sections.map((s) => `<a href="#${s.id}">${esc(s.title)}</a>`).join("");
  const body = input.sections
    .map(
      (s) =>
        `<section id="${s.id}"><h2>${esc(s.title)}</h2>${s.blocks.map((b) => block(b, input.svgs, input.images)).join("\n")}</section>`,
    )
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(input.title)}</title><style>${CSS}</style></head>
<body><h1>${esc(input.title)}</h1><p>${esc(input.subtitle)}</p><nav>${nav}</nav>
${body}
</body></html>
`;
}
