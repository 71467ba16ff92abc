/**
 * npm run bench:virtual-sites [-- --sites 500 --workers 2 --rounds 3 --image-size 32
 *   --images-per-site 24 --insecure --no-write]
 *
 * `fl simulate --virtual-sites N` from one command, measured from outside: start-up (command
 * start to every hospital joined, from the simulation's own lines), each round's time, the peak
 * RSS of every process of the run (the CLI, the coordinator, the virtual hospitals, each trainer
 * worker; sampled from /proc every 250 ms) and of their sum, and the coordinator's RSS at the
 * end of each round (flat: it must not grow with rounds). Table on stdout, JSON in bench/results/
 * (virtual-sites-<date>.json and virtual-sites-latest.json). Linux only (/proc).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { machineInfo, writeBenchResult } from "./machine.js";

const { values: args } = parseArgs({
  options: {
    sites: { type: "string", default: "500" },
    workers: { type: "string", default: "2" },
    rounds: { type: "string", default: "3" },
    "image-size": { type: "string", default: "32" },
    "images-per-site": { type: "string", default: "24" },
    insecure: { type: "boolean", default: false },
    keep: { type: "boolean", default: false },
    "no-write": { type: "boolean", default: false },
  },
});
const numbers = Object.fromEntries(
  (["sites", "workers", "rounds", "image-size", "images-per-site"] as const).map((name) => {
    const n = Number(args[name]);
    if (!Number.isSafeInteger(n) || n < 1)
      throw new Error(`--${name} must be a positive integer, not ${args[name]}`);
    return [name, n];
  }),
) as Record<"sites" | "workers" | "rounds" | "image-size" | "images-per-site", number>;

const FL = join(dirname(fileURLToPath(import.meta.url)), "..", "bin", "fl.js");
const runDir = join(mkdtempSync(join(tmpdir(), "virtual-sites-")), "run");
const command = [
  FL,
  "simulate",
  "--virtual-sites",
  String(numbers.sites),
  "--workers",
  String(numbers.workers),
  "--rounds",
  String(numbers.rounds),
  "--epochs",
  "1",
  "--image-size",
  String(numbers["image-size"]),
  "--images-per-site",
  String(numbers["images-per-site"]),
  "--backend",
  "wasm",
  "--out",
  runDir,
  ...(args.insecure ? ["--insecure"] : []),
];

type Role = "cli" | "coordinator" | "virtual-hospitals" | "worker" | "other";

function roleOf(cmdline: string): Role {
  if (cmdline.includes("worker-process.ts")) return "worker";
  if (cmdline.includes("virtual/main.ts")) return "virtual-hospitals";
  if (cmdline.includes(" coordinator ")) return "coordinator";
  if (cmdline.includes(" simulate ")) return "cli";
  return "other";
}

/** Every descendant of `root` (and root) with its RSS in bytes and what it is. */
function processTree(root: number): { pid: number; role: Role; rss: number }[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // The command name may hold spaces and parentheses: fields follow the last ")".
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // The process ended meanwhile.
    }
  }
  const out: { pid: number; role: Role; rss: number }[] = [];
  const visit = (pid: number) => {
    try {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
      out.push({ pid, role: roleOf(cmdline), rss: rssKb * 1024 });
    } catch {
      return;
    }
    for (const child of children.get(pid) ?? []) visit(child);
  };
  visit(root);
  return out;
}

const startedAt = performance.now();
const seconds = () => (performance.now() - startedAt) / 1000;
const child = spawn(process.execPath, command, { stdio: ["ignore", "pipe", "pipe"] });
const peakByPid = new Map<number, { role: Role; rss: number }>();
let peakTotal = 0;
let coordinatorRss = 0;
const sample = () => {
  if (child.pid === undefined) return;
  const tree = processTree(child.pid);
  let total = 0;
  for (const p of tree) {
    total += p.rss;
    const peak = peakByPid.get(p.pid);
    if (!peak || p.rss > peak.rss) peakByPid.set(p.pid, { role: p.role, rss: p.rss });
    if (p.role === "coordinator") coordinatorRss = p.rss;
  }
  peakTotal = Math.max(peakTotal, total);
};
const sampler = setInterval(sample, 250);

let joined = 0;
let allJoinedSec: number | undefined;
const rounds: {
  round: number;
  startedSec: number;
  attempts: number;
  completedSec?: number;
  coordinatorRssMiB?: number;
}[] = [];
let accepted = 0;
let rejected = 0;
const tail: string[] = [];
createInterface({ input: child.stdout }).on("line", (line) => {
  tail.push(line);
  if (tail.length > 30) tail.shift();
  if (/^ {2}vh\d+ joined/.test(line) && ++joined === numbers.sites) allJoinedSec = seconds();
  const started = /^round (\d+): started/.exec(line);
  if (started) {
    // A round that failed (too few updates) is started again: its time is from its first start.
    const again = rounds.find((x) => x.round === Number(started[1]));
    if (again) again.attempts++;
    else rounds.push({ round: Number(started[1]), startedSec: seconds(), attempts: 1 });
  }
  const completed = /^round (\d+): completed/.exec(line);
  if (completed) {
    const r = rounds.find((x) => x.round === Number(completed[1]));
    sample();
    if (r) Object.assign(r, { completedSec: seconds(), coordinatorRssMiB: coordinatorRss / 2 ** 20 });
  }
  if (/update from vh\d+ accepted/.test(line)) accepted++;
  if (/update from vh\d+ REJECTED/.test(line)) rejected++;
});
createInterface({ input: child.stderr }).on("line", (line) => {
  tail.push(line);
  if (tail.length > 30) tail.shift();
});
const code = await new Promise<number | null>((done) => child.once("exit", done));
clearInterval(sampler);
const totalSec = seconds();
if (code !== 0) {
  console.error(tail.join("\n"));
  throw new Error(`fl simulate exited with code ${code}; its run folder: ${runDir}`);
}

const mib = (bytes: number) => bytes / 2 ** 20;
const peaks = [...peakByPid.entries()]
  .filter(([, p]) => p.role !== "other")
  .map(([pid, p]) => ({ pid, role: p.role, peakRssMiB: mib(p.rss) }));
const report = {
  date: new Date().toISOString(),
  machine: machineInfo(),
  settings: { ...numbers, insecure: args.insecure, backend: "wasm", epochs: 1 },
  startupSec: allJoinedSec,
  totalSec,
  rounds: rounds.map((r) => ({
    round: r.round,
    seconds: r.completedSec === undefined ? undefined : r.completedSec - r.startedSec,
    attempts: r.attempts,
    coordinatorRssMiB: r.coordinatorRssMiB,
  })),
  updates: { accepted, rejected },
  peakRssMiB: { total: mib(peakTotal), processes: peaks },
  targets: { sites: 500, totalMemoryGiB: 4, startupSec: 30, coordinatorMemory: "flat over rounds" },
};

const f1 = (n: number | undefined) => (n === undefined ? "—" : n.toFixed(1));
console.log(
  `fl simulate --virtual-sites ${numbers.sites} --workers ${numbers.workers}, ${numbers.rounds} rounds, ${numbers["image-size"]} px, ${numbers["images-per-site"]} images a site${args.insecure ? ", plaintext" : ", mutual TLS"}`,
);
console.log(`| measure | value | target |\n|---|---|---|`);
console.log(`| start-up: command to all ${numbers.sites} joined | ${f1(allJoinedSec)} s | < 30 s |`);
console.log(`| peak RSS, all processes together | ${f1(mib(peakTotal))} MiB | ≤ 4096 MiB |`);
for (const p of peaks) console.log(`| peak RSS, ${p.role} (pid ${p.pid}) | ${f1(p.peakRssMiB)} MiB | |`);
for (const r of report.rounds)
  console.log(
    `| round ${r.round}${r.attempts > 1 ? ` (${r.attempts} attempts)` : ""}: time, coordinator RSS at its end | ${f1(r.seconds)} s, ${f1(r.coordinatorRssMiB)} MiB | flat |`,
  );
console.log(`| updates accepted / rejected | ${accepted} / ${rejected} | all accepted |`);
console.log(`| whole command | ${f1(totalSec)} s | |`);
if (!args["no-write"]) console.log(`written: ${writeBenchResult("virtual-sites", report)}`);
if (args.keep) console.log(`run folder kept: ${runDir}`);
else rmSync(dirname(runDir), { recursive: true, force: true });
