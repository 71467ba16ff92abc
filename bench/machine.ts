import { cpus, loadavg, platform } from "node:os";

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
