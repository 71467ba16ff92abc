import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { sealPayload } from "../../client/src/seal-update.js";
import { runSecAggSession } from "../../client/src/secagg-session.js";
import {
  generateIdentity,
  type Identity,
  identityToJson,
  publicIdentity,
  publicIdentityToJson,
} from "../../shared/src/crypto/index.js";
import type { FlTask } from "../../shared/src/fl/task.js";
import { forkTypeScript } from "../../shared/src/io/ts-child.js";
import { FakeSite } from "../../test/helpers/fake-site.js";
import { TEST_SITE_INFO } from "../../test/helpers/in-process-site.js";
import { ByteCounter } from "./byte-counter.js";
import type { CoordinatorReport, CoordinatorStart } from "./coordinator-child.js";
import { type FederationSample, median, type RoundSample } from "./summary.js";

const CHILD = fileURLToPath(new URL("./coordinator-child.ts", import.meta.url));

export interface FederationOptions {
  readonly mode: "plain" | "secagg";
  readonly n: number;
  readonly parameters: number;
  readonly rounds: number;
  readonly repetition: number;
}

/** What each site declares and weighs its update with: the test site's 100 training images. */
const NUM_EXAMPLES = TEST_SITE_INFO.trainClassCounts.reduce((a, b) => a + b, 0);

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

interface SiteRound {
  readonly round: number;
  readonly trainingMs: number;
  readonly sent: number;
  readonly received: number;
}

/**
 * One federation over loopback gRPC: the coordinator in a child process, `n` scripted sites in
 * this one (test/helpers/fake-site.ts: the production gRPC adapter, session and sealing, and for
 * secure aggregation the production client session), each behind its own byte counter. A site's
 * "training" is writing a fixed delta, so nearly all of a round's time is the rest: posting,
 * download, sealing, upload, verification, aggregation and, with secure aggregation, its stages.
 */
export async function runFederation(options: FederationOptions): Promise<FederationSample> {
  const { n, parameters } = options;
  const siteIds = Array.from({ length: n }, (_, i) => `site-${String(i).padStart(2, "0")}`);
  const coordinator = identityOf("coordinator");
  const sites = siteIds.map(identityOf);
  const child = forkTypeScript(CHILD, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const reports = reportsOf(child);
  const counters: ByteCounter[] = [];
  const fakes: FakeSite[] = [];
  try {
    const secureAggregation = options.mode === "secagg" ? { clip: 1, stageTimeoutSec: 60 } : undefined;
    const start: CoordinatorStart = {
      kind: "start",
      coordinatorIdentity: identityToJson(coordinator),
      sites: sites.map((s) => publicIdentityToJson(publicIdentity(s))),
      plan: {
        phases: [{ name: "p", task: "classify", rounds: options.rounds }],
        minSites: n,
        // Every site in every round: the cohort is the federation.
        minAvailableSites: n,
        roundTimeoutSec: 600,
        evaluateEvery: 0,
        evaluationTimeoutSec: 60,
        maxRoundAttempts: 1,
        ...(secureAggregation && { secureAggregation }),
      },
      parameters,
      maxUpdateBytes: 8 * parameters + (1 << 20),
    };
    child.send(start);
    const listening = await reports.next("listening");
    for (const _ of siteIds) counters.push(await ByteCounter.start(listening.port));
    for (const [i, site] of sites.entries())
      fakes.push(new FakeSite((counters[i] as ByteCounter).address, site, publicIdentity(coordinator)));
    await Promise.all(fakes.map((f) => f.join()));
    const stop = { now: false };
    const parts = Promise.all(
      fakes.map((fake, i) => takePart(fake, counters[i] as ByteCounter, options, i, stop)),
    );
    // A failing site ends the wait at once; otherwise the coordinator's end (then the sites stop asking).
    const done = await Promise.race([reports.next("done"), parts.then(() => reports.next("done"))]);
    stop.now = true;
    const perSite = await parts;
    if (done.status !== "completed")
      throw new Error(`the ${options.mode} federation of ${n} sites ended ${done.status}: ${done.reason}`);
    const rounds: RoundSample[] = done.rounds
      .filter((r) => r.status === "completed" && r.endedAtMs !== null)
      .map((r) => {
        const mine = perSite.flatMap((site) => site.filter((s) => s.round === r.round));
        const roundMs = (r.endedAtMs as number) - r.startedAtMs;
        const trainingMs = Math.max(...mine.map((s) => s.trainingMs));
        const at = (pattern: RegExp) => {
          const times = done.timeline.filter((e) => pattern.test(e.line)).map((e) => e.atMs - r.startedAtMs);
          return times.length === 0 ? null : Math.max(...times);
        };
        return {
          round: r.round,
          roundMs,
          trainingMs,
          nonTrainingMs: roundMs - trainingMs,
          lastUploadMs: at(new RegExp(`^round ${r.round}: (accepted update from|masked input from) `)),
          unmaskedMs: at(new RegExp(`^round ${r.round}: secure aggregation unmasked the sum`)),
          clientSentBytes: median(mine.map((s) => s.sent)),
          clientReceivedBytes: median(mine.map((s) => s.received)),
        };
      });
    if (rounds.length !== options.rounds)
      throw new Error(`${rounds.length} of ${options.rounds} rounds completed (${options.mode}, n = ${n})`);
    return {
      mode: options.mode,
      n,
      parameters,
      repetition: options.repetition,
      rounds,
      coordinatorPeakRssMiB: done.peakRssMiB,
      coordinatorStartRssMiB: listening.rssMiB,
      deltaBytes: 4 * parameters,
    };
  } finally {
    for (const fake of fakes) fake.close();
    await Promise.all(counters.map((c) => c.close()));
    // The child removes its state folder as it exits after "stop"; kill it only if it hangs.
    if (child.exitCode === null) child.send("stop", () => {});
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
    if (child.exitCode === null) child.kill("SIGKILL");
  }
}

/** One site's whole run: every training round it is sent, then the evaluation at the end. */
async function takePart(
  fake: FakeSite,
  counter: ByteCounter,
  options: FederationOptions,
  index: number,
  stop: { readonly now: boolean },
): Promise<SiteRound[]> {
  const samples: SiteRound[] = [];
  while (!stop.now) {
    const task = await fake.nextTask(600_000).catch((error: Error) => {
      if (stop.now) return "done" as const;
      throw error;
    });
    if (task === "done") return samples;
    if (task.kind === "evaluate") {
      await fake.evaluate(
        task,
        [0, 1, 2, 3].map((i) => [0, 1, 2, 3].map((j) => (i === j ? 1 : 0))),
      );
      continue;
    }
    if (task.kind !== "train")
      throw new Error(`${fake.identity.id}: unexpected ${(task as FlTask).kind} task`);
    const sent0 = counter.sent;
    const received0 = counter.received;
    const global = await fake.download(task);
    const t0 = performance.now();
    const delta = new Float32Array(options.parameters);
    for (let i = 0; i < delta.length; i++) delta[i] = Math.sin(i * 0.001 + index) * 0.01;
    const trainingMs = performance.now() - t0;
    if (options.mode === "plain") {
      const verdict = await fake.upload(fake.pack(task, global, (i) => delta[i] as number, NUM_EXAMPLES));
      if (!verdict.accepted) throw new Error(`${fake.identity.id}: update refused: ${verdict.message}`);
    } else {
      const result = await runSecAggSession({
        siteId: fake.identity.id,
        port: fake.connection,
        session: fake.session,
        task,
        delta,
        numExamples: NUM_EXAMPLES,
        upload: (plaintext) => uploadMasked(fake, task, plaintext),
        ended: new AbortController().signal,
        log: () => {},
      });
      if (result.kind !== "unmasked") throw new Error(`${fake.identity.id}: ${result.reason}`);
    }
    samples.push({
      round: task.round,
      trainingMs,
      sent: counter.sent - sent0,
      received: counter.received - received0,
    });
  }
  return samples;
}

async function uploadMasked(fake: FakeSite, task: FlTask, plaintext: Uint8Array) {
  const sealed = await sealPayload(
    {
      identity: fake.identity,
      key: fake.session.updateKey,
      federationId: fake.federationId,
      round: task.round,
      modelVersion: task.modelVersion,
      taskId: task.taskId,
      numExamples: NUM_EXAMPLES,
    },
    plaintext,
  );
  return fake.upload(sealed);
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
