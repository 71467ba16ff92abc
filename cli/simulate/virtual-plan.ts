/** Hospitals a round trains by default when many are simulated: enough to average, few enough to be quick. */
export const DEFAULT_VIRTUAL_COHORT = 20;

/** The plan's sampling settings for a simulation of `sites` hospitals. */
export interface CohortSettings {
  readonly fraction: number;
  readonly minSites: number;
  readonly minAvailableSites: number;
}

/**
 * Who trains each round. Every hospital joins before round 1 (minAvailableSites); a round
 * samples `fraction` of them (with virtual sites by default a cohort of about 20) and survives
 * the loss of one of its cohort, as the process-per-hospital simulation always did. An explicit
 * minSites wins, capped by the cohort, since a larger one could never be met.
 */
export function cohortSettings(options: {
  sites: number;
  virtual: boolean;
  fraction?: number | undefined;
  minSites?: number | undefined;
  secureAggregation: boolean;
}): CohortSettings {
  const { sites } = options;
  const fraction = options.fraction ?? (options.virtual ? Math.min(1, DEFAULT_VIRTUAL_COHORT / sites) : 1);
  const cohort = Math.min(sites, Math.ceil(fraction * sites));
  const fallback = options.secureAggregation ? cohort : Math.max(1, cohort - 1);
  return {
    fraction,
    minSites: Math.max(1, Math.min(cohort, options.minSites ?? fallback)),
    minAvailableSites: sites,
  };
}

/**
 * A virtual hospital's heartbeat while its task runs or waits for a worker. Every hospital of an
 * evaluation waits at once (all of them evaluate), so at a process-per-hospital simulation's 1 s
 * 500 of them would send 500 calls a second to the coordinator and saturate both event loops;
 * 5 s stays well inside the coordinator's smallest heartbeat timeout (25 s).
 */
export const VIRTUAL_HEARTBEAT_INTERVAL_MS = 5000;

/**
 * How long a virtual hospital may stay silent before the coordinator counts it as gone: the
 * hospitals share one process and its event loop, which a loaded machine can hold up for longer
 * than the smallest timeout (25 s) allows, and losing one costs a rejoin and its task.
 */
export const VIRTUAL_HEARTBEAT_TIMEOUT_SEC = 60;

/**
 * How long an evaluation may take: all N hospitals evaluate, k at a time, each first rendering
 * its images unless a worker or the disk still has them (about half a second a hospital here,
 * more on a loaded machine); never below the plan's default of 300 s.
 */
export function virtualEvaluationTimeoutSec(sites: number, workers: number): number {
  return Math.max(300, Math.ceil((sites * 3) / workers));
}
