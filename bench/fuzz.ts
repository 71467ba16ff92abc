/**
 * npm run bench:fuzz [-- --count 1000000 --targets dicom,image,weights,upload --seed 1
 *                       --max-seconds 600 --no-write]
 *
 * Fuzzes every decoder of untrusted bytes (test/fixtures/fuzz/targets.ts: DICOM, PNG/JPEG, the
 * FLW1 weights blob, an upload's chunk and manifest) with fast-check inputs: mutated valid seeds,
 * random bytes, and random bytes behind each format's magic. A failure is any exception but an
 * FlError, a result beyond the size bound, or a decoder that no longer decodes its valid seeds
 * (checked every 50,000 inputs). Each decoder runs in its own process, so its peak RSS is its
 * own. Prints a table and writes bench/results/fuzz-<date>.json and fuzz-latest.json.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import fc from "fast-check";
import { FuzzFailure, TARGETS } from "../test/fixtures/fuzz/targets.js";
import { machineInfo, writeBenchResult } from "./machine.js";

const { values: args } = parseArgs({
  options: {
    count: { type: "string", default: "1000000" },
    targets: { type: "string", default: Object.keys(TARGETS).join(",") },
    seed: { type: "string", default: "1" },
    "max-seconds": { type: "string", default: "0" },
    "no-write": { type: "boolean", default: false },
    child: { type: "string" },
  },
});
const count = Number(args.count);
const seed = Number(args.seed);
const maxSeconds = Number(args["max-seconds"]);
const BATCH = 5000;
const HEALTH_EVERY = 50_000;
const MAX_EXAMPLES = 10;

interface Row {
  readonly target: string;
  readonly decoder: string;
  readonly inputs: number;
  readonly failures: number;
  readonly inputsPerSecond: number;
  readonly maxInputMs: number;
  readonly maxRssBytes: number;
  readonly healthChecks: number;
  readonly stoppedBy: "count" | "time";
  readonly examples: readonly { readonly error: string; readonly length: number; readonly hex: string }[];
}

async function runChild(name: string): Promise<Row> {
  const make = TARGETS[name];
  if (!make) throw new Error(`unknown target ${name}; known: ${Object.keys(TARGETS).join(", ")}`);
  const target = await make();
  const examples: { error: string; length: number; hex: string }[] = [];
  let failures = 0;
  let inputs = 0;
  let maxInputMs = 0;
  let healthChecks = 0;
  const fail = (error: unknown, input?: Uint8Array) => {
    failures++;
    if (examples.length < MAX_EXAMPLES) {
      examples.push({
        error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        length: input?.length ?? 0,
        hex: input ? Buffer.from(input.subarray(0, 4096)).toString("hex") : "",
      });
    }
  };
  const start = performance.now();
  const deadline = maxSeconds > 0 ? start + maxSeconds * 1000 : Number.POSITIVE_INFINITY;
  let stoppedBy: Row["stoppedBy"] = "count";
  for (let batch = 0; inputs < count; batch++) {
    if (performance.now() > deadline) {
      stoppedBy = "time";
      break;
    }
    const size = Math.min(BATCH, count - inputs);
    for (const input of fc.sample(target.inputs, { numRuns: size, seed: seed * 1_000_003 + batch })) {
      const t0 = performance.now();
      try {
        await target.check(input);
      } catch (error) {
        fail(error instanceof FuzzFailure ? error : new FuzzFailure(String(error)), input);
      }
      maxInputMs = Math.max(maxInputMs, performance.now() - t0);
      inputs++;
      if (inputs % HEALTH_EVERY === 0) {
        healthChecks++;
        await target.stillHealthy().catch((error: unknown) => fail(error));
      }
    }
  }
  const seconds = (performance.now() - start) / 1000;
  return {
    target: name,
    decoder: target.name,
    inputs,
    failures,
    inputsPerSecond: inputs / seconds,
    maxInputMs,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    healthChecks,
    stoppedBy,
    examples,
  };
}

if (args.child) {
  process.stdout.write(`${JSON.stringify(await runChild(args.child))}\n`);
} else {
  const names = args.targets.split(",").filter(Boolean);
  const rows: Row[] = [];
  const self = fileURLToPath(import.meta.url);
  for (const name of names) {
    console.error(`fuzzing ${name}: up to ${count.toLocaleString("en-US")} inputs…`);
    const child = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        self,
        "--child",
        name,
        "--count",
        String(count),
        "--seed",
        String(seed),
        "--max-seconds",
        String(maxSeconds),
      ],
      { encoding: "utf8", maxBuffer: 64 * 2 ** 20, stdio: ["ignore", "pipe", "inherit"] },
    );
    const last = child.stdout.trim().split("\n").at(-1) ?? "";
    if (child.status !== 0 || !last.startsWith("{")) {
      // A crash of the process itself (abort, out of memory) is the worst failure of all.
      rows.push({
        target: name,
        decoder: name,
        inputs: 0,
        failures: 1,
        inputsPerSecond: 0,
        maxInputMs: 0,
        maxRssBytes: 0,
        healthChecks: 0,
        stoppedBy: "count",
        examples: [{ error: `process exited ${child.status ?? child.signal}`, length: 0, hex: "" }],
      });
      continue;
    }
    rows.push(JSON.parse(last) as Row);
  }
  const header = ["decoder", "inputs", "failures", "inputs/s", "max ms/input", "max RSS MiB"];
  const lines = rows.map((r) => [
    r.decoder,
    r.inputs.toLocaleString("en-US") + (r.stoppedBy === "time" ? " (time)" : ""),
    String(r.failures),
    Math.round(r.inputsPerSecond).toLocaleString("en-US"),
    r.maxInputMs.toFixed(1),
    (r.maxRssBytes / 2 ** 20).toFixed(0),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...lines.map((l) => (l[c] as string).length)));
  const format = (cells: readonly string[]) =>
    cells
      .map((cell, c) => (c === 0 ? cell.padEnd(widths[c] as number) : cell.padStart(widths[c] as number)))
      .join("  ");
  console.log([format(header), widths.map((w) => "-".repeat(w)).join("  "), ...lines.map(format)].join("\n"));
  for (const r of rows)
    for (const e of r.examples.slice(0, 3)) console.error(`${r.decoder}: ${e.error} (${e.length} bytes)`);

  if (!args["no-write"]) {
    const report = {
      date: new Date().toISOString(),
      machine: machineInfo(),
      fuzzer: "fast-check (fc.sample), one process per decoder",
      countPerDecoder: count,
      seed,
      maxSeconds,
      failureMeans:
        "an exception other than FlError, a result beyond the size bound, or valid seeds no longer decoding",
      rows,
    };
    console.error(`wrote ${writeBenchResult("fuzz", report)}`);
  }
  if (rows.some((r) => r.failures > 0)) process.exitCode = 1;
}
