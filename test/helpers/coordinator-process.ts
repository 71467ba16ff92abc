/** Runs a coordinator from a config file in its own process, for kill-and-resume tests. */
import { loadCoordinatorConfig } from "../../coordinator/src/config.js";
import { runCoordinator } from "../../coordinator/src/main.js";

const path = process.argv[2];
if (!path) throw new Error("usage: coordinator-process.ts <config>");
const result = await runCoordinator(loadCoordinatorConfig(path), {
  log: (line) => process.stderr.write(`${line}\n`),
});
process.exit(result.status === "completed" ? 0 : 1);
