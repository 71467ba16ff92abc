import { describe, expect, it } from "vitest";
import {
  breakEvenTrainingMs,
  type CoordinatorRound,
  median,
  memoryVerdict,
  overheadVerdict,
  type SiteRound,
  splitRound,
  summariseRounds,
  throughput,
  transferVerdict,
  unionMs,
} from "../../../bench/federation/split.js";

const MiB = 2 ** 20;

function site(siteId: string, overrides: Partial<SiteRound> = {}): SiteRound {
  return {
    siteId,
    round: 1,
    download: { startMs: 1000, endMs: 1100 },
    downloadBytes: 10 * MiB,
    trainingMs: 500,
    sealingMs: 40,
    upload: { startMs: 1700, endMs: 1900 },
    uploadBytes: 10 * MiB,
    ...overrides,
  };
}

const coordinatorRound: CoordinatorRound = {
  round: 1,
  startedAtMs: 990,
  committedAtMs: 2000,
  openingMs: 60,
  verificationMs: 20,
  aggregationMs: 15,
  checkpointMs: 25,
  evaluationMs: 90,
};

describe("unionMs", () => {
  it("counts overlapping intervals once and separate ones each", () => {
    // [0,10] ∪ [5,20] = 20 ms; [30,35] adds 5; [31,32] lies inside it.
    const intervals = [
      { startMs: 30, endMs: 35 },
      { startMs: 0, endMs: 10 },
      { startMs: 5, endMs: 20 },
      { startMs: 31, endMs: 32 },
    ];
    expect(unionMs(intervals)).toBe(25);
    expect(unionMs([])).toBe(0);
  });

  it("refuses an interval that ends before it starts", () => {
    expect(() => unionMs([{ startMs: 5, endMs: 4 }])).toThrow(/ends \(4\) before it starts \(5\)/);
  });
});

describe("throughput", () => {
  it("divides all bytes by the time any transfer was in flight", () => {
    // Two 1 MiB transfers over [0,500] and [250,1000]: 2 MiB in 1 s. Back to back with a gap of
    // 1 s between them: 2 MiB in 1.5 s of transferring.
    expect(
      throughput([
        { interval: { startMs: 0, endMs: 500 }, bytes: MiB },
        { interval: { startMs: 250, endMs: 1000 }, bytes: MiB },
      ]),
    ).toBe(2 * MiB);
    expect(
      throughput([
        { interval: { startMs: 0, endMs: 500 }, bytes: MiB },
        { interval: { startMs: 1500, endMs: 2500 }, bytes: MiB },
      ]),
    ).toBeCloseTo((2 * MiB) / 1.5, 6);
  });

  it("refuses transfers that took no time", () => {
    expect(() => throughput([{ interval: { startMs: 3, endMs: 3 }, bytes: 1 }])).toThrow(
      /no measurable time/,
    );
  });
});

describe("splitRound", () => {
  it("takes client phases as the median over sites and the round as start to commit plus evaluation", () => {
    const sites = [
      site("a", { sealingMs: 30, trainingMs: 500 }),
      site("b", { sealingMs: 50, trainingMs: 520, download: { startMs: 1000, endMs: 1300 } }),
      site("c", { sealingMs: 90, trainingMs: 480, upload: { startMs: 1800, endMs: 1950 } }),
    ];
    const split = splitRound(coordinatorRound, sites);
    // 2000 − 990 + 90.
    expect(split.roundMs).toBe(1100);
    expect(split.trainingMs).toBe(520);
    expect(split.nonTrainingMs).toBe(580);
    expect(split.nonTrainingShare).toBeCloseTo(580 / 1100, 12);
    expect(split.sealingMs).toBe(50);
    // Downloads of 100, 300, 100 ms: median 100. Uploads of 200, 200, 150: median 200.
    expect(split.downloadMs).toBe(100);
    expect(split.uploadMs).toBe(200);
    // 30 MiB downloaded while [1000,1300] was open; 30 MiB uploaded over [1700,1950].
    expect(split.downloadBytesPerSec).toBeCloseTo((30 * MiB) / 0.3, 3);
    expect(split.uploadBytesPerSec).toBeCloseTo((30 * MiB) / 0.25, 3);
    expect([
      split.openingMs,
      split.verificationMs,
      split.aggregationMs,
      split.checkpointMs,
      split.evaluationMs,
    ]).toEqual([60, 20, 15, 25, 90]);
  });

  it("refuses a site's measurement of another round, and a round no site measured", () => {
    expect(() => splitRound(coordinatorRound, [site("a", { round: 2 })])).toThrow(
      /site a measured round 2, not 1/,
    );
    expect(() => splitRound(coordinatorRound, [])).toThrow(/round 1: no site measured it/);
  });
});

describe("summariseRounds", () => {
  it("leaves the warm-up round out and takes medians of the rest", () => {
    const base = splitRound(coordinatorRound, [site("a")]);
    const rounds = [900, 100, 300, 200].map((roundMs, i) => ({ ...base, round: i + 1, roundMs }));
    const summary = summariseRounds(rounds);
    expect(summary.roundMs).toBe(200);
    expect(summary.round).toBe(3);
    expect(summariseRounds([rounds[0] as (typeof rounds)[0]]).roundMs).toBe(900);
  });
});

describe("median", () => {
  it("is the middle value, or the mean of the two middle ones", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow(/no values/);
  });
});

describe("verdicts", () => {
  it("transfer: met at 90 % of raw grpc-js and not below", () => {
    expect(transferVerdict(90, 100)).toMatchObject({ met: true, measured: 0.9 });
    expect(transferVerdict(89, 100)).toMatchObject({ met: false, measured: 0.89 });
  });

  it("overhead: met under 5 % of the round; the break-even training time is 19 × the overhead", () => {
    expect(breakEvenTrainingMs(1000)).toBeCloseTo(19_000, 9);
    expect(overheadVerdict({ nonTrainingMs: 49, roundMs: 1000, trainingMs: 951 }).met).toBe(true);
    const missed = overheadVerdict({ nonTrainingMs: 2000, roundMs: 3000, trainingMs: 1000 });
    expect(missed).toMatchObject({ met: false });
    expect(missed.measured).toBeCloseTo(2 / 3, 12);
    expect(missed.note).toContain("≥ 38.0 s per round");
  });

  it("memory: the limit is 3 × the model's bytes + 200 MiB", () => {
    // 100 MiB model: limit 500 MiB.
    expect(memoryVerdict(500 * MiB, 100 * MiB)).toMatchObject({ met: true, measured: 1 });
    expect(memoryVerdict(500 * MiB + 1, 100 * MiB).met).toBe(false);
    expect(memoryVerdict(250 * MiB, 100 * MiB).measured).toBeCloseTo(0.5, 12);
  });
});
