/** A quiet child that lives until stopped: it only stops when stopWhenParentDies makes it. */
import { writeFileSync } from "node:fs";
import { stopWhenParentDies } from "../../cli/parent-watch.js";

const [mode, exitFile] = process.argv.slice(2);
const alive = setInterval(() => {}, 1000);
// "stops": the stop function ends the process's work; "hangs": it does not, the grace exit must.
if (mode !== "unwatched")
  stopWhenParentDies(() => {
    if (mode === "stops") clearInterval(alive);
  });
// The exit code tells the test which way the process ended (0: by itself, 1: the grace exit),
// which a pid check cannot: a reaped pid and a zombie look alike to kill(pid, 0) on a busy host.
if (exitFile) process.on("exit", (code) => writeFileSync(exitFile, String(code)));
process.send?.({ ready: process.pid });
