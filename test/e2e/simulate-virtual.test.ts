import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";

const FL = fileURLToPath(new URL("../../bin/fl.js", import.meta.url));
const out = mkdtempSync(join(tmpdir(), "fl-sim-virtual-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const SITES = 20;
const ids = Array.from({ length: SITES }, (_, i) => `vh${String(i + 1).padStart(3, "0")}`);

it("fl simulate --virtual-sites runs 20 hospitals in one process on 2 trainer workers, over mutual TLS", () => {
  const run = spawnSync(
    process.execPath,
    [
      FL,
      "simulate",
      ...["--virtual-sites", String(SITES), "--workers", "2", "--fraction", "0.5"],
      ...["--rounds", "2", "--epochs", "1", "--image-size", "16", "--images-per-site", "12"],
      ...["--backend", "wasm", "--no-central-eval", "--out", out],
    ],
    { encoding: "utf8", timeout: 280_000, env: { ...process.env, CI: "true" } },
  );
  expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
  // Every hospital joined with its own identity and client certificate.
  const joined = [...run.stdout.matchAll(/^ {2}(vh\d+) joined/gm)].map((m) => m[1]).sort();
  expect(joined).toEqual(ids);
  expect(run.stdout).toContain("gRPC over mutual TLS");
  for (const id of ids) expect(existsSync(join(out, "tls", "sites", `${id}.crt`))).toBe(true);

  // Each round trained half of them (--fraction 0.5), each update verified and accepted.
  const rounds = JSON.parse(readFileSync(join(out, "rounds.json"), "utf8")) as Array<{
    round: number;
    modelVersion: number | null;
    accepted: unknown[] | number;
  }>;
  const committed = rounds.filter((r) => r.modelVersion !== null).map((r) => r.round);
  expect(committed).toEqual([1, 2]);
  for (const round of [1, 2]) {
    const sampled = new RegExp(`^round ${round}: started with (.*)$`, "m").exec(run.stdout)?.[1]?.split(", ");
    expect(sampled).toHaveLength(SITES / 2);
    const accepted = [
      ...run.stdout.matchAll(new RegExp(`round ${round}: update from (vh\\d+) accepted`, "g")),
    ]
      .map((m) => m[1])
      .sort();
    expect(accepted).toEqual(sampled);
  }
  expect(run.stdout).not.toContain("REJECTED");

  // One process held the hospitals; the final model is written and its recorded hash is its own.
  const runJson = JSON.parse(readFileSync(join(out, "run.json"), "utf8"));
  expect(runJson).toMatchObject({ status: "completed", virtualSites: SITES, workers: 2 });
  const model = readFileSync(join(out, "model", "final.flw"));
  const recorded = JSON.parse(readFileSync(join(out, "model", "final.json"), "utf8"));
  expect(recorded.sha256).toBe(createHash("sha256").update(model).digest("hex"));
  const log = readFileSync(join(out, "logs", "virtual-hospitals.log"), "utf8");
  expect(log).toContain(`2 trainer workers ready on backend wasm`);
  expect(log).toContain(`${SITES} virtual hospitals heard the plan complete, 0 were stopped, 0 failed`);
});
