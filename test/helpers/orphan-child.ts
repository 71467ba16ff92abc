/** A quiet child that lives until stopped: it only stops when stopWhenParentDies makes it. */
import { stopWhenParentDies } from "../../cli/parent-watch.js";

const mode = process.argv[2];
const alive = setInterval(() => {}, 1000);
// "stops": the stop function ends the process's work; "hangs": it does not, the grace exit must.
if (mode !== "unwatched")
  stopWhenParentDies(() => {
    if (mode === "stops") clearInterval(alive);
  });
process.send?.({ ready: process.pid });
