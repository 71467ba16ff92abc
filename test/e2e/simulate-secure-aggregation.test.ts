import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";

const FL = fileURLToPath(new URL("../../bin/fl.js", import.meta.url));
const out = mkdtempSync(join(tmpdir(), "fl-sim-secagg-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

interface RoundRow {
  readonly round: number;
  readonly accepted: number;
  readonly metrics: Record<string, number>;
}

it("fl simulate --secure-aggregation learns while the coordinator sees only each round's sum", () => {
  const run = spawnSync(
    process.execPath,
    [
      FL,
      "simulate",
      "--secure-aggregation",
      "--rounds",
      "3",
      "--epochs",
      "1",
      "--image-size",
      "32",
      "--images-per-site",
      "96",
      "--no-central-eval",
      "--out",
      out,
    ],
    { encoding: "utf8", timeout: 280_000, env: { ...process.env, CI: "true" } },
  );
  expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
  const rounds = JSON.parse(readFileSync(join(out, "rounds.json"), "utf8")) as RoundRow[];
  expect(rounds.map((r) => [r.round, r.accepted, r.metrics["secagg.survivors"]])).toEqual([
    [1, 3, 3],
    [2, 3, 3],
    [3, 3, 3],
  ]);
  // It learns: the hospitals' training loss falls round by round on the securely averaged model.
  const losses = rounds.map((r) => r.metrics["train.loss"] as number);
  expect(losses[2]).toBeLessThan(losses[0] as number);
  const log = readFileSync(join(out, "logs", "coordinator.log"), "utf8");
  for (const round of [1, 2, 3])
    expect(log).toContain(`round ${round}: secure aggregation unmasked the sum of 3 sites`);
  // Every update arrived masked: none was opened and folded in on its own.
  expect(log.match(/masked input from \S+ folded into the secure sum/g)?.length).toBe(9);
  expect(log).not.toMatch(/accepted update from/);
}, 300_000);

const dpOut = mkdtempSync(join(tmpdir(), "fl-sim-secagg-dp-"));
afterAll(() => rmSync(dpOut, { recursive: true, force: true }));

it("fl simulate --secure-aggregation --dp-noise runs distributed DP: the sites add the noise, ε is reported per round, it learns", () => {
  // A small noise multiplier: with 3 hospitals site-level DP at a useful ε leaves nothing to
  // learn (bench/results/privacy-overhead.md), and this test is about the mechanism running.
  const z = 0.01;
  const run = spawnSync(
    process.execPath,
    [
      FL,
      "simulate",
      "--secure-aggregation",
      ...["--dp-noise", String(z), "--rounds", "3", "--epochs", "1", "--image-size", "32"],
      ...["--images-per-site", "96", "--no-central-eval", "--out", dpOut],
    ],
    { encoding: "utf8", timeout: 280_000, env: { ...process.env, CI: "true" } },
  );
  expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
  const rounds = JSON.parse(readFileSync(join(dpOut, "rounds.json"), "utf8")) as RoundRow[];
  expect(rounds.map((r) => [r.round, r.accepted, r.metrics["secagg.survivors"]])).toEqual([
    [1, 3, 3],
    [2, 3, 3],
    [3, 3, 3],
  ]);
  // Rate 1, no amplification: T rounds of the Gaussian mechanism, RDP Tα/(2z²), at α = 2 here
  // (the best order for so small a z): ε = T/z² + log(1/2) − log(δ·2)… computed over orders 2…256.
  const reference = (t: number) => {
    let best = Number.POSITIVE_INFINITY;
    for (let a = 2; a <= 256; a++)
      best = Math.min(
        best,
        (t * a) / (2 * z * z) + Math.log1p(-1 / a) - (Math.log(1e-5) + Math.log(a)) / (a - 1),
      );
    return best;
  };
  for (const [i, r] of rounds.entries()) {
    expect(r.metrics["privacy.epsilon"]).toBeCloseTo(reference(i + 1), 1);
    expect(r.metrics).toMatchObject({
      "privacy.noiseMultiplier": z,
      "privacy.clipNorm": 1,
      // Three sites: t = 3, so the three shares make exactly σ on the sum, σC/3 on the mean.
      "privacy.survivorFloor": 3,
      "privacy.effectiveNoiseMultiplier": z,
    });
    expect(r.metrics["privacy.noiseStd"]).toBeCloseTo(z / 3, 12);
  }
  const losses = rounds.map((r) => r.metrics["train.loss"] as number);
  expect(losses[2]).toBeLessThan(losses[0] as number);
  const log = readFileSync(join(dpOut, "logs", "coordinator.log"), "utf8");
  expect(log).not.toMatch(/accepted update from/);
  expect(readFileSync(join(dpOut, "report.md"), "utf8")).toMatch(/\| 3 \| 30010\.\d+ \|/);
}, 300_000);
