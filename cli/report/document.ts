/**
 * The report's content as sections of neutral blocks (text, tables, charts, images, statements),
 * built once from the numbers and rendered twice, to HTML and to Markdown, so that the two say
 * the same thing.
 */
import type {
  AnalysisReport,
  DisparitySection,
  SaliencySection,
  ShortcutSection,
} from "../../shared/src/analysis/types.js";
import { type Chart, type ChartSection, MAX_CHARTED_SITES } from "./charts.js";
import type { CalibrationRow, Cell, EvaluationRow, ReadinessStatement, RunReport } from "./types.js";

export type Block =
  | { readonly kind: "p"; readonly text: string; readonly alert?: boolean }
  | {
      readonly kind: "table";
      readonly head: readonly string[];
      readonly rows: readonly (readonly string[])[];
      readonly caption?: string;
    }
  | { readonly kind: "charts"; readonly charts: readonly Chart[] }
  | {
      readonly kind: "gallery";
      readonly items: ReadonlyArray<{ readonly src: string; readonly caption: string }>;
    }
  | { readonly kind: "statements"; readonly items: readonly ReadinessStatement[] };

export interface Section {
  readonly id: string;
  readonly title: string;
  readonly blocks: readonly Block[];
}

/** The section headings, in order: every report has all of them (a missing part says why). */
export const SECTION_TITLES = {
  overview: "Overview",
  readiness: "Deploy-readiness",
  curves: "Learning curves",
  final: "Final evaluation",
  confusion: "Confusion matrices",
  rocpr: "ROC and precision-recall curves",
  calibration: "Calibration",
  central: "Central evaluation",
  saliency: "Saliency",
  shortcuts: "Shortcut and site tests",
  privacy: "Privacy",
} as const;

export const f3 = (x: number | null | undefined): string =>
  x === null || x === undefined || !Number.isFinite(x) ? "n/a" : x.toFixed(3);

export function formatCell(c: Cell | null): string {
  if (c === null) return "n/a";
  if (c.interval) return `${f3(c.value)} [${f3(c.interval.low)}, ${f3(c.interval.high)}]`;
  return `${f3(c.value)} (${c.note ?? "no interval"})`;
}

function chartsOf(all: readonly Chart[], section: ChartSection): Block[] {
  const charts = all.filter((c) => c.section === section);
  return charts.length > 0 ? [{ kind: "charts", charts }] : [];
}

/** The line that stands for the sites beyond MAX_CHARTED_SITES, whose numbers stay in report.json. */
function notCharted(sites: number, what: string): Block[] {
  const more = sites - MAX_CHARTED_SITES;
  return more > 0
    ? [
        {
          kind: "p",
          text: `${more} more sites' ${what} are in report.json (the first ${MAX_CHARTED_SITES} are drawn).`,
        },
      ]
    : [];
}

function evaluationTable(rows: readonly EvaluationRow[], classes: readonly string[]): Block {
  return {
    kind: "table",
    head: ["", "images", "accuracy", "macro-F1", ...classes.map((c) => `F1 ${c}`), "macro ROC-AUC", "mAP"],
    rows: rows.map((r) => [
      r.name,
      String(r.images),
      formatCell(r.accuracy),
      formatCell(r.macroF1),
      ...r.f1.map(formatCell),
      formatCell(r.macroAuc),
      formatCell(r.mAP),
    ]),
    caption:
      'Point estimate with its 95 % bootstrap interval [low, high]; "no interval" where the sites sent no bootstrap replicates, "n = 1" where there was a single one.',
  };
}

export function buildDocument(
  report: RunReport,
  charts: readonly Chart[],
  images: Readonly<Record<string, string>>,
): Section[] {
  const o = report.overview;
  const f = report.final;
  const sections: Section[] = [];
  const missing = (text: string): Block => ({ kind: "p", text });

  sections.push({
    id: "overview",
    title: SECTION_TITLES.overview,
    blocks: [
      { kind: "p", text: o.status, alert: !o.completed },
      {
        kind: "table",
        head: ["federation", "model", "plan", "strategy", "evaluated every", "duration"],
        rows: [
          [
            o.federationId,
            o.architecture ?? "?",
            o.phases.length > 0
              ? o.phases.map((p) => `${p.name}${p.task ? ` (${p.task})` : ""}: ${p.rounds} rounds`).join("; ")
              : `${o.lastCommittedRound} rounds committed`,
            o.strategy ?? "?",
            o.evaluateEvery === null ? "?" : `${o.evaluateEvery} rounds`,
            o.durationSec === null ? "?" : `${o.durationSec.toFixed(1)} s`,
          ],
        ],
      },
      {
        kind: "table",
        head: ["site", "backend", "training images per class"],
        rows: o.sites.map((s) => [
          s.site,
          s.backend ?? "?",
          s.trainClassCounts ? s.trainClassCounts.join(" / ") : "?",
        ]),
        caption: `Class order: ${report.classes.join(" / ")}.`,
      },
    ],
  });

  sections.push({
    id: "readiness",
    title: SECTION_TITLES.readiness,
    blocks: [{ kind: "statements", items: report.readiness }],
  });

  sections.push({
    id: "curves",
    title: SECTION_TITLES.curves,
    blocks: [
      ...chartsOf(charts, "curves"),
      {
        kind: "table",
        head: ["round", "phase", "accepted", "failures", "train loss", "pooled accuracy", "pooled macro-F1"],
        rows: report.curves.rounds.map((r) => {
          const at = (metric: string) =>
            report.curves.evaluation.find(
              (p) => p.round === r.round && p.who === "pooled" && p.metric === metric,
            )?.value;
          const acc = at("accuracy");
          const mf1 = at("macroF1");
          return [
            String(r.round),
            r.phase,
            String(r.accepted),
            String(r.failures),
            r.trainLoss === null ? "" : r.trainLoss.toFixed(4),
            acc === undefined ? "" : f3(acc),
            mf1 === undefined ? "" : f3(mf1),
          ];
        }),
      },
    ],
  });

  sections.push({
    id: "final",
    title: SECTION_TITLES.final,
    blocks: f
      ? [
          {
            kind: "p",
            text: f.isFinalModel
              ? `The final model (v${f.modelVersion}, round ${f.round}) on each site's test split and pooled.`
              : `NOT a final model: the last evaluated model (v${f.modelVersion}, round ${f.round}) of a run that did not complete.`,
            alert: !f.isFinalModel,
          },
          evaluationTable(f.rows, report.classes),
          ...(f.ranking
            ? [
                missing(
                  `Ranking metrics are site means weighted by test images (the sites sent no score statistics): macro ROC-AUC ${f3(f.ranking.macroAuc)}, mAP ${f3(f.ranking.mAP)}.`,
                ),
              ]
            : []),
          ...(f.segmentation
            ? [
                missing(
                  `Opacity masks: Dice ${f3(f.segmentation.globalDice)} (pooled pixels), mean per-image Dice ${f3(f.segmentation.meanDice)}, IoU ${f3(f.segmentation.globalIou)}.`,
                ),
              ]
            : []),
        ]
      : [missing("No model of this run was evaluated.")],
  });

  sections.push({
    id: "confusion",
    title: SECTION_TITLES.confusion,
    blocks: f
      ? [...chartsOf(charts, "confusion"), ...notCharted(f.confusion.length - 1, "confusion matrices")]
      : [missing("No evaluation, so no confusion matrix.")],
  });

  const stats = f?.pooledStatistics;
  sections.push({
    id: "rocpr",
    title: SECTION_TITLES.rocpr,
    blocks: stats
      ? [
          ...chartsOf(charts, "curves-roc-pr"),
          {
            kind: "table",
            head: ["class", "ROC-AUC", "± binning", "AP", "± binning"],
            rows: report.classes.map((c, i) => [
              c,
              f3(stats.auc[i]?.value),
              f3(stats.auc[i]?.errorBound),
              f3(stats.ap[i]?.value),
              f3(stats.ap[i]?.errorBound),
            ]),
            caption: `Pooled from the sites' score histograms at resolution ${stats.resolution}; "± binning" is how far the exact value can be from the binned one.`,
          },
        ]
      : [
          missing(
            "Not available: the sites sent no score statistics with their evaluations, so no pooled ROC or PR curve can be formed.",
          ),
        ],
  });

  sections.push({
    id: "calibration",
    title: SECTION_TITLES.calibration,
    blocks:
      f && f.calibration.length > 0
        ? [
            ...chartsOf(charts, "calibration"),
            ...notCharted(Object.keys(f.siteStatistics).length, "reliability curves"),
            {
              kind: "table",
              head: ["", "images", "ECE", "adaptive ECE", "MCE", "Brier", "NLL"],
              rows: f.calibration.map((c) => [
                c.name,
                String(c.images),
                f3(c.ece),
                f3(c.adaptiveEce),
                f3(c.mce),
                f3(c.brier),
                f3(c.nll),
              ]),
              caption:
                "ECE and MCE over 20 equal-width bins of the top-label confidence; adaptive ECE over 20 equal-mass bins; Brier is the multi-class score (0 best, 2 worst).",
            },
            ...temperatureBlocks(f.calibration),
          ]
        : [
            missing(
              "Not measured: the sites sent no score statistics, so ECE, Brier and reliability diagrams cannot be computed.",
            ),
          ],
  });

  const c = report.central;
  sections.push({
    id: "central",
    title: SECTION_TITLES.central,
    blocks: c
      ? [
          { kind: "p", text: `The coordinator's own test set (${c.siteId}), evaluated at round ${c.round}.` },
          evaluationTable([c.row], report.classes),
          ...chartsOf(charts, "central"),
        ]
      : [missing("Not configured: the coordinator held no test set of its own in this run.")],
  });

  const a = report.analysis;
  const analysisMissing =
    a === null
      ? "No analysis: run `fl analyse RUN`, then `fl report RUN`."
      : "error" in a
        ? `The analysis could not be read: ${a.error}`
        : undefined;
  const analysed = analysisMissing === undefined ? (a as AnalysisReport) : undefined;
  // An analysis left from before a resumed run may be of an older model than the one reported.
  const stale = analysed !== undefined && f !== null && analysed.model.version !== f.modelVersion;
  const about: Block[] = analysed
    ? [
        {
          kind: "p",
          text: `Analysis of model v${analysed.model.version} (${analysed.model.architecture}, sha256 ${analysed.model.sha256.slice(0, 12)}…), made ${analysed.createdAt}.${stale ? ` It is NOT the evaluated model (v${f?.modelVersion}): run \`fl analyse RUN\` again.` : ""}`,
          alert: stale,
        },
      ]
    : [];
  sections.push({
    id: "saliency",
    title: SECTION_TITLES.saliency,
    blocks: analysed
      ? [...about, ...saliencyBlocks(analysed.saliency, charts, images)]
      : [missing(analysisMissing ?? "")],
  });
  sections.push({
    id: "shortcuts",
    title: SECTION_TITLES.shortcuts,
    blocks: analysed
      ? [...about, ...shortcutBlocks(analysed.shortcuts, analysed.disparities, charts)]
      : [missing(analysisMissing ?? "")],
  });

  const p = report.privacy;
  sections.push({
    id: "privacy",
    title: SECTION_TITLES.privacy,
    blocks: [
      {
        kind: "p",
        text: "No image and no per-image score left any site. What each site sent the coordinator:",
      },
      {
        kind: "table",
        head: [
          "site",
          "model updates (accepted / rejected)",
          "update bytes",
          "training images declared",
          "training metrics",
          "evaluations",
          "evaluation content",
        ],
        rows: p.traffic.map((t) => [
          t.site,
          `${t.updatesAccepted} / ${t.updatesRejected}`,
          t.updateBytes.toLocaleString("en-US"),
          String(t.trainExamplesDeclared),
          t.trainMetricKeys.join(", ") || "none",
          String(t.evaluations),
          [
            `confusion matrix (${report.classes.length}×${report.classes.length} counts)`,
            ...(t.evaluationMetricKeys.length > 0 ? [`metrics: ${t.evaluationMetricKeys.join(", ")}`] : []),
            ...(t.histogramBins > 0
              ? [
                  `score histograms (${report.classes.length} classes × ${t.histogramBins} bins) and confidence bins`,
                ]
              : []),
            ...(t.bootstrapReplicates > 0 ? [`${t.bootstrapReplicates} bootstrap replicates`] : []),
            ...(t.temperatureScan ? ["a temperature scan"] : []),
          ].join("; "),
        ]),
      },
      { kind: "p", text: `Differential privacy: ${p.differentialPrivacy}.` },
      { kind: "p", text: `Secure aggregation: ${p.secureAggregation}.` },
      ...(p.epsilon.length > 0
        ? [
            ...chartsOf(charts, "privacy"),
            {
              kind: "table",
              head: ["round", "ε"],
              rows: p.epsilon.map((e) => [String(e.round), f3(e.epsilon)]),
            } as Block,
          ]
        : [missing("No round recorded a privacy budget (privacy.epsilon): there is no ε to show.")]),
    ],
  });
  return sections;
}

function temperatureBlocks(rows: readonly CalibrationRow[]): Block[] {
  const withT = rows.filter((r) => r.temperature);
  if (withT.length === 0)
    return [{ kind: "p", text: "Temperature scaling: not fitted (the sites sent no temperature scan)." }];
  return [
    {
      kind: "table",
      head: ["", "fitted T", "ECE before → after", "Brier before → after", "NLL before → after"],
      rows: withT.map((r) => {
        const t = r.temperature as NonNullable<typeof r.temperature>;
        return [
          r.name,
          t.fitted.toFixed(2),
          `${f3(t.before.ece)} → ${f3(t.after.ece)}`,
          `${f3(t.before.brier)} → ${f3(t.after.brier)}`,
          `${f3(t.before.nll)} → ${f3(t.after.nll)}`,
        ];
      }),
      caption:
        "Federated temperature scaling: T fitted on the sites' validation splits, applied to their test splits.",
    },
  ];
}

function saliencyBlocks(
  s: SaliencySection | { skipped: string } | undefined,
  charts: readonly Chart[],
  images: Readonly<Record<string, string>>,
): Block[] {
  if (s === undefined) return [{ kind: "p", text: "The analysis has no saliency section." }];
  if ("skipped" in s) return [{ kind: "p", text: `Skipped: ${s.skipped}` }];
  const last = s.sanity.at(-1);
  return [
    {
      kind: "p",
      text: `Grad-CAM on layer ${s.layer}. Sanity check (Adebayo et al. 2018, cascading randomisation): ${s.sanityPassed ? "PASSED" : "FAILED"}${last ? `, mean Spearman ρ ${f3(last.meanSpearman)} over ${last.images} images with ${last.randomisedUpTo} re-initialised` : ""}.`,
      alert: !s.sanityPassed,
    },
    {
      kind: "gallery",
      items: s.gallery.flatMap((g) => {
        const caption = `${g.site}: map for ${g.classKey} (true ${g.trueClassKey}, predicted ${g.predictedClassKey})`;
        return [
          ...(images[g.png] ? [{ src: g.png, caption }] : []),
          ...(g.decoderPng && images[g.decoderPng]
            ? [{ src: g.decoderPng, caption: `${caption}, decoder` }]
            : []),
        ];
      }),
    },
    ...chartsOf(charts, "saliency"),
    {
      kind: "table",
      head: ["re-initialised up to", "mean Spearman ρ", "images"],
      rows: s.sanity.map((x) => [x.randomisedUpTo, f3(x.meanSpearman), String(x.images)]),
    },
    ...(s.pointing && s.pointing.length > 0
      ? [
          {
            kind: "table",
            head: [
              "class",
              "images",
              "saliency mass inside boxes",
              "chance (box area)",
              "pointing-game hit rate",
            ],
            rows: s.pointing.map((x) => [
              x.classKey,
              String(x.images),
              f3(x.massInside),
              f3(x.chance),
              f3(x.hitRate),
            ]),
          } as Block,
        ]
      : [{ kind: "p", text: "Pointing game: not measured (no opacity masks in this data)." } as Block]),
  ];
}

function shortcutBlocks(
  s: ShortcutSection | { skipped: string } | undefined,
  d: DisparitySection | { skipped: string } | undefined,
  charts: readonly Chart[],
): Block[] {
  const blocks: Block[] = [...chartsOf(charts, "shortcuts")];
  if (s === undefined) blocks.push({ kind: "p", text: "The analysis has no shortcut section." });
  else if ("skipped" in s) blocks.push({ kind: "p", text: `Shortcut tests skipped: ${s.skipped}` });
  else {
    blocks.push({
      kind: "table",
      head: ["site", "condition", "images", "accuracy", "macro-F1"],
      rows: s.markers.map((m) => [
        m.site,
        m.condition === "swapped" ? `swapped (markers of ${m.from ?? "?"})` : m.condition,
        String(m.images),
        f3(m.accuracy),
        f3(m.macroF1),
      ]),
    });
    const p = s.siteProbe;
    blocks.push({
      kind: "p",
      text: `Site probe: a linear probe on the encoder's ${p.features} features names the hospital of held-out images with accuracy ${f3(p.accuracy)} (chance ${f3(p.chance)}; trained on ${p.trainImages}, tested on ${p.testImages} images).`,
    });
  }
  if (d === undefined) blocks.push({ kind: "p", text: "The analysis has no disparity section." });
  else if ("skipped" in d) blocks.push({ kind: "p", text: `Disparities skipped: ${d.skipped}` });
  else {
    blocks.push({
      kind: "p",
      text: `Disparities (${d.metric}): best ${d.best.site} ${f3(d.best.value)}, worst ${d.worst.site} ${f3(d.worst.value)}; hardest classes: ${d.hardestClasses.join(", ") || "none"}.`,
    });
    const sites = [...new Set(d.perClass.flatMap((c) => Object.keys(c.bySite)))].sort();
    blocks.push({
      kind: "table",
      head: ["class", ...sites, "pooled"],
      rows: d.perClass.map((c) => [c.classKey, ...sites.map((x) => f3(c.bySite[x])), f3(c.pooled)]),
    });
  }
  return blocks;
}
