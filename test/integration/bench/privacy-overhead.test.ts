import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { majorityMacroF1 } from "../../../bench/privacy-overhead/dp-accuracy.js";
import { type FederationSample, median, summariseOverhead } from "../../../bench/privacy-overhead/summary.js";

/**
 * bench/privacy-overhead.ts --quick: a real 3-site federation each way over loopback gRPC (the
 * coordinator in its own process) and two tiny `fl simulate` runs (no DP, ε = 8), side by side.
 */

const BENCH = fileURLToPath(new URL("../../../bench/privacy-overhead.ts", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "fl-bench-overhead-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const finite = z.number().refine(Number.isFinite, "finite");
const Mode = z.object({
  nonTrainingMs: finite,
  roundMs: finite,
  lastUploadMs: finite,
  unmaskedMs: finite.nullable(),
  clientSentBytes: finite,
  clientReceivedBytes: finite,
  coordinatorPeakRssMiB: finite,
  coordinatorRoundsRssMiB: finite,
});
const Results = z.object({
  bench: z.literal("privacy-overhead"),
  quick: z.literal(true),
  secagg: z.object({
    date: z.string(),
    rows: z.array(
      z.object({
        n: z.number().int(),
        parameters: z.number().int(),
        runs: z.object({ plain: z.number().int(), secagg: z.number().int() }),
        plain: Mode,
        secagg: Mode,
        ratio: z.object({ clientSentBytes: finite, nonTrainingMs: finite }),
      }),
    ),
    failures: z.array(z.string()),
    samples: z.array(
      z.object({ mode: z.enum(["plain", "secagg"]), deltaBytes: z.number().int() }).passthrough(),
    ),
  }),
  dp: z.object({
    rows: z.array(
      z.object({
        epsilonTarget: z.number().nullable(),
        macroF1: z.number().min(0).max(1),
        accuracy: z.number().min(0).max(1),
        majorityMacroF1: z.number().min(0).max(1),
        epsilon: finite.nullable(),
        noiseMultiplier: finite.nullable(),
        noiseToSignal: finite.nullable(),
      }),
    ),
    runs: z.array(
      z.object({ status: z.string(), parameters: z.number().int(), cohort: z.number().int() }).passthrough(),
    ),
  }),
});

let results: z.infer<typeof Results>;
let run: ReturnType<typeof spawnSync>;

beforeAll(() => {
  run = spawnSync(
    process.execPath,
    ["--import", "tsx", BENCH, "--quick", "--dp-parallel", "--results", dir],
    { encoding: "utf8", timeout: 170_000 },
  );
  if (run.status === 0)
    results = Results.parse(JSON.parse(readFileSync(join(dir, "privacy-overhead.json"), "utf8")));
}, 180_000);

describe("bench/privacy-overhead.ts --quick", () => {
  it("runs and writes the JSON and the Markdown tables", () => {
    expect(run.status, String(run.stderr)).toBe(0);
    const md = readFileSync(join(dir, "privacy-overhead.md"), "utf8");
    expect(md).toMatch(/## Secure aggregation vs plain FedAvg/);
    expect(md).toMatch(/\| 3 \| 1,000 \| 1\/1 \|/);
    expect(md).toMatch(/## Differential privacy/);
    expect(md).toMatch(/\| ε = 8 \|/);
    expect(String(run.stdout)).toContain(md.trim());
  });

  it("measures both modes on the wire: the delta is uploaded, secure aggregation sends more", () => {
    const [row] = results.secagg.rows;
    expect(row).toMatchObject({ n: 3, parameters: 1000, runs: { plain: 1, secagg: 1 } });
    if (!row) return;
    // A plain site sends at least its float32 delta; a secure one a ring element a coordinate too,
    // plus its keys, shares and unmasking answer.
    expect(row.plain.clientSentBytes).toBeGreaterThan(4 * 1000);
    expect(row.secagg.clientSentBytes).toBeGreaterThan(row.plain.clientSentBytes);
    expect(row.ratio.clientSentBytes).toBeCloseTo(row.secagg.clientSentBytes / row.plain.clientSentBytes, 12);
    expect(row.ratio.nonTrainingMs).toBeCloseTo(row.secagg.nonTrainingMs / row.plain.nonTrainingMs, 12);
    // The phases lie inside the round; only secure aggregation unmasks.
    for (const mode of [row.plain, row.secagg]) {
      expect(mode.nonTrainingMs).toBeLessThanOrEqual(mode.roundMs);
      expect(mode.lastUploadMs).toBeLessThanOrEqual(mode.roundMs);
      expect(mode.coordinatorRoundsRssMiB).toBeGreaterThanOrEqual(0);
      expect(mode.coordinatorPeakRssMiB).toBeGreaterThan(mode.coordinatorRoundsRssMiB);
    }
    expect(row.plain.unmaskedMs).toBeNull();
    expect(row.secagg.unmaskedMs).toBeGreaterThanOrEqual(row.secagg.lastUploadMs);
    expect(row.secagg.unmaskedMs).toBeLessThanOrEqual(row.secagg.roundMs);
  });

  it("reports DP's ε and noise next to the run without DP", () => {
    const [none, eight] = results.dp.rows;
    expect(none).toMatchObject({
      epsilonTarget: null,
      epsilon: null,
      noiseMultiplier: null,
      noiseToSignal: null,
    });
    expect(eight?.epsilonTarget).toBe(8);
    // The accountant spends the budget it was given, and no more.
    expect(eight?.epsilon).toBeGreaterThan(0);
    expect(eight?.epsilon).toBeLessThanOrEqual(8 + 1e-9);
    const runOf = results.dp.runs[0];
    expect(runOf?.status).toBe("completed");
    const z = eight?.noiseMultiplier as number;
    expect(z).toBeGreaterThan(0);
    expect(eight?.noiseToSignal).toBeCloseTo((z * Math.sqrt(runOf?.parameters as number)) / 3, 9);
  });
});

describe("the benchmark's summaries", () => {
  it("median and majority-class macro-F1, against hand values", () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 10])).toBe(3.5);
    // 10 true of class 1 out of 20, 4 classes: F1 of class 1 = 2·10/(20+10) = 2/3, macro = 1/6.
    const confusion = [
      [3, 1, 0, 0],
      [2, 6, 2, 0],
      [0, 1, 3, 0],
      [0, 1, 0, 1],
    ];
    expect(majorityMacroF1(confusion)).toBeCloseTo(1 / 6, 12);
  });

  it("pairs plain and secure runs per size and takes medians over every round", () => {
    const sample = (mode: "plain" | "secagg", ms: number[], bytes: number): FederationSample => ({
      mode,
      n: 10,
      parameters: 50,
      repetition: 0,
      rounds: ms.map((m, i) => ({
        round: i + 1,
        roundMs: m + 1,
        trainingMs: 1,
        nonTrainingMs: m,
        lastUploadMs: m / 2,
        unmaskedMs: null,
        clientSentBytes: bytes,
        clientReceivedBytes: bytes / 2,
      })),
      coordinatorPeakRssMiB: 100,
      coordinatorStartRssMiB: 90,
      deltaBytes: 200,
    });
    const [row] = summariseOverhead([
      sample("plain", [10, 30], 1000),
      sample("secagg", [40, 50], 1100),
      sample("plain", [20], 1000),
      sample("secagg", [60], 1300),
    ]);
    expect(row?.plain.nonTrainingMs).toBe(20);
    expect(row?.secagg.nonTrainingMs).toBe(50);
    expect(row?.ratio.nonTrainingMs).toBe(2.5);
    expect(row?.secagg.clientSentBytes).toBe(1100);
    expect(row?.ratio.clientSentBytes).toBeCloseTo(1.1, 12);
    expect(row?.plain.coordinatorRoundsRssMiB).toBe(10);
    expect(row?.runs).toEqual({ plain: 2, secagg: 2 });
  });
});
