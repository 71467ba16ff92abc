/**
 * The process of `fl simulate --virtual-sites`: `main.ts <virtual-sites.json>`. Prints its sites'
 * log lines, tells its parent over IPC when the workers are ready, and exits 0 once every site
 * heard the plan complete (or was stopped here), 1 otherwise.
 */
import { errorMessage } from "../../../shared/src/errors.js";
import { loadVirtualSitesConfig } from "./config.js";
import { runVirtualSites } from "./run-virtual-sites.js";

const path = process.argv[2];
if (!path) {
  process.stderr.write("usage: main.ts <virtual-sites.json> (written by fl simulate --virtual-sites)\n");
  process.exit(2);
}
const log = (line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`);
try {
  const result = await runVirtualSites(loadVirtualSitesConfig(path), {
    log,
    onReady: (info) => process.send?.({ type: "ready", ...info }),
    onStarted: (stop) => {
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      // The simulation that started this process is gone: nobody would stop it otherwise.
      process.once("disconnect", stop);
    },
  });
  for (const failure of result.failures) log(`[${failure.siteId}] FAILED: ${failure.reason}`);
  log(
    `${result.completed} virtual hospitals heard the plan complete, ${result.stopped} were stopped, ${result.failures.length} failed`,
  );
  process.exitCode = result.failures.length === 0 ? 0 : 1;
} catch (error) {
  log(`virtual hospitals failed: ${errorMessage(error)}`);
  process.exitCode = 1;
} finally {
  if (process.channel) process.disconnect();
}
