import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import {
  CHUNK_OVERHEAD_BYTES,
  generateIdentity,
  type Identity,
  identityToJson,
  publicIdentity,
  publicIdentityToJson,
} from "../../shared/src/crypto/index.js";
import { forkTypeScript } from "../../shared/src/io/ts-child.js";
import { createManifest, DEFAULT_CHUNK_BYTES, serializedLength } from "../../shared/src/weights/index.js";
import type { CoordinatorReport, CoordinatorStart } from "./coordinator-child.js";
import { RawStreams } from "./raw-grpc.js";
import { BenchSites } from "./sites.js";
import { type RoundSplit, type SiteRound, splitRound, summariseRounds, throughput } from "./split.js";
import type { TlsMaterial } from "./tls.js";

const COORDINATOR = fileURLToPath(new URL("./coordinator-child.ts", import.meta.url));
const RAW_SERVER = fileURLToPath(new URL("./raw-server.ts", import.meta.url));

export interface RunConfig {
  readonly parameters: number;
  readonly clients: number;
  readonly tls: boolean;
  readonly rounds: number;
  readonly trainingMs: number;
  /** See SitesOptions.uploadsTogether. */
  readonly uploadsTogether: boolean;
}

export interface RawThroughput {
  /** Bytes per second of n concurrent streams, best of the repetitions (one before, one after). */
  readonly downloadBytesPerSec: number;
  readonly uploadBytesPerSec: number;
}

export interface RunResult {
  readonly config: RunConfig;
  readonly modelBytes: number;
  readonly rounds: readonly RoundSplit[];
  readonly summary: RoundSplit;
  readonly raw: RawThroughput;
  readonly coordinatorPeakRssBytes: number;
  readonly coordinatorMaxEventLoopDelayMs: number;
}

const identities = new Map<string, Identity>();
/** Key generation is slow on a loaded machine; one identity per name serves every run. */
function identityOf(id: string): Identity {
  let identity = identities.get(id);
  if (!identity) {
    identity = generateIdentity(id);
    identities.set(id, identity);
  }
  return identity;
}

export const siteIdOf = (i: number) => `site-${String(i).padStart(2, "0")}`;

/** The bytes a model of one tensor of `parameters` values is downloaded as, and uploaded as once sealed. */
function transferSizes(parameters: number): { model: number; sealed: number } {
  const model = serializedLength(createManifest([{ name: "w", shape: [parameters] }]));
  return { model, sealed: model + Math.ceil(model / DEFAULT_CHUNK_BYTES) * CHUNK_OVERHEAD_BYTES };
}

/** One configuration: raw grpc-js, the federation, raw grpc-js again. */
export async function runConfig(
  config: RunConfig,
  tls: TlsMaterial | undefined,
  log: (line: string) => void,
): Promise<RunResult> {
  const sizes = transferSizes(config.parameters);
  const before = await rawThroughput(config.clients, sizes, config.tls ? tls : undefined);
  const federation = await runFederation(config, config.tls ? tls : undefined, log);
  const after = await rawThroughput(config.clients, sizes, config.tls ? tls : undefined);
  return {
    ...federation,
    modelBytes: sizes.model,
    raw: {
      downloadBytesPerSec: Math.max(before.downloadBytesPerSec, after.downloadBytesPerSec),
      uploadBytesPerSec: Math.max(before.uploadBytesPerSec, after.uploadBytesPerSec),
    },
  };
}

async function rawThroughput(
  clients: number,
  sizes: { model: number; sealed: number },
  tls: TlsMaterial | undefined,
): Promise<RawThroughput> {
  const child = forkTypeScript(RAW_SERVER, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const streams: RawStreams[] = [];
  try {
    const started = new Promise<number>((resolve, reject) => {
      child.once("message", (message: { port: number }) => resolve(message.port));
      child.once("exit", (code) => reject(new Error(`the raw grpc-js server exited (${code})`)));
    });
    child.send({ ...(tls && { tls: { ca: tls.ca, cert: tls.coordinatorCert, key: tls.coordinatorKey } }) });
    const port = await started;
    for (let i = 0; i < clients; i++) {
      const site = tls?.sites.get(siteIdOf(i));
      streams.push(new RawStreams(port, tls && site && { ca: tls.ca, cert: site.cert, key: site.key }));
    }
    const downloads = await Promise.all(
      streams.map((s) => s.download({ bytes: sizes.model, chunkBytes: DEFAULT_CHUNK_BYTES })),
    );
    const uploads = await Promise.all(
      streams.map((s) =>
        s.upload({ bytes: sizes.sealed, chunkBytes: DEFAULT_CHUNK_BYTES + CHUNK_OVERHEAD_BYTES }),
      ),
    );
    return {
      downloadBytesPerSec: throughput(downloads.map((interval) => ({ interval, bytes: sizes.model }))),
      uploadBytesPerSec: throughput(uploads.map((interval) => ({ interval, bytes: sizes.sealed }))),
    };
  } finally {
    for (const s of streams) s.close();
    child.disconnect();
  }
}

/**
 * A federation over loopback gRPC: the coordinator in a child process, the scripted sites here,
 * every site in every round, each round followed by the federated evaluation of its model.
 */
async function runFederation(
  config: RunConfig,
  tls: TlsMaterial | undefined,
  log: (line: string) => void,
): Promise<Omit<RunResult, "modelBytes" | "raw">> {
  const ids = Array.from({ length: config.clients }, (_, i) => siteIdOf(i));
  const coordinator = identityOf("coordinator");
  const siteIdentities = ids.map(identityOf);
  const child = forkTypeScript(COORDINATOR, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const reports = reportsOf(child);
  let sites: BenchSites | undefined;
  try {
    const start: CoordinatorStart = {
      kind: "start",
      coordinatorIdentity: identityToJson(coordinator),
      sites: siteIdentities.map((s) => publicIdentityToJson(publicIdentity(s))),
      plan: {
        phases: [{ name: "p", task: "classify", rounds: config.rounds }],
        minSites: config.clients,
        minAvailableSites: config.clients,
        roundTimeoutSec: 1200,
        evaluateEvery: 1,
        evaluationTimeoutSec: 600,
        maxRoundAttempts: 1,
      },
      parameters: config.parameters,
      maxUpdateBytes: 4 * config.parameters + (1 << 20),
      ...(tls && { tls: { cert: tls.coordinatorCert, key: tls.coordinatorKey, ca: tls.ca } }),
    };
    child.send(start);
    const { port } = await reports.next("listening");
    const delta = new Float32Array(config.parameters);
    for (let i = 0; i < delta.length; i++) delta[i] = Math.sin(i * 0.001) * 0.01;
    sites = new BenchSites({
      address: `127.0.0.1:${port}`,
      identities: siteIdentities,
      coordinator: publicIdentity(coordinator),
      trainingMs: config.trainingMs,
      uploadsTogether: config.uploadsTogether,
      delta,
      ...(tls && {
        tls: (siteId: string) => {
          const site = tls.sites.get(siteId);
          if (!site) throw new Error(`no TLS certificate made for ${siteId}`);
          return { ca: Buffer.from(tls.ca), cert: Buffer.from(site.cert), key: Buffer.from(site.key) };
        },
      }),
    });
    await sites.join();
    const stop = { now: false };
    const parts = sites.run(stop);
    // A failing site ends the wait at once; otherwise the coordinator's end (then the sites stop asking).
    const done = await Promise.race([reports.next("done"), parts.then(() => reports.next("done"))]);
    stop.now = true;
    const measured: SiteRound[] = await parts;
    if (done.status !== "completed") throw new Error(`the federation ended ${done.status}: ${done.reason}`);
    const rounds = done.rounds.map((r) =>
      splitRound(
        r,
        measured.filter((s) => s.round === r.round),
      ),
    );
    if (rounds.length !== config.rounds)
      throw new Error(`${rounds.length} of ${config.rounds} rounds were committed`);
    log(
      `    rounds ${rounds.map((r) => `${(r.roundMs / 1000).toFixed(2)} s`).join(", ")}; coordinator peak ${(done.peakRssBytes / 2 ** 20).toFixed(0)} MiB`,
    );
    return {
      config,
      rounds,
      summary: summariseRounds(rounds),
      coordinatorPeakRssBytes: done.peakRssBytes,
      coordinatorMaxEventLoopDelayMs: done.maxEventLoopDelayMs,
    };
  } finally {
    sites?.close();
    if (child.exitCode === null) child.send("stop", () => {});
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
    if (child.exitCode === null) child.kill("SIGKILL");
  }
}

/** The child's reports in order; `next(kind)` waits for the next one, failing if the child dies first. */
function reportsOf(child: ChildProcess) {
  const queue: CoordinatorReport[] = [];
  let wake: (() => void) | undefined;
  let exited: string | undefined;
  child.on("message", (report: CoordinatorReport) => {
    queue.push(report);
    wake?.();
  });
  child.once("exit", (code, signal) => {
    exited = `the benchmark coordinator exited (${code ?? signal})`;
    wake?.();
  });
  return {
    async next<K extends CoordinatorReport["kind"]>(
      kind: K,
    ): Promise<Extract<CoordinatorReport, { kind: K }>> {
      for (;;) {
        const report = queue.shift();
        if (report) {
          if (report.kind !== kind)
            throw new Error(`expected ${kind} from the coordinator, got ${report.kind}`);
          return report as Extract<CoordinatorReport, { kind: K }>;
        }
        if (exited) throw new Error(exited);
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    },
  };
}
