import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, expect, it } from "vitest";
import { ORPHAN_GRACE_MS } from "../../../cli/parent-watch.js";

// A child of `fl simulate` that writes nothing would never notice its parent's death by a broken
// pipe; the IPC channel's end is what tells it.
const PARENT = fileURLToPath(new URL("../../helpers/orphan-parent.ts", import.meta.url));
const started: number[] = [];
const parents: ChildProcess[] = [];

afterEach(() => {
  for (const p of parents.splice(0)) if (p.exitCode === null) p.kill("SIGKILL");
  for (const pid of started.splice(0)) if (alive(pid)) process.kill(pid, "SIGKILL");
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function orphan(mode: string): Promise<number> {
  const parent = spawn(process.execPath, ["--import", "tsx", PARENT, mode], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  parents.push(parent);
  const pid = await new Promise<number>((resolve) =>
    parent.stdout?.once("data", (chunk: Buffer) => resolve(Number(chunk.toString().trim()))),
  );
  started.push(pid);
  expect(alive(pid)).toBe(true);
  parent.kill("SIGKILL");
  return pid;
}

async function gone(pid: number, withinMs: number): Promise<boolean> {
  const until = Date.now() + withinMs;
  while (Date.now() < until) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !alive(pid);
}

it("a child stops as soon as its parent is SIGKILLed", async () => {
  expect(await gone(await orphan("stops"), 2000)).toBe(true);
}, 20_000);

it("a child whose stop does not end it exits after the grace period", async () => {
  const pid = await orphan("hangs");
  expect(await gone(pid, ORPHAN_GRACE_MS - 1000)).toBe(false);
  expect(await gone(pid, 3000)).toBe(true);
}, 20_000);

it("without the watch the orphan lives on (what the watch is for)", async () => {
  expect(await gone(await orphan("unwatched"), 2000)).toBe(false);
}, 20_000);
