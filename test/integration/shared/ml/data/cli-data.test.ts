import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { PNG } from "pngjs";
import { afterAll, describe, expect, it, vi } from "vitest";
import { registerDataCommands } from "../../../../../cli/commands/data.js";

const dir = mkdtempSync(join(tmpdir(), "fl-cli-data-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[]): Promise<string> {
  const program = new Command().exitOverride();
  registerDataCommands(program);
  let out = "";
  const stdout = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
  try {
    await program.parseAsync(["node", "fl", ...args]);
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
  return out;
}

describe("fl data", () => {
  const out = join(dir, "synth");

  it("synth writes the SIIM layout, PNGs, a partition summary and one contact sheet per site", async () => {
    const printed = await run([
      "data",
      "synth",
      "--out",
      out,
      "--images-per-site",
      "10",
      "--native-size",
      "64",
      "--png",
      "--seed",
      "3",
    ]);
    expect(printed).toMatch(/metro-icu\s+10/);
    expect(printed).toMatch(/pooled\s+30/);
    for (const file of [
      "train_study_level.csv",
      "train_image_level.csv",
      "siim-config.json",
      "folder-config.json",
      "partition-summary.json",
      "partition-summary.txt",
      "bad-items.json",
      "png/labels.csv",
    ]) {
      expect(existsSync(join(out, file))).toBe(true);
    }
    const sheets = readdirSync(join(out, "contact-sheets")).sort();
    expect(sheets).toEqual(["community.png", "metro-icu.png", "outpatient.png"]);
    const sheet = PNG.sync.read(readFileSync(join(out, "contact-sheets", "community.png")));
    // Four class columns of 128 px tiles with 4 px gaps.
    expect(sheet.width).toBe(4 + 4 * (128 + 4));
    // The mask overlay is drawn in red somewhere.
    let red = 0;
    for (let i = 0; i < sheet.data.length; i += 4)
      if ((sheet.data[i] as number) > 200 && (sheet.data[i + 1] as number) < 120) red++;
    expect(red).toBeGreaterThan(100);
    const summary = JSON.parse(readFileSync(join(out, "partition-summary.json"), "utf8"));
    expect(summary.pooled.total).toBe(30);
    expect(summary.sites.map((s: { siteId: string }) => s.siteId)).toEqual([
      "metro-icu",
      "community",
      "outpatient",
    ]);
  });

  it("inspect re-partitions a dataset folder and writes its own sheets", async () => {
    const target = join(dir, "inspect");
    const printed = await run([
      "data",
      "inspect",
      out,
      "--partition",
      "dirichlet",
      "--sites",
      "2",
      "--alpha",
      "0.5",
      "--out",
      target,
      "--image-size",
      "32",
    ]);
    expect(printed).toMatch(/site-1/);
    expect(printed).toMatch(/site-2/);
    expect(readdirSync(join(target, "contact-sheets")).sort()).toEqual(["site-1.png", "site-2.png"]);
  });

  it("inspect reads a config file and rejects bad flags with a clear message", async () => {
    const target = join(dir, "inspect-config");
    const printed = await run([
      "data",
      "inspect",
      "--config",
      join(out, "folder-config.json"),
      "--out",
      target,
    ]);
    expect(printed).toMatch(/community\s+10/);
    await expect(run(["data", "inspect", out, "--on-bad-item", "maybe"])).rejects.toThrow(
      /--on-bad-item must be "skip" or "fail"/,
    );
    await expect(run(["data", "synth", "--out", out, "--preset", "9-hospitals"])).rejects.toThrow(
      /unknown --preset "9-hospitals"/,
    );
  });
});
