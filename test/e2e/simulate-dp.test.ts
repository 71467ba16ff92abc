import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";

const FL = fileURLToPath(new URL("../../bin/fl.js", import.meta.url));
const out = mkdtempSync(join(tmpdir(), "fl-sim-dp-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

/** ε of T rounds of the Gaussian mechanism (every site in every round), RDP Tα/(2z²) converted at δ. */
function referenceEpsilon(rounds: number, z: number, delta: number): number {
  let best = Number.POSITIVE_INFINITY;
  for (let a = 2; a <= 256; a++)
    best = Math.min(
      best,
      (rounds * a) / (2 * z * z) + Math.log1p(-1 / a) - (Math.log(delta) + Math.log(a)) / (a - 1),
    );
  return best;
}

it("fl simulate --dp-* runs central DP over gRPC, reports ε per round and ends cleanly at the budget", () => {
  const budget = (referenceEpsilon(2, 1, 1e-5) + referenceEpsilon(3, 1, 1e-5)) / 2;
  const run = spawnSync(
    process.execPath,
    [
      FL,
      "simulate",
      ...["--rounds", "4", "--image-size", "32", "--images-per-site", "60", "--no-central-eval"],
      ...["--dp-noise", "1", "--dp-clip", "1", "--dp-budget", String(budget), "--out", out],
    ],
    { encoding: "utf8", timeout: 280_000, env: { ...process.env, CI: "true" } },
  );
  expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
  expect(run.stdout).toContain("round 2: completed");
  expect(run.stdout).not.toContain("round 3: started");
  const rounds = JSON.parse(readFileSync(join(out, "rounds.json"), "utf8")) as Array<{
    round: number;
    modelVersion: number | null;
    metrics: Record<string, number>;
  }>;
  const committed = rounds.filter((r) => r.modelVersion !== null);
  expect(committed.map((r) => r.round)).toEqual([1, 2]);
  for (const [i, r] of committed.entries()) {
    expect(r.metrics["privacy.epsilon"]).toBeCloseTo(referenceEpsilon(i + 1, 1, 1e-5), 2);
    expect(r.metrics).toMatchObject({
      "privacy.delta": 1e-5,
      "privacy.noiseMultiplier": 1,
      "privacy.clipNorm": 1,
    });
    // Three hospitals, each clipped to 1: the noise on the mean has std 1/3 per coordinate.
    expect(r.metrics["privacy.noiseStd"]).toBeCloseTo(1 / 3, 12);
  }
  expect(readFileSync(join(out, "logs", "coordinator.log"), "utf8")).toMatch(
    /federation ends after round 2: the privacy budget ε [\d.]+ would be exceeded by round 3/,
  );
  // A clean end: the plan counts as completed, with a final model and a report that says why it ended.
  expect(JSON.parse(readFileSync(join(out, "run.json"), "utf8")).status).toBe("completed");
  expect(existsSync(join(out, "model", "final.flw"))).toBe(true);
  expect(readFileSync(join(out, "report.md"), "utf8")).toMatch(
    /ended early after round 2 of 4: the privacy budget/,
  );
});
