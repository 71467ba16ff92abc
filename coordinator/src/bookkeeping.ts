import { errorMessage } from "../../shared/src/errors.js";
import type { EventBus } from "../../shared/src/events/types.js";
import type { Plan } from "./plan.js";
import { writeReports } from "./report-files.js";
import { type CheckpointRetention, pruneCheckpoints, sparedByPlan } from "./store/checkpoints.js";
import type { CheckpointRecord } from "./store/records.js";
import type { StateStore } from "./store/state-store.js";

export interface BookkeepingOptions {
  readonly store: StateStore;
  readonly reportDir: string;
  readonly federationId: string;
  readonly plan: Plan;
  readonly keepCheckpoints: CheckpointRetention;
  readonly log: (line: string) => void;
}

/**
 * The coordinator's own reactions to its events, fed in-process by the bus: reports after every
 * committed round and evaluation, and checkpoint retention after every commit. Neither can stop
 * the federation: reports are derived from the database and a failed write is logged (with the
 * file) and done again at the next event; the state itself is written by the round, not here.
 */
export function subscribeBookkeeping(bus: EventBus, options: BookkeepingOptions): void {
  const { store, reportDir, federationId, log } = options;
  bus.subscribe(
    (event) => {
      try {
        writeReports(store, reportDir, federationId);
      } catch (error) {
        log(
          `could not write reports after ${event.type}: ${errorMessage(error)}; trying again after the next round`,
        );
      }
    },
    { types: ["round.completed", "evaluation.completed", "federation.completed"] },
  );
  if (options.keepCheckpoints === "all") return;
  const spare = sparedByPlan(options.plan, (version) => store.evaluatedSites(version).length > 0);
  bus.subscribe(
    () => {
      try {
        const removed = pruneCheckpoints({
          records: allCheckpoints(store),
          keep: options.keepCheckpoints,
          spare,
        });
        if (removed.length > 0)
          log(
            `keepCheckpoints ${options.keepCheckpoints}: removed the files of model ${removed.map((v) => `v${v}`).join(", ")}`,
          );
      } catch (error) {
        log(`checkpoint retention failed: ${errorMessage(error)}`);
      }
    },
    // After an evaluation too: a version it evaluated may no longer need to be spared.
    { types: ["round.completed", "evaluation.completed"] },
  );
}

function allCheckpoints(store: StateStore): CheckpointRecord[] {
  const latest = store.latestCheckpoint();
  const records: CheckpointRecord[] = [];
  for (let version = 0; latest !== undefined && version <= latest.version; version++) {
    const record = store.checkpoint(version);
    if (record !== undefined) records.push(record);
  }
  return records;
}

/**
 * The reports at the end of a run. A run whose reports cannot be written has not delivered its
 * results, so it ends as failed, naming the file; its state is complete, and starting the
 * coordinator again (with space freed) writes them.
 */
export function finalReports(
  result: { status: "completed" | "failed"; reason: string },
  options: Pick<BookkeepingOptions, "store" | "reportDir" | "federationId" | "log">,
): { status: "completed" | "failed"; reason: string } {
  try {
    writeReports(options.store, options.reportDir, options.federationId);
    return result;
  } catch (error) {
    const reason = `${errorMessage(error)}; the state is intact: free space and start the coordinator again to write the reports`;
    options.log(`could not write the final reports: ${reason}`);
    return result.status === "failed"
      ? { status: "failed", reason: `${result.reason}; ${reason}` }
      : { status: "failed", reason };
  }
}
