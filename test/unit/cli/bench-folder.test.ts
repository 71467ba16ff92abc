import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  BENCH_FILE,
  chooseFolder,
  runDrift,
  writeBenchFingerprint,
  writeRunRecord,
} from "../../../cli/bench/bench-folder.js";
import { codeVersion } from "../../../cli/bench/code-version.js";
import type { BenchFingerprint, RunFingerprint } from "../../../cli/bench/fingerprint.js";
import { scaledSizes } from "../../../cli/bench/paper-grid.js";
import { ErrorCode, isFlError } from "../../../shared/src/errors.js";

const root = mkdtempSync(join(tmpdir(), "fl-bench-folder-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const at = (scale: number, codeVersion = "abc"): BenchFingerprint => ({
  benchmark: "paper",
  scale,
  sizes: scaledSizes(scale),
  preset: "3-hospitals",
  backend: "auto",
  codeVersion,
});

/** A folder as a finished benchmark at `scale` leaves it. */
function finished(dir: string, scale: number): void {
  mkdirSync(join(dir, "runs", "scratch-cls-100pct-seed1"), { recursive: true });
  writeBenchFingerprint(dir, at(scale));
  writeFileSync(join(dir, "results.json"), "{}");
}

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (error) {
    return error;
  }
  throw new Error("expected a throw");
}

describe("the benchmark folder", () => {
  it("refuses an explicit folder of scale 0.05 for scale 4, naming what differs and both ways out", () => {
    const dir = join(root, "explicit");
    finished(dir, 0.05);
    const error = thrown(() => chooseFolder({ out: dir, explicit: true, fresh: false, fingerprint: at(4) }));
    expect(isFlError(error, ErrorCode.InvalidConfig)).toBe(true);
    const message = (error as Error).message;
    expect(message).toContain("scale: 0.05 -> 4");
    expect(message).toContain("sizes.imageSize: 32 -> 64");
    expect(message).toContain("sizes.imagesPerSite: 24 -> 384");
    expect(message).toContain("--out");
    expect(message).toContain("--fresh");
    // The same settings resume; another code version is refused too.
    expect(chooseFolder({ out: dir, explicit: true, fresh: false, fingerprint: at(0.05) }).dir).toBe(dir);
    expect(
      (
        thrown(() =>
          chooseFolder({ out: dir, explicit: true, fresh: false, fingerprint: at(0.05, "def") }),
        ) as Error
      ).message,
    ).toContain('codeVersion: "abc" -> "def"');
  });

  it("refuses a folder with results but no recorded settings (made by an older version)", () => {
    const dir = join(root, "legacy");
    mkdirSync(join(dir, "runs"), { recursive: true });
    const error = thrown(() => chooseFolder({ out: dir, explicit: true, fresh: false, fingerprint: at(1) }));
    expect((error as Error).message).toContain("no recorded settings");
  });

  it("moves the default folder on to -2, -3 and comes back to the one with the same settings", () => {
    const out = join(root, "paper-2026-01-01");
    finished(out, 0.05);
    const four = chooseFolder({ out, explicit: false, fresh: false, fingerprint: at(4) });
    expect(four.dir).toBe(`${out}-2`);
    expect(four.drift).toContain("scale: 0.05 -> 4");
    finished(`${out}-2`, 4);
    expect(chooseFolder({ out, explicit: false, fresh: false, fingerprint: at(0.05) }).dir).toBe(out);
    expect(chooseFolder({ out, explicit: false, fresh: false, fingerprint: at(4) }).dir).toBe(`${out}-2`);
    expect(chooseFolder({ out, explicit: false, fresh: false, fingerprint: at(2) }).dir).toBe(`${out}-3`);
  });

  it("--fresh removes only what the benchmark wrote", () => {
    const dir = join(root, "fresh");
    finished(dir, 0.05);
    writeFileSync(join(dir, "notes.txt"), "mine");
    expect(chooseFolder({ out: dir, explicit: true, fresh: true, fingerprint: at(4) }).dir).toBe(dir);
    expect(existsSync(join(dir, "runs"))).toBe(false);
    expect(existsSync(join(dir, BENCH_FILE))).toBe(false);
    expect(existsSync(join(dir, "results.json"))).toBe(false);
    expect(readFileSync(join(dir, "notes.txt"), "utf8")).toBe("mine");
  });
});

describe("a run folder", () => {
  const run = (seed: number, imagesPerSite = 24): RunFingerprint => ({
    ...at(0.05),
    label: "scratch-cls-100pct",
    seed,
    simulation: { seed, imagesPerSite, phases: [{ task: "classify", rounds: 1 }] },
    sites: ["a", "b"],
  });

  it("is reused only with exactly the settings it records", () => {
    const dir = join(root, "run");
    expect(runDrift(dir, run(1))).toEqual([]);
    mkdirSync(dir, { recursive: true });
    writeRunRecord(dir, { fingerprint: run(1), seconds: 3 });
    expect(runDrift(dir, run(1))).toEqual([]);
    expect(runDrift(dir, run(2))).toEqual(["seed: 1 -> 2", "simulation.seed: 1 -> 2"]);
    expect(runDrift(dir, run(1, 48))).toEqual(["simulation.imagesPerSite: 24 -> 48"]);
    writeFileSync(join(dir, "bench-run.json"), "{ torn");
    expect(runDrift(dir, run(1))[0]).toContain("no recorded settings");
  });
});

describe("the code version", () => {
  it("is this checkout's git commit here, and the package version outside git", () => {
    expect(codeVersion(undefined, {})).toMatch(/^[0-9a-f]{40}(\+[0-9a-f]{12})?$/);
    expect(codeVersion(undefined, { FL_CODE_VERSION: "v1.2.3-abc" })).toBe("v1.2.3-abc");
    const outside = join(root, "no-git");
    mkdirSync(outside, { recursive: true });
    writeFileSync(join(outside, "package.json"), JSON.stringify({ name: "cxr-federated", version: "9.8.7" }));
    expect(codeVersion(outside, {})).toBe("cxr-federated@9.8.7");
  });
});
