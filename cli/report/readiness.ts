/**
 * Deploy-readiness: the failure modes a run's numbers show, stated plainly, each with the number
 * behind it. Pure; the thresholds are named so a reader of the report can see where a line is drawn.
 */
import type { AnalysisReport } from "../../shared/src/analysis/types.js";
import type { ReadinessStatement } from "./types.js";

export const THRESHOLDS = {
  /** A class below this pooled F1 is called hard. */
  hardClassF1: 0.5,
  /** Top-label ECE above this is called miscalibrated. */
  ece: 0.1,
  /** A 95 % interval of macro-F1 wider than this cannot tell apart models a deployment decision must. */
  intervalWidth: 0.1,
  /** Best minus worst site's macro-F1 above this is a disparity. */
  siteGap: 0.1,
  /** An accuracy drop above this when markers are removed or swapped is shortcut reliance. */
  shortcutDrop: 0.05,
  /** A site probe this far above chance says the features encode the hospital. */
  probeAboveChance: 0.1,
} as const;

export interface ReadinessInput {
  readonly completed: boolean;
  readonly lastCommittedRound: number;
  readonly plannedRounds: number | null;
  /** Pooled per-class F1 of the evaluated model; null when no model was evaluated. */
  readonly classF1: ReadonlyArray<{ readonly name: string; readonly f1: number }> | null;
  readonly calibration: {
    readonly ece: number;
    readonly temperature?: { readonly fitted: number; readonly after: { readonly ece: number } };
  } | null;
  readonly macroF1: { readonly value: number; readonly low?: number; readonly high?: number } | null;
  readonly siteMacroF1: Readonly<Record<string, number>>;
  readonly analysis: AnalysisReport | { readonly error: string } | null;
}

const f3 = (x: number) => x.toFixed(3);

export function readinessStatements(input: ReadinessInput): ReadinessStatement[] {
  const out: ReadinessStatement[] = [];
  const t = THRESHOLDS;

  if (!input.completed)
    out.push({
      id: "stopped-early",
      severity: "fail",
      text: `The run stopped early, after committed round ${input.lastCommittedRound}${input.plannedRounds === null ? "" : ` of ${input.plannedRounds}`}: there is no final model, and every number here is of the last committed one.`,
      value: input.lastCommittedRound,
    });

  if (input.classF1 === null) {
    out.push({
      id: "no-evaluation",
      severity: "fail",
      text: "No model of this run was evaluated: nothing here says how well it works.",
      value: null,
    });
  } else {
    const hard = input.classF1.filter((c) => c.f1 < t.hardClassF1);
    for (const c of hard)
      out.push({
        id: `hard-class.${c.name}`,
        severity: c.f1 === 0 ? "fail" : "warn",
        text:
          c.f1 === 0
            ? `${c.name}: F1 0.000 pooled, the model never gets this class right; it must not be used to find it.`
            : `${c.name}: F1 ${f3(c.f1)} pooled (below ${t.hardClassF1}), a hard class the model often misses or confuses.`,
        value: c.f1,
      });
    if (hard.length === 0 && input.classF1.length > 0) {
      const lowest = input.classF1.reduce((a, b) => (b.f1 < a.f1 ? b : a));
      out.push({
        id: "hard-class",
        severity: "ok",
        text: `Every class has pooled F1 of at least ${t.hardClassF1}; the lowest is ${lowest.name} (${f3(lowest.f1)}).`,
        value: lowest.f1,
      });
    }
  }

  if (input.calibration === null) {
    out.push({
      id: "calibration",
      severity: "info",
      text: "Calibration was not measured: the sites sent no score statistics, so confidences cannot be trusted or checked.",
      value: null,
    });
  } else {
    const { ece, temperature } = input.calibration;
    const after = temperature
      ? ` Temperature scaling (T = ${temperature.fitted.toFixed(2)}, fitted on validation splits) gives ECE ${f3(temperature.after.ece)}.`
      : "";
    out.push(
      ece > t.ece
        ? {
            id: "calibration",
            severity: "warn",
            text: `Confidences are miscalibrated: ECE ${f3(ece)} (above ${t.ece}), a stated probability is off by ${(ece * 100).toFixed(1)} points on average.${after}`,
            value: ece,
          }
        : {
            id: "calibration",
            severity: "ok",
            text: `Confidences are calibrated to ECE ${f3(ece)} (at most ${t.ece}).${after}`,
            value: ece,
          },
    );
  }

  const m = input.macroF1;
  if (m !== null) {
    if (m.low === undefined || m.high === undefined) {
      out.push({
        id: "interval",
        severity: "info",
        text: `Macro-F1 ${f3(m.value)} has no interval (n = 1): the sites sent no bootstrap replicates, so its uncertainty is unknown.`,
        value: null,
      });
    } else {
      const width = m.high - m.low;
      out.push(
        width > t.intervalWidth
          ? {
              id: "interval",
              severity: "warn",
              text: `The 95 % interval of macro-F1 is [${f3(m.low)}, ${f3(m.high)}], ${f3(width)} wide: too few test images to tell this model from one ${f3(width / 2)} better or worse.`,
              value: width,
            }
          : {
              id: "interval",
              severity: "ok",
              text: `The 95 % interval of macro-F1 is [${f3(m.low)}, ${f3(m.high)}] (${f3(width)} wide).`,
              value: width,
            },
      );
    }
  }

  const sites = Object.entries(input.siteMacroF1);
  if (sites.length > 1) {
    const best = sites.reduce((a, b) => (b[1] > a[1] ? b : a));
    const worst = sites.reduce((a, b) => (b[1] < a[1] ? b : a));
    const gap = best[1] - worst[1];
    out.push({
      id: "site-gap",
      severity: gap > t.siteGap ? "warn" : "ok",
      text:
        gap > t.siteGap
          ? `The model works unevenly across hospitals: macro-F1 ${f3(worst[1])} at ${worst[0]} against ${f3(best[1])} at ${best[0]} (gap ${f3(gap)}).`
          : `Hospitals are served alike: macro-F1 from ${f3(worst[1])} (${worst[0]}) to ${f3(best[1])} (${best[0]}), gap ${f3(gap)}.`,
      value: gap,
    });
  }

  const a = input.analysis;
  if (a === null) {
    out.push({
      id: "analysis",
      severity: "info",
      text: "No saliency or shortcut analysis: run `fl analyse RUN` and then `fl report RUN`.",
      value: null,
    });
  } else if ("error" in a) {
    out.push({
      id: "analysis",
      severity: "info",
      text: `The analysis could not be read (${a.error}): saliency and shortcut reliance are unknown.`,
      value: null,
    });
  } else {
    out.push(...analysisStatements(a));
  }
  return out;
}

function analysisStatements(a: AnalysisReport): ReadinessStatement[] {
  const out: ReadinessStatement[] = [];
  const t = THRESHOLDS;
  if (a.saliency && !("skipped" in a.saliency)) {
    const s = a.saliency;
    const last = s.sanity.at(-1);
    const rho = last
      ? ` (Spearman ρ ${f3(last.meanSpearman)} with ${last.randomisedUpTo} re-initialised)`
      : "";
    out.push(
      s.sanityPassed
        ? {
            id: "saliency-sanity",
            severity: "ok",
            text: `The saliency maps pass the randomisation sanity check${rho}: they depend on the learned weights.`,
            value: last?.meanSpearman ?? null,
          }
        : {
            id: "saliency-sanity",
            severity: "fail",
            text: `The saliency maps FAIL the randomisation sanity check${rho}: they barely change when the weights are randomised, so they do not explain this model.`,
            value: last?.meanSpearman ?? null,
          },
    );
  }
  if (a.shortcuts && !("skipped" in a.shortcuts)) {
    const { markers, siteProbe } = a.shortcuts;
    let worst: { site: string; drop: number; asIs: number; other: number; how: string } | undefined;
    for (const asIs of markers.filter((m) => m.condition === "as-is")) {
      for (const m of markers.filter((x) => x.site === asIs.site && x.condition !== "as-is")) {
        const drop = asIs.accuracy - m.accuracy;
        if (worst === undefined || drop > worst.drop)
          worst = {
            site: asIs.site,
            drop,
            asIs: asIs.accuracy,
            other: m.accuracy,
            how:
              m.condition === "removed"
                ? "its markers are removed"
                : `its markers are swapped for ${m.from ?? "another site"}'s`,
          };
      }
    }
    if (worst)
      out.push({
        id: "shortcut",
        severity: worst.drop > t.shortcutDrop ? "warn" : "ok",
        text:
          worst.drop > t.shortcutDrop
            ? `The model leans on site markers: accuracy at ${worst.site} falls from ${f3(worst.asIs)} to ${f3(worst.other)} when ${worst.how}.`
            : `Removing or swapping site markers costs at most ${f3(Math.max(worst.drop, 0))} accuracy (${worst.site}, when ${worst.how}).`,
        value: worst.drop,
      });
    const above = siteProbe.accuracy - siteProbe.chance;
    out.push({
      id: "site-probe",
      severity: above > t.probeAboveChance ? "warn" : "ok",
      text:
        above > t.probeAboveChance
          ? `The encoder's features tell the hospitals apart: a linear probe names the site with accuracy ${f3(siteProbe.accuracy)} against ${f3(siteProbe.chance)} by chance.`
          : `A linear probe names the site with accuracy ${f3(siteProbe.accuracy)}, near chance (${f3(siteProbe.chance)}).`,
      value: siteProbe.accuracy,
    });
  }
  return out;
}
