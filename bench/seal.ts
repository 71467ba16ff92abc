/**
 * npm run bench:seal [-- --mb 16.5 --runs 5 --no-write]
 *
 * What sealing an update costs the site's event loop (heartbeats, long-polls): a delta of `mb`
 * megabytes sealed on the calling thread (sealUpdateInThread) and on the worker thread
 * (sealUpdate), each `runs` times after one warm-up. A cell is the median over the runs of the
 * wall time and of the longest event-loop delay seen meanwhile (perf_hooks
 * monitorEventLoopDelay, 1 ms resolution). Then tweetnacl's XSalsa20-Poly1305 is compared with
 * libsodium's (shared/src/crypto/primitives.ts) on the same chunks, and a join's Ed25519 and
 * X25519 operations likewise, as ratios. Table on stdout, JSON in bench/results/
 * (seal-<date>.json and seal-latest.json).
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { sealUpdate, sealUpdateInThread } from "../client/src/seal-update.js";
import { chunkNonce, generateIdentity } from "../shared/src/crypto/index.js";
import { inUse, reference, secretbox, signing, x25519 } from "../shared/src/crypto/primitives.js";
import {
  chunkBytes,
  createManifest,
  DEFAULT_CHUNK_BYTES,
  serializeWeights,
} from "../shared/src/weights/index.js";
import { machineInfo, writeBenchResult } from "./machine.js";

const { values: args } = parseArgs({
  options: {
    mb: { type: "string", default: "16.5" },
    runs: { type: "string", default: "5" },
    "no-write": { type: "boolean", default: false },
  },
});
const megabytes = Number(args.mb);
const runs = Number(args.runs);
if (!(megabytes > 0) || !Number.isSafeInteger(runs) || runs < 1)
  throw new Error(
    `--mb must be a positive number and --runs a positive integer (got ${args.mb}, ${args.runs})`,
  );
const log = (line: string) => console.error(line);

const parameters = Math.round((megabytes * 1e6) / 4);
const identity = generateIdentity("bench");
const key = Uint8Array.from({ length: 32 }, (_, i) => i);
const input = {
  delta: {
    manifest: createManifest([{ name: "w", shape: [parameters] }]),
    values: Float32Array.from({ length: parameters }, (_, i) => Math.sin(i)),
  },
  identity,
  key,
  federationId: "bench",
  round: 1,
  modelVersion: 0,
  taskId: "t",
  numExamples: 1,
};

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Wall time and the longest event-loop delay (ms) while `seal` runs. */
async function measure(seal: () => unknown): Promise<{ wallMs: number; maxDelayMs: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  // Lets the monitor take its first samples before the work starts.
  await sleep(20);
  const start = performance.now();
  await seal();
  const wallMs = performance.now() - start;
  // A blocked loop's delay is recorded only when the loop runs again.
  await sleep(20);
  histogram.disable();
  return { wallMs, maxDelayMs: histogram.max / 1e6 };
}

interface Row {
  readonly mode: string;
  readonly wallMs: number[];
  readonly maxDelayMs: number[];
  readonly medianWallMs: number;
  readonly medianMaxDelayMs: number;
}

const modes: ReadonlyArray<{ name: string; seal: () => unknown }> = [
  { name: "in thread (sealUpdateInThread)", seal: () => sealUpdateInThread(input) },
  { name: "worker thread (sealUpdate)", seal: () => sealUpdate(input) },
];
const rows: Row[] = [];
for (const { name, seal } of modes) {
  await measure(seal);
  const samples = [];
  for (let run = 0; run < runs; run++) samples.push(await measure(seal));
  const wallMs = samples.map((s) => s.wallMs);
  const maxDelayMs = samples.map((s) => s.maxDelayMs);
  rows.push({
    mode: name,
    wallMs,
    maxDelayMs,
    medianWallMs: median(wallMs),
    medianMaxDelayMs: median(maxDelayMs),
  });
  log(
    `${name}: ${median(wallMs).toFixed(1)} ms, event loop blocked up to ${median(maxDelayMs).toFixed(1)} ms`,
  );
}

/** tweetnacl's time to encrypt the update's chunks over libsodium's (primitives.ts's fast path). */
function compareWithLibsodium(): { tweetnaclOverLibsodium: number; identical: boolean } | string {
  if (secretbox.name !== "libsodium")
    return "libsodium-wrappers did not load here: both sides would be tweetnacl";
  const chunks = chunkBytes(serializeWeights(input.delta), DEFAULT_CHUNK_BYTES);
  const prefix = "AAAAAAAAAAAAAAAAAAAAAA==";
  const tweetnacl = () =>
    chunks.map((chunk, i) => reference.secretbox.seal(chunk, chunkNonce(prefix, i), key));
  const libsodium = () => chunks.map((chunk, i) => secretbox.seal(chunk, chunkNonce(prefix, i), key));
  // The same construction (XSalsa20-Poly1305, tag first): the ciphertexts must agree.
  const a = tweetnacl();
  const b = libsodium();
  const identical = a.every((chunk, i) => Buffer.from(chunk).equals(Buffer.from(b[i] as Uint8Array)));
  const naclMs = median(Array.from({ length: runs }, () => timeMs(tweetnacl)));
  const sodiumMs = median(Array.from({ length: runs }, () => timeMs(libsodium)));
  return { tweetnaclOverLibsodium: naclMs / sodiumMs, identical };
}

function timeMs(work: () => unknown): number {
  const start = performance.now();
  work();
  return performance.now() - start;
}

/**
 * What a join costs in public-key operations (each side signs once, verifies once and derives
 * one X25519 key), tweetnacl against libsodium: operations a second, median of the runs.
 */
function comparePublicKeyOperations() {
  const pair = signing.keyPairFromSeed(Uint8Array.from({ length: 32 }, (_, i) => i + 1));
  const message = Uint8Array.from({ length: 120 }, (_, i) => i);
  const signature = signing.sign(message, pair.secretKey);
  const peer = x25519.scalarMultBase(Uint8Array.from({ length: 32 }, (_, i) => 200 - i));
  const operations = [
    { name: "Ed25519 sign", run: (p: typeof reference) => p.signing.sign(message, pair.secretKey) },
    {
      name: "Ed25519 verify",
      run: (p: typeof reference) => p.signing.verify(message, signature, pair.publicKey),
    },
    { name: "X25519 shared key", run: (p: typeof reference) => p.x25519.boxBefore(peer, key) },
  ];
  const repeat = 50;
  const perSecond = (work: () => unknown) =>
    median(
      Array.from(
        { length: runs },
        () =>
          (repeat * 1000) /
          timeMs(() => {
            for (let i = 0; i < repeat; i++) work();
          }),
      ),
    );
  return operations.map(({ name, run }) => {
    const tweetnacl = perSecond(() => run(reference));
    const libsodium = perSecond(() => run(inUse));
    return {
      operation: name,
      tweetnaclPerSec: tweetnacl,
      libsodiumPerSec: libsodium,
      ratio: libsodium / tweetnacl,
    };
  });
}
const publicKey = comparePublicKeyOperations();
const libsodium = compareWithLibsodium();

const header = ["mode", "median wall ms", "median max event-loop delay ms"];
const lines = rows.map((r) => [r.mode, r.medianWallMs.toFixed(1), r.medianMaxDelayMs.toFixed(1)]);
const widths = header.map((h, c) => Math.max(h.length, ...lines.map((l) => (l[c] as string).length)));
const format = (cells: readonly string[]) =>
  cells
    .map((cell, c) => (c === 0 ? cell.padEnd(widths[c] as number) : cell.padStart(widths[c] as number)))
    .join("  ");
console.log(
  [
    `sealing a ${megabytes} MB update (${parameters.toLocaleString("en-US")} parameters), median of ${runs} runs`,
    format(header),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...lines.map(format),
    typeof libsodium === "string"
      ? libsodium
      : `encryption, tweetnacl / libsodium-wrappers: ${libsodium.tweetnaclOverLibsodium.toFixed(2)}× (ciphertexts ${libsodium.identical ? "identical" : "DIFFER"})`,
    ...publicKey.map(
      (row) =>
        `${row.operation}: tweetnacl ${row.tweetnaclPerSec.toFixed(0)}/s, libsodium ${row.libsodiumPerSec.toFixed(0)}/s (${row.ratio.toFixed(1)}×)`,
    ),
  ].join("\n"),
);

if (!args["no-write"]) {
  const report = {
    date: new Date().toISOString(),
    machine: machineInfo(),
    timed:
      "one sealing of the update (serialise, hash, encrypt the chunks, sign); the longest event-loop delay while it ran, from monitorEventLoopDelay at 1 ms resolution; median of the runs after a warm-up",
    megabytes,
    parameters,
    runs,
    rows,
    libsodium,
    publicKey,
  };
  log(`wrote ${writeBenchResult("seal", report)}`);
}
