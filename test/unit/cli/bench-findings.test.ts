import { describe, expect, it } from "vitest";
import { pairedContrast, paperFindings } from "../../../cli/bench/findings.js";
import { federatedGrid, scaledSizes, settingName } from "../../../cli/bench/paper-grid.js";
import type { BenchRow, RunMetrics } from "../../../cli/bench/paper-results.js";
import { renderFindings, renderTable } from "../../../cli/bench/paper-table.js";

const SEEDS = [1, 2, 3, 4, 5];

function metrics(macroF1: number, mAP = macroF1): RunMetrics {
  return {
    macroF1,
    accuracy: macroF1,
    mAP,
    macroAuc: Number.NaN,
    dice: Number.NaN,
    f1: { negative: 0.6, typical: 0.7, indeterminate: 0.1 + macroF1 / 10, atypical: 0 },
  };
}

/**
 * A grid with known effects: MoCo adds 0.05 everywhere, inpainting adds noise that averages to
 * 0, multi-task subtracts 0.1, 100 % of the labels add 0.2; each seed shifts everything by a
 * large seed effect that pairing must cancel.
 */
function syntheticRows(): BenchRow[] {
  const seedEffect = (s: number) => s * 0.03;
  // Mean 0 over the five seeds.
  const noise = (s: number) => [0.004, -0.004, 0.003, -0.003, 0][s - 1] as number;
  const rows: BenchRow[] = federatedGrid().map((setting) => ({
    name: settingName(setting),
    kind: "federated",
    runs: SEEDS.map((seed) => {
      const value =
        0.2 +
        seedEffect(seed) +
        (setting.init === "moco" ? 0.05 : 0) +
        (setting.init === "inpaint" ? noise(seed) : 0) +
        (setting.head === "multitask" ? -0.1 : 0) +
        (setting.labelFraction === 1 ? 0.2 : 0);
      return { seed, metrics: metrics(value), seconds: 1, reused: false };
    }),
  }));
  const best = "moco-cls-100pct";
  const bestRow = rows.find((r) => r.name === best) as BenchRow;
  const shifted = (name: string, kind: BenchRow["kind"], by: number): BenchRow => ({
    name,
    kind,
    runs: bestRow.runs.map((r) => ({ ...r, metrics: metrics(r.metrics.macroF1 + by) })),
  });
  rows.push(
    shifted(`${best} centralised`, "centralised", 0.07),
    shifted(`${best} local-only`, "local-only", -0.2),
  );
  return rows;
}

/** A second implementation: per seed, the mean over matched cells of a − b, in plain loops. */
function cellDifferences(rows: BenchRow[], a: (n: string) => string | undefined): number[] {
  const f1 = (name: string, seed: number) =>
    rows.find((r) => r.name === name)?.runs.find((r) => r.seed === seed)?.metrics.macroF1 as number;
  return SEEDS.map((seed) => {
    const diffs: number[] = [];
    for (const row of rows) {
      const other = a(row.name);
      if (other !== undefined) diffs.push(f1(other, seed) - f1(row.name, seed));
    }
    return diffs.reduce((x, y) => x + y, 0) / diffs.length;
  });
}

describe("the paper's findings", () => {
  const rows = syntheticRows();
  const findings = paperFindings(rows, "moco-cls-100pct");
  const byId = (id: string) => {
    const f = findings.find((x) => x.id === id);
    if (!f) throw new Error(`no finding ${id}`);
    return f;
  };

  it("are all tested when the whole grid and the baselines ran", () => {
    expect(findings.map((f) => f.id)).toEqual([
      "moco-vs-scratch",
      "inpaint-vs-scratch",
      "pretraining-few-labels",
      "multitask-vs-classify",
      "labels-help",
      "federated-vs-local",
      "centralised-vs-federated",
      "fine-grained-classes-harder",
    ]);
  });

  it("hold, do not hold, or cannot be told apart, with the planted effects as differences", () => {
    const moco = byId("moco-vs-scratch");
    expect(moco.difference.n).toBe(5);
    expect(moco.difference.mean).toBeCloseTo(0.05, 10);
    expect(moco.verdict).toBe("holds");
    expect(moco.mAP?.verdict).toBe("holds");
    expect(byId("inpaint-vs-scratch").difference.mean).toBeCloseTo(0, 12);
    expect(byId("inpaint-vs-scratch").verdict).toBe("cannot be told apart");
    expect(byId("multitask-vs-classify").difference.mean).toBeCloseTo(-0.1, 10);
    expect(byId("multitask-vs-classify").verdict).toBe("does not hold");
    expect(byId("labels-help").difference.mean).toBeCloseTo(0.2, 10);
    expect(byId("federated-vs-local").difference.mean).toBeCloseTo(0.2, 10);
    expect(byId("federated-vs-local").caveat).toMatch(/best of the grid/);
    expect(byId("centralised-vs-federated").verdict).toBe("holds");
    // The planted effects are additive, so pre-training helps equally at both label fractions.
    expect(byId("pretraining-few-labels").difference.mean).toBeCloseTo(0, 12);
    expect(byId("pretraining-few-labels").verdict).toBe("cannot be told apart");
    // negative/typical mean 0.65 vs indeterminate/atypical mean (0.1 + F1/10) / 2.
    expect(byId("fine-grained-classes-harder").verdict).toBe("holds");
    expect(byId("fine-grained-classes-harder").mAP).toBeUndefined();
  });

  it("match a plain per-seed computation of the inpainting contrast", () => {
    const expected = cellDifferences(rows, (n) =>
      n.startsWith("scratch-") && !n.includes(" ") ? n.replace("scratch-", "inpaint-") : undefined,
    );
    const inpaint = byId("inpaint-vs-scratch").difference;
    expect(inpaint.seeds).toEqual(SEEDS);
    inpaint.differences.forEach((d, i) => {
      expect(d).toBeCloseTo(expected[i] as number, 12);
    });
  });

  it("pair a two-term contrast exactly like a difference of two rows", () => {
    const a = rows[0] as BenchRow;
    const b = rows[1] as BenchRow;
    const c = pairedContrast(
      rows,
      [
        { row: a.name, weight: 1 },
        { row: b.name, weight: -1 },
      ],
      (m) => m.macroF1,
    );
    expect(c.differences).toEqual(
      a.runs.map((r, i) => r.metrics.macroF1 - (b.runs[i]?.metrics.macroF1 ?? 0)),
    );
  });

  it("leave out findings whose settings did not run, and the baselines' without baselines", () => {
    const some = rows.filter((r) => r.name.startsWith("scratch-") || r.name.startsWith("moco-"));
    expect(paperFindings(some, undefined).map((f) => f.id)).toEqual(["moco-vs-scratch"]);
  });

  it("are written as a Markdown table with numbers, verdicts and the caveat", () => {
    const md = renderFindings(findings);
    expect(md).toContain("| MoCo pre-training beats training from scratch | macro-F1 | 5 | +0.050 |");
    expect(md).toContain("**does not hold**");
    expect(md).toContain("**cannot be told apart**");
    expect(md).toMatch(/\[1\] the federated setting is the best/);
  });
});

describe("the per-setting table", () => {
  it("prints a 95 % interval over seeds, and n = 1 rather than a zero spread for one seed", () => {
    const one: BenchRow = {
      name: "scratch-cls-100pct",
      kind: "federated",
      runs: [{ seed: 1, metrics: metrics(0.315), seconds: 1, reused: false }],
    };
    const table = renderTable([one], scaledSizes(0.05), 60);
    expect(table).toContain("| scratch-cls-100pct | 1 | 0.315 (n = 1) |");
    expect(table).not.toContain("± 0.000");
    expect(table).toContain("1 seed,");
    const five = renderTable(syntheticRows().slice(0, 1), scaledSizes(1), 60);
    // scratch-cls-10pct: 0.2 + 0.03 s for s = 1..5 → mean 0.29, sd 0.03 √2.5, half 2.776445 × sd / √5
    const half = (2.776445 * 0.03 * Math.sqrt(2.5)) / Math.sqrt(5);
    expect(five).toContain(`| scratch-cls-10pct | 5 | 0.290 ± ${half.toFixed(3)} |`);
  });
});
