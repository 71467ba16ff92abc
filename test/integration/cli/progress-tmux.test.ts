import { execFile, execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

// The simulation's progress display in a real terminal: tmux runs a driver that interleaves log
// lines with bar updates at speed, and every screen tmux shows while it runs is checked.
const run = promisify(execFile);
const root = fileURLToPath(new URL("../../..", import.meta.url));
const driver = fileURLToPath(new URL("./fixtures/progress-driver.ts", import.meta.url));
const SITES = ["hospital-a", "hospital-b", "hospital-c"];
const STEPS = 400;
const WIDTH = 72;
const HEIGHT = 20;

/** The log lines the driver prints, in order, built here from its stated pattern. */
const expectedLogs = Array.from({ length: STEPS / 5 }, (_, i) => {
  const step = i * 5;
  const tail = step % 3 === 0 ? " and a long tail".repeat(8) : "";
  return `LOG ${String(step).padStart(4, "0")} BEGIN ${SITES[step % 3]} reported${tail} END`;
});

const BAR = /^ (\S+) +\|[\u2588\u2591]{30}\| \d+\/\d+ /;
const LOG = /^LOG (\d{4}) BEGIN hospital-[a-c] reported(?: and a long tail){0,8} END$/;
// The top row may be the rest of a wrapped log line whose start has scrolled off the screen.
const SCROLLED_TAIL = /^[a-z ]* END$/;

/**
 * What is wrong with the bars of one captured screen: each name must have exactly one bar, the
 * bars must be the bottom rows in order, and no other row may hold bar text. Returns the rows
 * above the bars too, for the caller's checks of the log lines.
 */
function barProblems(
  screen: string,
  names: readonly string[],
  last?: string,
): { found: string[]; above: string[] } {
  const rows = screen.split("\n");
  while (rows.length > 0 && rows.at(-1)?.trim() === "") rows.pop();
  if (rows.length === 0) return { found: [], above: [] }; // nothing drawn yet
  if (last !== undefined && rows.at(-1) === last) rows.pop();
  const found: string[] = [];
  const barRows = rows.flatMap((row, i) => (BAR.test(row) ? [i] : []));
  const drawn = barRows.map((i) => BAR.exec(rows[i] ?? "")?.[1]);
  if (drawn.join(",") !== names.join(","))
    found.push(`bars ${JSON.stringify(drawn)} instead of one each for ${names.join(", ")}`);
  const firstBar = rows.length - names.length;
  if (barRows.join(",") !== names.map((_, i) => firstBar + i).join(","))
    found.push(`bars on rows ${barRows.join(",")} of ${rows.length}: not the bottom ones`);
  const above = rows.slice(0, Math.max(0, firstBar));
  above.forEach((row, i) => {
    if (/[\u2588\u2591]/.test(row)) found.push(`row ${i} holds bar text: ${JSON.stringify(row)}`);
  });
  return { found, above };
}

/** The driver's screen: its bars, and above them consecutive log lines, each whole. */
function driverProblems(screen: string): string[] {
  const { found, above } = barProblems(screen, ["rounds", ...SITES], "DRIVER DONE");
  let previous = -1;
  above.forEach((row, i) => {
    if (i === 0 && SCROLLED_TAIL.test(row)) return;
    const log = LOG.exec(row);
    if (!log || expectedLogs[Number(log[1]) / 5] !== row) {
      found.push(`row ${i} is not a whole log line: ${JSON.stringify(row)}`);
      return;
    }
    const step = Number(log[1]);
    if (previous >= 0 && step !== previous + 5) found.push(`log ${step} follows log ${previous}`);
    previous = step;
  });
  return found;
}

const tmux = spawnSync("tmux", ["-V"], { encoding: "utf8" });
const missing = tmux.status !== 0 ? "tmux is not installed (npm run setup:system installs it)" : undefined;
const socket = `fl-progress-${process.pid}`;

describe.skipIf(missing !== undefined)(
  missing ? `progress display under tmux: skipped, ${missing}` : "progress display under tmux",
  () => {
    afterAll(() => {
      spawnSync("tmux", ["-L", socket, "kill-server"]);
    });

    /** Runs a command in a fresh tmux window and captures its screen until `end` shows. */
    async function watch(name: string, command: string, end: string, timeoutMs: number): Promise<string[]> {
      const session = ["new-session", "-d", "-s", name, "-x", `${WIDTH}`, "-y", `${HEIGHT}`, "-c", root];
      // CI=true would make `fl simulate` print plain lines even on a terminal.
      execFileSync("tmux", ["-L", socket, "-f", "/dev/null", ...session, `env -u CI ${command}; sleep 600`]);
      const screens: string[] = [];
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { stdout } = await run("tmux", ["-L", socket, "capture-pane", "-p", "-J", "-t", name]);
        screens.push(stdout);
        if (stdout.includes(end) || Date.now() > deadline) return screens;
      }
    }

    it("keeps one bar per site at the bottom and every log line whole above them", async () => {
      const command = `${process.execPath} --import tsx ${driver} ${SITES.length} ${STEPS}`;
      const screens = await watch("driver", command, "DRIVER DONE", 60_000);
      const last = screens.at(-1) ?? "";
      expect(last, "the driver finished").toContain("DRIVER DONE");
      // Many screens taken mid-run, not just the final one, or the check proves little.
      const midRun = screens.filter(
        (s) => !s.includes("DRIVER DONE") && s.split("\n").some((r) => BAR.test(r)),
      );
      expect(midRun.length).toBeGreaterThan(20);
      const bad = screens.flatMap((screen, i) =>
        driverProblems(screen).map((p) => `screen ${i}: ${p}\n${screen}`),
      );
      expect(bad.slice(0, 3)).toEqual([]);
      // The final screen ends with the last log lines, then the bars, then what followed.
      const rows = last.trimEnd().split("\n");
      expect(rows.at(-1)).toBe("DRIVER DONE");
      expect(rows.at(-2 - SITES.length - 1)).toBe(expectedLogs.at(-1));
    });

    it("draws a real `fl simulate` the same way", async () => {
      const out = mkdtempSync(join(tmpdir(), "fl-progress-sim-"));
      try {
        const flags = "--rounds 1 --epochs 1 --image-size 32 --images-per-site 24";
        const command = `${process.execPath} bin/fl.js simulate ${flags} --out ${out}/run; echo SIM EXIT $?`;
        const screens = await watch("simulate", command, "SIM EXIT", 240_000);
        expect(screens.at(-1)).toContain("SIM EXIT 0");
        // While the run goes on: the report, printed below the bars once they stop, is not checked.
        const names = ["rounds", "metro-icu", "community", "outpatient"];
        const live = screens.filter(
          (s) =>
            !s.includes("# Federation") && !s.includes("SIM EXIT") && s.split("\n").some((r) => BAR.test(r)),
        );
        expect(live.length).toBeGreaterThan(10);
        const bad = live.flatMap((screen, i) =>
          barProblems(screen, names).found.map((p) => `${i}: ${p}\n${screen}`),
        );
        expect(bad.slice(0, 3)).toEqual([]);
        const { above } = barProblems(live.at(-1) ?? "", names);
        expect(above.some((row) => /^round 1: completed, model v1 from 3 updates$/.test(row))).toBe(true);
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    });
  },
);

it("prints plain lines, one per log line and no escape codes, when the output is not a terminal", async () => {
  const { stdout } = await run(process.execPath, ["--import", "tsx", driver, `${SITES.length}`, `${STEPS}`], {
    cwd: root,
  });
  expect(stdout).not.toContain("\u001b");
  expect(stdout).toBe(`${[...expectedLogs, "DRIVER DONE"].join("\n")}\n`);
});
