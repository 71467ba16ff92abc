import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";
import YAML from "yaml";

const FL = fileURLToPath(new URL("../../bin/fl.js", import.meta.url));
const out = mkdtempSync(join(tmpdir(), "fl-sim-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

it("fl simulate runs a 3-hospital federation over gRPC and writes a complete run folder", () => {
  const run = spawnSync(
    process.execPath,
    [FL, "simulate", "--rounds", "2", "--image-size", "32", "--images-per-site", "60", "--out", out],
    {
      encoding: "utf8",
      timeout: 280_000,
      env: { ...process.env, CI: "true" },
    },
  );
  expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
  expect(run.stdout).toContain("round 2: completed");
  for (const file of [
    "report.md",
    "evaluation.json",
    "rounds.json",
    "run.json",
    "model/final.flw",
    "state.db",
    "logs/coordinator.log",
    "keys/coordinator.public.json",
  ]) {
    expect(existsSync(join(out, file)), file).toBe(true);
  }
  // The default path is the secure one: mutual TLS with certificates made for the run.
  expect(run.stdout).toContain(
    `gRPC over mutual TLS, with a CA and certificates made for this run in ${join(out, "tls")}`,
  );
  const coordinatorConfig = YAML.parse(readFileSync(join(out, "coordinator.yaml"), "utf8")) as Record<
    string,
    unknown
  >;
  expect(coordinatorConfig.tls).toEqual({
    cert: "tls/coordinator.crt",
    key: "tls/coordinator.key",
    ca: "tls/ca.crt",
    requireClientCert: true,
  });
  expect(coordinatorConfig.insecure).toBeUndefined();
  // The operator endpoint is on in every simulation; its token is the run owner's alone.
  // A fixed port chosen at creation, not 0, so that a restarted coordinator is found at the same address.
  const admin = coordinatorConfig.admin as { listen: string; tokenFile: string };
  expect(admin.tokenFile).toBe("admin.token");
  expect(admin.listen).toMatch(/^127\.0\.0\.1:[1-9]\d*$/);
  expect(admin.listen).not.toBe(coordinatorConfig.listen);
  expect(statSync(join(out, "admin.token")).mode & 0o777).toBe(0o600);
  expect(readFileSync(join(out, "admin.addr"), "utf8")).toBe(`${admin.listen}\n`);
  expect(run.stdout).toContain(`watch it from another terminal: fl status --run ${out}`);
  const clientConfig = YAML.parse(readFileSync(join(out, "clients", "community.yaml"), "utf8")) as Record<
    string,
    unknown
  >;
  expect(clientConfig.tls).toEqual({
    ca: "../tls/ca.crt",
    cert: "../tls/sites/community.crt",
    key: "../tls/sites/community.key",
  });
  expect(readFileSync(join(out, "logs", "coordinator.log"), "utf8")).toMatch(
    /listening on 127\.0\.0\.1:\d+ \(mutual TLS\)/,
  );
  const runInfo = JSON.parse(readFileSync(join(out, "run.json"), "utf8")) as {
    status: string;
    backends: Record<string, { backend: string }>;
  };
  expect(runInfo.status).toBe("completed");
  expect(Object.keys(runInfo.backends).sort()).toEqual(["community", "metro-icu", "outpatient"]);
  expect(Object.values(runInfo.backends).every((b) => b.backend === "wasm")).toBe(true);

  const rounds = JSON.parse(readFileSync(join(out, "rounds.json"), "utf8")) as Array<{
    round: number;
    accepted: number;
    modelVersion: number;
  }>;
  expect(rounds.map((r) => [r.round, r.accepted, r.modelVersion])).toEqual([
    [1, 3, 1],
    [2, 3, 2],
  ]);
  const evaluation = JSON.parse(readFileSync(join(out, "evaluation.json"), "utf8")) as {
    modelVersion: number;
    pooled: { count: number; accuracy: number; confusion: number[][] };
    perSite: Record<string, { count: number }>;
  };
  expect(evaluation.modelVersion).toBe(2);
  const perSiteTotal = Object.values(evaluation.perSite).reduce((sum, r) => sum + r.count, 0);
  expect(evaluation.pooled.count).toBe(perSiteTotal);
  expect(evaluation.pooled.confusion.flat().reduce((a, b) => a + b, 0)).toBe(perSiteTotal);
  // Better than guessing uniformly among the four classes.
  expect(evaluation.pooled.accuracy).toBeGreaterThan(0.25);
});

it("fl simulate trains on a dataset folder in the SIIM layout (DICOM) written by fl data synth", () => {
  const data = join(out, "siim");
  const synth = spawnSync(
    process.execPath,
    [FL, "data", "synth", "--out", data, "--images-per-site", "40", "--native-size", "64"],
    {
      encoding: "utf8",
      timeout: 120_000,
    },
  );
  expect(synth.status, `${synth.stdout}\n${synth.stderr}`).toBe(0);
  const run = spawnSync(
    process.execPath,
    [
      FL,
      "simulate",
      "--data",
      join(data, "siim-config.json"),
      "--rounds",
      "1",
      "--image-size",
      "32",
      "--out",
      join(out, "siim-run"),
    ],
    { encoding: "utf8", timeout: 200_000, env: { ...process.env, CI: "true" } },
  );
  expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
  const evaluation = JSON.parse(readFileSync(join(out, "siim-run", "evaluation.json"), "utf8")) as {
    perSite: Record<string, { count: number }>;
  };
  expect(Object.keys(evaluation.perSite).sort()).toEqual(["community", "metro-icu", "outpatient"]);
  expect(Object.values(evaluation.perSite).every((s) => s.count > 0)).toBe(true);
});
