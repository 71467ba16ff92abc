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
