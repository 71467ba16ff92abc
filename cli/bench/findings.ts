/**
 * The paper's findings that the grid can test, each as a contrast between settings evaluated
 * per seed (same seed = same images and initial weights) and summarised by its mean and 95 %
 * Student-t interval over seeds. Pure: rows in, findings out.
 *
 * Ridzuan et al. (MIUA 2022) pre-train the encoder without labels (MoCo, inpainting), add
 * opacity segmentation as a second task, and report that the fine-grained classes
 * (indeterminate, atypical) stay hard; the project adds federation, hence the baselines.
 */

import { HEADS, type Head, type Init, LABEL_FRACTIONS, settingName } from "./paper-grid.js";
import type { BenchRow, Finding, RunMetrics } from "./paper-results.js";
import { estimate, type PairedEstimate, verdictOf } from "./stats.js";

/** One term of a contrast: weight × the metric of a row, at each seed. */
export interface Term {
  readonly row: string;
  readonly weight: number;
}

type Value = (m: RunMetrics) => number;

/**
 * Σ weight × value per seed, over the seeds at which every term's row has a finite value, then
 * its mean and interval. With terms (a, +1), (b, −1) this is the paired difference a − b.
 */
export function pairedContrast(
  rows: readonly BenchRow[],
  terms: readonly Term[],
  value: Value,
): PairedEstimate {
  const bySeed = terms.map((t) => {
    const row = rows.find((r) => r.name === t.row);
    return new Map((row?.runs ?? []).map((run) => [run.seed, value(run.metrics)]));
  });
  const seeds = [...(bySeed[0]?.keys() ?? [])]
    .filter((s) => bySeed.every((m) => Number.isFinite(m.get(s))))
    .sort((a, b) => a - b);
  const differences = seeds.map((s) =>
    terms.reduce((sum, t, i) => sum + t.weight * (bySeed[i]?.get(s) as number), 0),
  );
  return { ...estimate(differences), seeds, differences };
}

const name = (init: Init, head: Head, labelFraction: number) => settingName({ init, head, labelFraction });

/** The mean over cells of (a − b): each cell contributes +1/k to a and −1/k to b. */
function meanOfDifferences(cells: ReadonlyArray<readonly [string, string]>): Term[] {
  const w = 1 / cells.length;
  return cells.flatMap(([a, b]) => [
    { row: a, weight: w },
    { row: b, weight: -w },
  ]);
}

interface FindingSpec {
  readonly id: string;
  readonly claim: string;
  readonly contrast: string;
  readonly metric: string;
  readonly terms: readonly Term[];
  readonly value: Value;
  /** Whether the same contrast on mAP means anything (not for per-class F1). */
  readonly withMap: boolean;
  readonly caveat?: string;
}

const macroF1: Value = (m) => m.macroF1;
const FRACTION_HEAD = HEADS.flatMap((head) => LABEL_FRACTIONS.map((f) => [head, f] as const));

function pretrainingVsScratch(init: Exclude<Init, "scratch">, label: string): FindingSpec {
  return {
    id: `${init}-vs-scratch`,
    claim: `${label} pre-training beats training from scratch`,
    contrast: `${init} − scratch, averaged over {classification, multi-task} × {10 %, 100 %} labels`,
    metric: "macro-F1",
    terms: meanOfDifferences(FRACTION_HEAD.map(([h, f]) => [name(init, h, f), name("scratch", h, f)])),
    value: macroF1,
    withMap: true,
  };
}

/** The findings, given the best federated setting (for the baselines) when there is one. */
export function findingSpecs(best: string | undefined): FindingSpec[] {
  const [few, all] = [Math.min(...LABEL_FRACTIONS), Math.max(...LABEL_FRACTIONS)];
  const inits = ["moco", "inpaint"] as const;
  const specs: FindingSpec[] = [
    pretrainingVsScratch("moco", "MoCo"),
    pretrainingVsScratch("inpaint", "Inpainting"),
    {
      id: "pretraining-few-labels",
      claim: "Self-supervised pre-training helps more with 10 % of the labels than with 100 %",
      contrast:
        "(pre-trained − scratch at 10 %) − (pre-trained − scratch at 100 %), averaged over {MoCo, inpainting} × {classification, multi-task}",
      metric: "macro-F1",
      terms: inits.flatMap((init) =>
        HEADS.flatMap((h) =>
          [
            [name(init, h, few), 1],
            [name("scratch", h, few), -1],
            [name(init, h, all), -1],
            [name("scratch", h, all), 1],
          ].map(([row, sign]) => ({
            row: row as string,
            weight: (sign as number) / (inits.length * HEADS.length),
          })),
        ),
      ),
      value: macroF1,
      withMap: true,
    },
    {
      id: "multitask-vs-classify",
      claim: "Multi-task training (opacity segmentation alongside) beats classification only",
      contrast: "multi-task − classification only, averaged over {scratch, MoCo, inpainting} × {10 %, 100 %}",
      metric: "macro-F1",
      terms: meanOfDifferences(
        (["scratch", "moco", "inpaint"] as const).flatMap((init) =>
          LABEL_FRACTIONS.map((f) => [name(init, "multitask", f), name(init, "classify", f)] as const),
        ),
      ),
      value: macroF1,
      withMap: true,
    },
    {
      id: "labels-help",
      claim: "All the labels beat 10 % of them (a check that the grid can see a difference at all)",
      contrast: "100 % − 10 %, averaged over {scratch, MoCo, inpainting} × {classification, multi-task}",
      metric: "macro-F1",
      terms: meanOfDifferences(
        (["scratch", "moco", "inpaint"] as const).flatMap((init) =>
          HEADS.map((h) => [name(init, h, all), name(init, h, few)] as const),
        ),
      ),
      value: macroF1,
      withMap: true,
    },
  ];
  if (best === undefined) return specs;
  const selected =
    "the federated setting is the best of the grid by mean macro-F1 on these same seeds, which favours it";
  return [
    ...specs,
    {
      id: "federated-vs-local",
      claim: "Federated training beats each hospital training alone",
      contrast: `${best} federated − local-only (each hospital's model on its own test split, pooled)`,
      metric: "macro-F1",
      terms: meanOfDifferences([[best, `${best} local-only`]]),
      value: macroF1,
      withMap: true,
      caveat: selected,
    },
    {
      id: "centralised-vs-federated",
      claim: "Pooling all hospitals' images centrally beats federated training (the cost of federation)",
      contrast: `${best} centralised − federated`,
      metric: "macro-F1",
      terms: meanOfDifferences([[`${best} centralised`, best]]),
      value: macroF1,
      withMap: true,
      caveat: selected,
    },
    {
      id: "fine-grained-classes-harder",
      claim: "Indeterminate and atypical are harder than negative and typical",
      contrast: `${best}: mean F1 of (negative, typical) − mean F1 of (indeterminate, atypical)`,
      metric: "per-class F1",
      terms: [{ row: best, weight: 1 }],
      value: (m) =>
        ((m.f1.negative ?? Number.NaN) + (m.f1.typical ?? Number.NaN)) / 2 -
        ((m.f1.indeterminate ?? Number.NaN) + (m.f1.atypical ?? Number.NaN)) / 2,
      withMap: false,
    },
  ];
}

/** The findings whose settings were all run; the others are left out rather than reported empty. */
export function paperFindings(rows: readonly BenchRow[], best: string | undefined): Finding[] {
  const present = new Set(rows.map((r) => r.name));
  return findingSpecs(best)
    .filter((spec) => spec.terms.every((t) => present.has(t.row)))
    .map((spec) => {
      const difference = pairedContrast(rows, spec.terms, spec.value);
      const mAP = pairedContrast(rows, spec.terms, (m) => m.mAP);
      return {
        id: spec.id,
        claim: spec.claim,
        contrast: spec.contrast,
        metric: spec.metric,
        difference,
        verdict: verdictOf(difference),
        ...(spec.withMap && { mAP: { difference: mAP, verdict: verdictOf(mAP) } }),
        ...(spec.caveat !== undefined && { caveat: spec.caveat }),
      };
    });
}
