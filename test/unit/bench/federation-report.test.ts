import { describe, expect, it } from "vitest";
import { formatParameters, splitTable, targets } from "../../../bench/federation/report.js";
import type { RunResult } from "../../../bench/federation/run.js";
import type { RoundSplit } from "../../../bench/federation/split.js";

const MiB = 2 ** 20;

const summary: RoundSplit = {
  round: 1,
  downloadMs: 100,
  trainingMs: 1000,
  sealingMs: 50,
  uploadMs: 120,
  openingMs: 40,
  verificationMs: 10,
  aggregationMs: 5,
  checkpointMs: 20,
  evaluationMs: 30,
  roundMs: 1400,
  nonTrainingMs: 400,
  nonTrainingShare: 400 / 1400,
  downloadBytesPerSec: 95 * MiB,
  uploadBytesPerSec: 50 * MiB,
};

function result(parameters: number, clients: number, overrides: Partial<RunResult> = {}): RunResult {
  return {
    config: { parameters, clients, tls: false, rounds: 2, trainingMs: 1000, uploadsTogether: true },
    modelBytes: 4 * parameters,
    rounds: [summary],
    summary,
    raw: { downloadBytesPerSec: 100 * MiB, uploadBytesPerSec: 100 * MiB },
    coordinatorPeakRssBytes: 300 * MiB,
    coordinatorMaxEventLoopDelayMs: 12,
    ...overrides,
  };
}

describe("targets", () => {
  it("judges transfer in every run, overhead only at 11M × 3 and memory only at 25 clients", () => {
    const { rows, notMeasured } = targets([
      result(11_000_000, 3),
      // 25M parameters = 100 MB model: limit 3 × 95.4 + 200 MiB ≈ 486 MiB, 600 MiB is over.
      result(25_000_000, 25, { coordinatorPeakRssBytes: 600 * MiB }),
    ]);
    expect(notMeasured).toEqual([]);
    const byTarget = (prefix: string) => rows.filter((r) => r.target.startsWith(prefix));
    expect(byTarget("download").map((r) => [r.run, r.verdict.met])).toEqual([
      ["11M × 3", true],
      ["25M × 25", true],
    ]);
    expect(byTarget("upload").every((r) => !r.verdict.met && r.verdict.measured === 0.5)).toBe(true);
    const [overhead] = byTarget("all but");
    expect(overhead?.run).toBe("11M × 3");
    expect(overhead?.verdict.met).toBe(false);
    const [memory] = byTarget("coordinator");
    expect(memory?.run).toBe("25M × 25");
    expect(memory?.verdict.met).toBe(false);
    expect(memory?.verdict.measured).toBeCloseTo((600 * MiB) / (3 * 100_000_000 + 200 * MiB), 12);
  });

  it("lists the targets no run spoke to instead of passing them", () => {
    expect(targets([result(300_000, 3)]).notMeasured).toEqual([
      "overhead: no run at 11M parameters × 3 clients",
      "memory: no run with 25 clients",
    ]);
  });
});

describe("tables", () => {
  it("names runs by size, cohort and TLS and prints the transfer ratios", () => {
    expect(formatParameters(300_000)).toBe("300k");
    expect(formatParameters(11_000_000)).toBe("11M");
    const table = splitTable([result(300_000, 3, { config: { ...result(300_000, 3).config, tls: true } })]);
    const [header, , line] = table.split("\n");
    expect(header).toMatch(/^run\s+download\s+train\s+seal\s+upload\s+open\s+verify/);
    expect(line).toMatch(
      /^300k × 3 TLS\s+100\s+1000\s+50\s+120\s+40\s+10\s+5\s+20\s+30\s+1400\s+28\.6%\s+0\.95\s+0\.50\s+300\s+12$/,
    );
  });
});
