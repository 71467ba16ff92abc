import type { ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { forkTypeScript } from "../../shared/src/io/ts-child.js";

const ENTRY = fileURLToPath(new URL("./coordinator-process.ts", import.meta.url));

/**
 * Starts the real coordinator (coordinator-process.ts) on `<dir>/coordinator.json` as a child
 * process a test can SIGKILL, and records it in `children` for the test's clean-up. The stale
 * address file goes first, so a waiter sees this process's address and not the last one's.
 */
export function startCoordinatorChild(
  dir: string,
  children: ChildProcess[],
): { child: ChildProcess; exited: Promise<number | null> } {
  rmSync(join(dir, "coordinator.addr"), { force: true });
  const child = forkTypeScript(ENTRY, [join(dir, "coordinator.json")], {
    stdio: ["ignore", "ignore", "pipe", "ipc"],
  });
  children.push(child);
  return { child, exited: new Promise((resolve) => child.once("exit", (code) => resolve(code))) };
}

/** Polls every 50 ms (fine enough for a kill at a chosen moment) until `probe` returns a value. */
export async function pollUntil<T>(probe: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}
