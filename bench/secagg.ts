/**
 * node --import tsx bench/secagg.ts [-- --sizes 3,10,25,50 --params 100000 --big 1000000,10000000 --no-write]
 *
 * What secure aggregation (shared/src/secagg) costs, protocol maths only (no network, no
 * training): full rounds between real clients and the real server, in one process. For each
 * cohort size at `params` parameters, and at n = 10 for each `big` size: per client, the time
 * of its four steps and the bytes it sends (wire estimate, messages.ts wireBytes) next to the
 * plain upload (the float32 delta, 4 bytes a parameter); at the server, the time of all its
 * steps, with no dropout and with one client dropped after sharing (its pairwise masks must
 * then be rebuilt). "plain ms" is the plain FedAvg fold of the same n float32 vectors, the
 * server's aggregation work without it. Table on stdout, JSON in bench/results/secagg.json.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { writeFileAtomic } from "../shared/src/io/atomic-file.js";
import {
  type ClientMessage,
  createSecAggClient,
  createSecAggParams,
  createSecAggServer,
  type Outgoing,
  type SecAggClient,
  wireBytes,
} from "../shared/src/secagg/index.js";
import { machineInfo } from "./machine.js";

const { values: args } = parseArgs({
  options: {
    sizes: { type: "string", default: "3,10,25,50" },
    params: { type: "string", default: "100000" },
    big: { type: "string", default: "1000000,10000000" },
    "no-write": { type: "boolean", default: false },
  },
});
const list = (text: string) => text.split(",").filter(Boolean).map(Number);
const sizes = list(args.sizes);
const parameters = Number(args.params);
const big = list(args.big);
if (
  [...sizes, parameters, ...big].some((v) => !Number.isSafeInteger(v) || v < 1) ||
  sizes.some((n) => n < 3)
) {
  throw new Error("--sizes (each ≥ 3), --params and --big must be positive integers");
}

interface Row {
  readonly n: number;
  readonly parameters: number;
  readonly degree: number;
  readonly threshold: number;
  readonly droppedAfterSharing: number;
  /** Mean over clients of the time of their four steps. */
  readonly clientMs: number;
  readonly clientMaxMs: number;
  readonly serverMs: number;
  readonly plainFoldMs: number;
  readonly clientBytes: number;
  readonly plainClientBytes: number;
  readonly clientBytesRatio: number;
  readonly serverSentBytesPerClient: number;
  readonly exact: boolean;
}

function round(n: number, length: number, drop: number): Row {
  const cohort = Array.from({ length: n }, (_, i) => `site-${i}`);
  const params = createSecAggParams({
    session: `bench/${n}/${length}`,
    round: 1,
    cohort,
    vectorLength: length,
    clip: 1,
    fracBits: 16,
    graphSeed: createHash("sha256").update(`bench/${n}`).digest("hex"),
  });
  const inputs = cohort.map((_, c) => Float32Array.from({ length }, (_, i) => Math.sin(i * 0.001 + c) * 0.5));
  const clientMs = new Map<string, number>();
  const clientBytes = new Map<string, number>();
  let serverMs = 0;
  let serverBytes = 0;
  const timed = <T>(f: () => T, add: (ms: number) => void): T => {
    const start = performance.now();
    const out = f();
    add(performance.now() - start);
    return out;
  };
  const server = createSecAggServer(params);
  const clients = cohort.map((id, c) => createSecAggClient({ id, params, input: inputs[c] as Float32Array }));
  const byId = new Map<string, SecAggClient>(clients.map((c) => [c.id, c]));
  const dropped = new Set(cohort.slice(0, drop));
  let outbox: Outgoing[] = [];
  const send = (message: ClientMessage) => {
    clientBytes.set(message.from, (clientBytes.get(message.from) ?? 0) + wireBytes(message));
    const step = timed(
      () => server.receive(message),
      (ms) => (serverMs += ms),
    );
    outbox.push(...step.send);
  };
  const clientTimer = (id: string) => (ms: number) => clientMs.set(id, (clientMs.get(id) ?? 0) + ms);
  for (const client of clients) send(timed(() => client.advertise(), clientTimer(client.id)));
  for (let stage = 1; stage < 4; stage++) {
    const before = server.stage;
    const deliveries = outbox;
    outbox = [];
    for (const out of deliveries) {
      serverBytes += wireBytes(out.message);
      // Dropped clients fall silent after sharing: they never send a masked input.
      if (stage === 2 && dropped.has(out.to)) continue;
      send(timed(() => (byId.get(out.to) as SecAggClient).receive(out.message), clientTimer(out.to)));
    }
    if (server.stage === before) {
      outbox.push(
        ...timed(
          () => server.closeStage().send,
          (ms) => (serverMs += ms),
        ),
      );
    }
  }
  const result = server.result;
  if (result === undefined) throw new Error(`round aborted: ${server.abort?.message}`);
  // The plain sum of the same fixed-point inputs, to check the unmasked one.
  const expected = new Uint32Array(length);
  for (const [c, input] of inputs.entries()) {
    if (dropped.has(cohort[c] as string)) continue;
    for (let i = 0; i < length; i++)
      expected[i] = (expected[i] as number) + Math.round((input[i] as number) * 2 ** 16);
  }
  const exact = expected.every((v, i) => v === result.sum[i]);
  const fold = new Float32Array(length);
  const plainStart = performance.now();
  for (const input of inputs)
    for (let i = 0; i < length; i++) fold[i] = (fold[i] as number) + (input[i] as number) / n;
  const plainFoldMs = performance.now() - plainStart;
  const times = [...clientMs.values()];
  // Bytes of the clients whose update is in the sum (a dropped one sent less).
  const bytes = [...clientBytes.entries()].filter(([id]) => !dropped.has(id)).map(([, b]) => b);
  const meanBytes = bytes.reduce((a, b) => a + b, 0) / bytes.length;
  // The plain upload: the float32 delta plus the same few bytes of framing.
  const plainClientBytes = 4 * length + 16;
  return {
    n,
    parameters: length,
    degree: params.degree,
    threshold: params.threshold,
    droppedAfterSharing: drop,
    clientMs: times.reduce((a, b) => a + b, 0) / times.length,
    clientMaxMs: Math.max(...times),
    serverMs,
    plainFoldMs,
    clientBytes: Math.round(meanBytes),
    plainClientBytes,
    clientBytesRatio: meanBytes / plainClientBytes,
    serverSentBytesPerClient: Math.round(serverBytes / n),
    exact,
  };
}

const log = (line: string) => console.error(line);
// Warm-up: lets the JIT compile the hot loops before anything is timed.
round(4, 1000, 1);
const rows: Row[] = [];
const cases = [
  ...sizes.flatMap((n) => [
    [n, parameters, 0],
    [n, parameters, n > 3 ? 1 : 0],
  ]),
  ...big.flatMap((length) => [
    [10, length, 0],
    [10, length, 1],
  ]),
].filter((c, i, all) => all.findIndex((d) => d.join() === c.join()) === i) as [number, number, number][];
for (const [n, length, drop] of cases) {
  log(`n = ${n}, ${length} parameters, ${drop} dropped …`);
  rows.push(round(n, length, drop));
}

const header = [
  "n",
  "params",
  "k",
  "t",
  "drop",
  "client ms",
  "max",
  "server ms",
  "plain ms",
  "client B",
  "ratio",
  "exact",
];
const lines = rows.map((r) => [
  String(r.n),
  String(r.parameters),
  String(r.degree),
  String(r.threshold),
  String(r.droppedAfterSharing),
  r.clientMs.toFixed(1),
  r.clientMaxMs.toFixed(1),
  r.serverMs.toFixed(1),
  r.plainFoldMs.toFixed(1),
  String(r.clientBytes),
  r.clientBytesRatio.toFixed(4),
  r.exact ? "yes" : "NO",
]);
const widths = header.map((h, c) => Math.max(h.length, ...lines.map((l) => (l[c] as string).length)));
console.log(
  [header, ...lines]
    .map((cells) => cells.map((x, c) => x.padStart(widths[c] as number)).join("  "))
    .join("\n"),
);

if (!args["no-write"]) {
  const file = join(fileURLToPath(new URL(".", import.meta.url)), "results", "secagg.json");
  const report = { date: new Date().toISOString(), machine: machineInfo(), rows };
  writeFileAtomic(file, `${JSON.stringify(report, null, 2)}\n`);
  log(`wrote ${file}`);
}
if (rows.some((r) => !r.exact)) process.exitCode = 1;
