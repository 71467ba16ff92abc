/** Forks orphan-child.ts with IPC and no pipes, reports its pid on stdout, then waits to be killed. */
import { fileURLToPath } from "node:url";
import { forkTypeScript } from "../../shared/src/io/ts-child.js";

const child = forkTypeScript(
  fileURLToPath(new URL("./orphan-child.ts", import.meta.url)),
  process.argv.slice(2),
  {
    stdio: ["ignore", "ignore", "ignore", "ipc"],
  },
);
child.on("message", (message: { ready?: number }) => {
  if (message.ready) process.stdout.write(`${message.ready}\n`);
});
setInterval(() => {}, 1000);
