import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";

const FL = fileURLToPath(new URL("../../../bin/fl.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "fl-bench-privacy-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const finite = z.number().refine(Number.isFinite, "finite");
const Setting = z.object({
  setting: z.enum(["plain", "secagg", "dp-central", "dp-site", "secagg+dp"]),
  sees: z.string().min(1),
  epsilon: z.number().positive().nullable(),
  noiseMultiplier: z.number().positive().nullable(),
  inversion: z.object({
    psnr: finite,
    ssim: z.number().min(-1).max(1),
    cosineLoss: z.number().min(0).max(2),
    labelsCorrect: z.number().min(0).max(1),
    iterations: z.number().int().positive(),
    ms: finite,
  }),
  linkageRecall: z.number().min(0).max(1),
  miaAuc: z.number().min(0).max(1),
  macroF1: z.number().min(0).max(1),
  trainingMs: finite,
});
const Results = z.object({
  bench: z.literal("privacy"),
  quick: z.literal(true),
  dp: z.object({
    delta: z.number(),
    rounds: z.number().int(),
    attackClipNorm: finite,
    trainingClipNorm: finite,
  }),
  baselines: z.object({ otherPatient: z.object({ psnr: finite, ssim: finite }), linkageChance: finite }),
  settings: z.array(Setting),
  totalSeconds: finite,
});

let results: z.infer<typeof Results>;
let run: ReturnType<typeof spawnSync>;

beforeAll(() => {
  run = spawnSync(process.execPath, [FL, "bench", "privacy", "--quick", "--out", dir], {
    encoding: "utf8",
    timeout: 240_000,
  });
  if (run.status === 0) results = Results.parse(JSON.parse(readFileSync(join(dir, "privacy.json"), "utf8")));
}, 250_000);

describe("fl bench privacy --quick", () => {
  it("runs and writes the JSON, the Markdown table and the SVG chart", () => {
    expect(run.status, String(run.stderr)).toBe(0);
    const md = readFileSync(join(dir, "privacy.md"), "utf8");
    expect(md).toContain("| setting | ε | z | PSNR (dB) | SSIM | labels | linkage | MIA AUC | macro-F1 |");
    for (const s of results.settings) expect(md).toContain(`| ${s.setting} | ${s.epsilon ?? "∞"} |`);
    expect(md).toMatch(/secagg\*\*: Secure aggregation hides/);
    const svg = readFileSync(join(dir, "privacy.svg"), "utf8");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain("MIA AUC");
  });

  it("covers plain, secure aggregation, DP at the site and both, with the accountant's z", () => {
    expect(results.settings.map((s) => s.setting)).toEqual([
      "plain",
      "secagg",
      "dp-central",
      "dp-site",
      "secagg+dp",
    ]);
    for (const s of results.settings) {
      expect(s.epsilon === null).toBe(s.noiseMultiplier === null);
      expect(s.setting.includes("dp")).toBe(s.epsilon !== null);
    }
  });

  it("shows the attack working on the plain update and failing on the DP one", () => {
    const bySetting = new Map(results.settings.map((s) => [s.setting, s]));
    const plain = bySetting.get("plain");
    const dp = bySetting.get("dp-site");
    if (!plain || !dp) throw new Error("missing settings");
    // On the plain update the inversion fits the observed gradient closely and the gallery
    // attack finds the patient; under site-level noise neither does.
    expect(plain.inversion.cosineLoss).toBeLessThan(dp.inversion.cosineLoss);
    expect(plain.inversion.labelsCorrect).toBe(1);
    expect(plain.linkageRecall).toBe(1);
    // Under the noise the gallery attack is left to chance (1 in 48 per setting): that both noisy
    // settings still rank the patient first has odds of about 1 in 2,300.
    const secaggDp = bySetting.get("secagg+dp");
    expect(Math.min(dp.linkageRecall, secaggDp?.linkageRecall ?? 1)).toBeLessThan(1);
    // Central DP noises after the coordinator has seen the update: it hides nothing from it.
    expect(bySetting.get("dp-central")?.linkageRecall).toBe(1);
  });
});
