import { availableParallelism } from "node:os";
import { ErrorCode, FlError } from "../../../errors.js";

/** The most threads the threaded wasm build runs: its pool of pre-started workers. */
export const MAX_WASM_THREADS = 8;

/** `training.threads`: `auto` (every core, up to the threaded build's limit) or a count. */
export type ThreadSetting = "auto" | number;

/**
 * The number of threads a trainer runs the wasm backend on. `auto` takes every core the process
 * may use (up to MAX_WASM_THREADS); a count is taken as given, so that a machine shared with
 * other work can be told to leave cores free. 1 keeps the single-threaded build.
 */
export function resolveThreads(setting: ThreadSetting, cores: number = availableParallelism()): number {
  if (setting === "auto") return Math.max(1, Math.min(cores, MAX_WASM_THREADS));
  if (!Number.isInteger(setting) || setting < 1 || setting > MAX_WASM_THREADS) {
    throw new FlError(
      ErrorCode.InvalidConfig,
      `training threads must be auto or a whole number from 1 to ${MAX_WASM_THREADS} (the threaded wasm build's pool), got ${String(setting)}`,
    );
  }
  return setting;
}
