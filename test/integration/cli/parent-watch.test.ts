import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, expect, it } from "vitest";
import { ORPHAN_GRACE_MS } from "../../../cli/parent-watch.js";

// A child of `fl simulate` that writes nothing would never notice its parent's death by a broken
// pipe; the IPC channel's end is what tells it.
const PARENT = fileURLToPath(new URL("../../helpers/orphan-parent.ts", import.meta.url));
const started: number[] = [];
const parents: ChildProcess[] = [];
let dir = "";

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "parent-watch-"));
});

afterEach(() => {
  for (const p of parents.splice(0)) if (p.exitCode === null) p.kill("SIGKILL");
  for (const pid of started.splice(0)) if (alive(pid)) process.kill(pid, "SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface Orphan {
  pid: number;
  /** Milliseconds from the parent's SIGKILL. */
  sinceKill: () => number;
  /** The child's exit code once it has exited, written by the child itself. */
  exitCode: () => number | undefined;
}

async function orphan(mode: string): Promise<Orphan> {
  const exitFile = join(dir, `${mode}.exit`);
  const parent = spawn(process.execPath, ["--import", "tsx", PARENT, mode, exitFile], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  parents.push(parent);
  const pid = await new Promise<number>((resolve) =>
    parent.stdout?.once("data", (chunk: Buffer) => resolve(Number(chunk.toString().trim()))),
  );
  started.push(pid);
  expect(alive(pid)).toBe(true);
  parent.kill("SIGKILL");
  const killedAt = Date.now();
  return {
    pid,
    sinceKill: () => Date.now() - killedAt,
    exitCode: () => (existsSync(exitFile) ? Number(readFileSync(exitFile, "utf8")) : undefined),
  };
}

async function exited(child: Orphan, withinMs: number): Promise<number | undefined> {
  const until = Date.now() + withinMs;
  while (Date.now() < until && child.exitCode() === undefined) await new Promise((r) => setTimeout(r, 100));
  return child.exitCode();
}

it("a child stops by itself once its parent is SIGKILLed, before the grace exit", async () => {
  // Exit code 0 is the child's own stop; the grace exit would be 1. The wide window only allows
  // for a slow host: the code, not the time, says which way it ended.
  expect(await exited(await orphan("stops"), 4 * ORPHAN_GRACE_MS)).toBe(0);
}, 30_000);

it("a child whose stop does not end it exits after the grace period", async () => {
  const child = await orphan("hangs");
  expect(await exited(child, ORPHAN_GRACE_MS - 1000)).toBeUndefined();
  expect(await exited(child, 4 * ORPHAN_GRACE_MS)).toBe(1);
  expect(child.sinceKill()).toBeGreaterThanOrEqual(ORPHAN_GRACE_MS);
}, 30_000);

it("without the watch the orphan lives on (what the watch is for)", async () => {
  const child = await orphan("unwatched");
  expect(await exited(child, ORPHAN_GRACE_MS + 1000)).toBeUndefined();
  expect(alive(child.pid)).toBe(true);
}, 30_000);
