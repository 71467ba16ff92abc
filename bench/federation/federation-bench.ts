/**
 * npm run bench:federation -- [--sizes 300000,11000000,25000000] [--clients 3,25] [--tls off,on]
 *   [--rounds 2] [--train-ms 2000] [--staggered] [--crypto-mb 32] [--no-write] [--out FILE]
 *
 * The federation's own overhead (issue 13, item 4). For each model size × cohort × TLS setting:
 * raw grpc-js streaming of the same bytes by the same number of concurrent clients, then a real
 * federation over loopback gRPC (the production coordinator in its own process; scripted sites
 * with the production client adapter, session and sealing, whose "training" is a sleep of
 * --train-ms), then raw grpc-js again. Each round is split into download, training, sealing,
 * upload, opening, verification, aggregation, checkpoint and evaluation; the coordinator's
 * phases are timed by the ports it is built from (timed-ports.ts). The sites upload together
 * once all have sealed (--staggered: each as soon as it has). Sealing and opening
 * throughput is compared with libsodium-wrappers when it is installed.
 *
 * Table on stdout; JSON in bench/results/federation-<date>.json and federation-latest.json
 * (--out FILE writes there instead; --no-write writes nothing).
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { machineInfo, writeBenchResult } from "../machine.js";
import { compareCrypto } from "./crypto-compare.js";
import { splitTable, targets, targetTable } from "./report.js";
import { type RunConfig, type RunResult, runConfig, siteIdOf } from "./run.js";
import { makeTlsMaterial } from "./tls.js";

const { values: args } = parseArgs({
  options: {
    sizes: { type: "string", default: "300000,11000000,25000000" },
    clients: { type: "string", default: "3,25" },
    tls: { type: "string", default: "off,on" },
    rounds: { type: "string", default: "2" },
    "train-ms": { type: "string", default: "2000" },
    "crypto-mb": { type: "string", default: "32" },
    staggered: { type: "boolean", default: false },
    "no-write": { type: "boolean", default: false },
    out: { type: "string" },
  },
});

function integers(name: string, text: string, min: number): number[] {
  const values = text.split(",").filter(Boolean).map(Number);
  if (values.length === 0 || values.some((v) => !Number.isSafeInteger(v) || v < min))
    throw new Error(`--${name} takes comma-separated integers ≥ ${min}, got "${text}"`);
  return values;
}

const sizes = integers("sizes", args.sizes, 1);
const clients = integers("clients", args.clients, 1);
const [rounds] = integers("rounds", args.rounds, 1) as [number];
const [trainingMs] = integers("train-ms", args["train-ms"], 0) as [number];
const [cryptoMb] = integers("crypto-mb", args["crypto-mb"], 1) as [number];
const tlsModes = args.tls.split(",").map((mode) => {
  if (mode !== "on" && mode !== "off")
    throw new Error(`--tls takes on, off or both ("off,on"), got "${mode}"`);
  return mode === "on";
});

const log = (line: string) => process.stderr.write(`${line}\n`);
const started = Date.now();
const tls = tlsModes.includes(true)
  ? makeTlsMaterial(Array.from({ length: Math.max(...clients) }, (_, i) => siteIdOf(i)))
  : undefined;

const results: RunResult[] = [];
for (const parameters of sizes)
  for (const n of clients)
    for (const withTls of tlsModes) {
      const config: RunConfig = {
        parameters,
        clients: n,
        tls: withTls,
        rounds,
        trainingMs,
        uploadsTogether: !args.staggered,
      };
      log(`${parameters} parameters × ${n} clients, TLS ${withTls ? "on" : "off"}, ${rounds} rounds`);
      results.push(await runConfig(config, tls, log));
    }

log(`sealing and opening ${cryptoMb} MiB with tweetnacl and libsodium-wrappers (if installed)`);
const crypto = compareCrypto(cryptoMb * 2 ** 20);
const { rows, notMeasured } = targets(results);

const mibs = (bytesPerSec: number) => `${(bytesPerSec / 2 ** 20).toFixed(0)} MiB/s`;
const sodium = crypto.libsodium;
console.log(
  [
    `per-round split (ms; medians over sites, and over the rounds after the first), training = ${trainingMs} ms asleep`,
    splitTable(results),
    "",
    targetTable(rows),
    ...notMeasured.map((line) => `not measured: ${line}`),
    "",
    `XSalsa20-Poly1305 over 1 MiB chunks, ${cryptoMb} MiB: tweetnacl seal ${mibs(crypto.tweetnacl.seal)}, open ${mibs(crypto.tweetnacl.open)}`,
    "unavailable" in sodium
      ? sodium.unavailable
      : `libsodium-wrappers seal ${mibs(sodium.seal)} (${(sodium.seal / crypto.tweetnacl.seal).toFixed(2)}× tweetnacl), open ${mibs(sodium.open)} (${(sodium.open / crypto.tweetnacl.open).toFixed(2)}×), ciphertexts ${sodium.identicalCiphertexts ? "identical" : "DIFFER"}`,
  ].join("\n"),
);

const report = {
  date: new Date(started).toISOString(),
  machine: machineInfo(),
  seconds: (Date.now() - started) / 1000,
  settings: { sizes, clients, tls: tlsModes, rounds, trainingMs, cryptoMb, uploadsTogether: !args.staggered },
  timed:
    "client phases by the scripted sites (medians over sites; they share one process, so seal includes queueing behind the other sites' sealings on the one sealing worker, and train is the sleep as this process's busy event loop let it end); coordinator phases by timed ports around the production coordinator (sums over the round's uploads); round = round start to commit + its evaluation; medians over the rounds after the first; raw grpc-js = best of one run before and one after the federation, same concurrency, chunk sizes and TLS",
  results,
  targets: rows,
  notMeasured,
  crypto,
};
if (args.out) writeFileSync(args.out, `${JSON.stringify(report, null, 2)}\n`);
else if (!args["no-write"]) log(`wrote ${writeBenchResult("federation", report)}`);
