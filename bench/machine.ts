import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, platform } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** What a benchmark ran on, for its JSON: the same fields in every bench/results file. */
export function machineInfo(): {
  cpu: string;
  logicalCores: number;
  platform: string;
  node: string;
  /** 1/5/15-minute load averages now: above the core count, other work shared the cores. */
  loadAverage: number[];
} {
  return {
    cpu: cpus()[0]?.model ?? "unknown",
    logicalCores: cpus().length,
    platform: platform(),
    node: process.version,
    loadAverage: loadavg(),
  };
}

/**
 * Writes a benchmark's report as bench/results/<name>-<date>.json and <name>-latest.json;
 * returns the latest file's path.
 */
export function writeBenchResult(name: string, report: { readonly date: string }): string {
  const dir = join(dirname(fileURLToPath(import.meta.url)), "results");
  mkdirSync(dir, { recursive: true });
  const json = `${JSON.stringify(report, null, 2)}\n`;
  writeFileSync(join(dir, `${name}-${report.date.slice(0, 10)}.json`), json);
  const latest = join(dir, `${name}-latest.json`);
  writeFileSync(latest, json);
  return latest;
}
