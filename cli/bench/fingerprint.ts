/**
 * What a benchmark's results depend on, written next to them so that a later invocation reuses
 * them only when it would compute the same thing. Pure: settings in, differences out.
 */

import { configDrift } from "../../coordinator/src/config-drift.js";
import type { PaperSizes } from "./paper-grid.js";

/** The settings of the whole benchmark folder (the seeds may grow; each run has its own seed). */
export interface BenchFingerprint {
  readonly benchmark: "paper";
  readonly scale: number;
  readonly sizes: PaperSizes;
  readonly preset: string;
  readonly backend: string;
  /** The git commit of the code (with a hash of uncommitted changes), else the package version. */
  readonly codeVersion: string;
}

/** The settings of one run: everything the simulation is given, plus the code that runs it. */
export interface RunFingerprint extends BenchFingerprint {
  readonly label: string;
  readonly seed: number;
  /** The simulation config exactly as given to runSimulation (plan phases, model, data, backend). */
  readonly simulation: unknown;
  readonly sites: readonly string[];
}

/**
 * One line per differing setting (`scale: 0.05 -> 4`), empty when equal. A folder without a
 * fingerprint (made before fingerprints existed, or by hand) cannot be trusted and differs too.
 */
export function fingerprintDrift(stored: unknown, current: BenchFingerprint | RunFingerprint): string[] {
  if (stored === undefined) return ["(no recorded settings: made by an older version or by hand)"];
  // Compared as JSON, so that a stored file and a live object with the same content are equal.
  return configDrift(stored, JSON.parse(JSON.stringify(current)));
}
