import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";

const FL = fileURLToPath(new URL("../../bin/fl.js", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "fl-bench-paper-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const out = join(root, "paper");

function bench(scale: string) {
  const args = ["bench", "paper", "--scale", scale, "--seeds", "1", "--settings", "scratch-cls-100pct"];
  return spawnSync(process.execPath, [FL, ...args, "--no-baselines", "--out", out], {
    encoding: "utf8",
    timeout: 280_000,
    // Fixed, so that other work in this checkout between the calls is no change of code version.
    env: { ...process.env, CI: "true", FL_CODE_VERSION: "e2e-bench-paper" },
  });
}

it("reuses a run only with the same settings: scale 0.05, again, then scale 4 into the same folder is refused", () => {
  const first = bench("0.05");
  expect(first.status, `${first.stdout}\n${first.stderr}`).toBe(0);
  const results = readFileSync(join(out, "results.json"), "utf8");
  const parsed = JSON.parse(results) as {
    sizes: { imageSize: number; imagesPerSite: number };
    rows: Array<{ name: string; runs: Array<{ reused: boolean; metrics: { macroF1: number } }> }>;
  };
  expect(parsed.sizes).toMatchObject({ imageSize: 32, imagesPerSite: 24 });
  expect(parsed.rows.map((r) => [r.name, r.runs.map((x) => x.reused)])).toEqual([
    ["scratch-cls-100pct", [false]],
  ]);
  const table = readFileSync(join(out, "table.md"), "utf8");
  expect(table).toContain("(n = 1)");
  expect(table).not.toContain("± 0.000");
  expect(readFileSync(join(out, "macro-f1.svg"), "utf8")).toMatch(/^<svg[\s\S]*layer_0_marks/);
  const record = JSON.parse(
    readFileSync(join(out, "runs", "scratch-cls-100pct-seed1", "bench-run.json"), "utf8"),
  ) as { fingerprint: { scale: number; codeVersion: string }; seconds: number };
  expect(record.fingerprint.scale).toBe(0.05);
  expect(record.fingerprint.codeVersion).toBe("e2e-bench-paper");
  expect(record.seconds).toBeGreaterThan(0);

  // The same settings again: the finished run is reused, with its own duration.
  const again = bench("0.05");
  expect(again.status, again.stderr).toBe(0);
  expect(again.stdout).toMatch(/scratch-cls-100pct seed 1: macro-F1 [\d.]+ \(\d+ s, reused\)/);
  const afterAgain = readFileSync(join(out, "results.json"), "utf8");
  expect(afterAgain).toContain('"reused": true');

  // The case: another scale into the same folder must not pass off the old numbers.
  const other = bench("4");
  expect(other.status).toBe(1);
  expect(other.stderr).toContain("scale: 0.05 -> 4");
  expect(other.stderr).toContain("sizes.imageSize: 32 -> 64");
  expect(other.stderr).toContain("--out DIR");
  expect(other.stderr).toContain("--fresh");
  // Refused before anything ran or was written.
  expect(readFileSync(join(out, "results.json"), "utf8")).toBe(afterAgain);
  expect(readdirSync(join(out, "runs"))).toEqual(["scratch-cls-100pct-seed1"]);
});
