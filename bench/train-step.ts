import type { BuiltWorkload } from "./workloads/workload.js";

/** One block of timed training steps. */
export interface BlockTimings {
  /** Milliseconds of each timed step, in order. */
  readonly stepsMs: number[];
  /**
   * Process CPU time (user + system) of each timed step. On a machine shared with other work,
   * wall time includes waiting for a core; CPU time is what the step costs one core.
   */
  readonly cpuMs: number[];
  /** Loss of the last step: finite, or the run is broken. */
  readonly lastLoss: number;
}

/**
 * Runs `warmupSteps` untimed steps (XNNPACK operators, optimiser slots and the JIT warm up),
 * then times `timedSteps`, each ending when its loss has been read back.
 */
export async function timeSteps(
  workload: BuiltWorkload,
  options: { readonly warmupSteps: number; readonly timedSteps: number },
): Promise<BlockTimings> {
  for (let i = 0; i < options.warmupSteps; i++) await workload.step();
  const stepsMs: number[] = [];
  const cpuMs: number[] = [];
  let lastLoss = Number.NaN;
  for (let i = 0; i < options.timedSteps; i++) {
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    lastLoss = await workload.step();
    const cpu = process.cpuUsage(cpuStart);
    stepsMs.push(performance.now() - start);
    cpuMs.push((cpu.user + cpu.system) / 1000);
  }
  return { stepsMs, cpuMs, lastLoss };
}
