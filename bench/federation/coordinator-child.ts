/**
 * The coordinator of one benchmark federation, in its own process so that its peak memory and
 * its event loop are its own: the production Coordinator, SQLite and checkpoint files in a temp
 * folder, the gRPC service on a loopback port, with or without TLS. Its phases are timed by the
 * ports it is given (timed-ports.ts). Told what to run over IPC (CoordinatorStart), it answers
 * "listening" with its port, then "done" with its timed rounds, peak resident set and longest
 * event-loop stall. FL_BENCH_MEMORY_TRACE=1 prints its process.memoryUsage() every 250 ms on
 * stderr, to see which phase the peak comes from.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Coordinator } from "../../coordinator/src/federation/coordinator.js";
import { PlanSchema } from "../../coordinator/src/plan.js";
import { CheckpointFiles } from "../../coordinator/src/store/checkpoints.js";
import { StateStore } from "../../coordinator/src/store/state-store.js";
import { createStrategy } from "../../coordinator/src/strategy/registry.js";
import { startGrpcServer } from "../../coordinator/src/transport/grpc/service.js";
import { identityFromJson, publicIdentityFromJson } from "../../shared/src/crypto/index.js";
import { createInProcessEventBus } from "../../shared/src/events/index.js";
import { DEFAULT_MODEL_SPEC } from "../../shared/src/fl/model-spec.js";
import { createManifest } from "../../shared/src/weights/index.js";
import type { CoordinatorRound } from "./split.js";
import { RoundTimings, timedCheckpoints, timedService, timedStore, timedStrategy } from "./timed-ports.js";

export interface CoordinatorStart {
  readonly kind: "start";
  readonly coordinatorIdentity: string;
  readonly sites: readonly string[];
  readonly plan: Record<string, unknown>;
  /** One shared tensor of this many parameters: only its size matters to what is measured. */
  readonly parameters: number;
  readonly maxUpdateBytes: number;
  /** PEM files' contents; absent for plaintext. */
  readonly tls?: { readonly cert: Uint8Array; readonly key: Uint8Array; readonly ca: Uint8Array };
}

export type CoordinatorReport =
  | { readonly kind: "listening"; readonly port: number }
  | {
      readonly kind: "done";
      readonly status: string;
      readonly reason: string;
      readonly rounds: readonly CoordinatorRound[];
      readonly peakRssBytes: number;
      readonly maxEventLoopDelayMs: number;
    };

const log = (line: string) => {
  // FL_BENCH_DEBUG=1 shows the log, to see why a federation stalls.
  if (process.env.FL_BENCH_DEBUG) process.stderr.write(`coordinator: ${line}\n`);
};

const send = (report: CoordinatorReport) =>
  new Promise<void>((resolve) => process.send?.(report, () => resolve()));

process.once("message", async (message: CoordinatorStart) => {
  const stateDir = mkdtempSync(join(tmpdir(), "fl-bench-federation-"));
  try {
    const plan = PlanSchema.parse(message.plan);
    const timings = new RoundTimings();
    const folds = { ms: 0 };
    const store = StateStore.open(join(stateDir, "state.db"), { federationId: "bench" });
    const enrolled = new Map(
      message.sites.map((json) => {
        const site = publicIdentityFromJson(json);
        return [site.id, site] as const;
      }),
    );
    const coordinator = new Coordinator({
      federationId: "bench",
      plan,
      model: DEFAULT_MODEL_SPEC,
      identity: identityFromJson(message.coordinatorIdentity),
      enrolled,
      store: timedStore(store, timings),
      checkpoints: timedCheckpoints(new CheckpointFiles(join(stateDir, "checkpoints")), timings),
      createStrategy: () => timedStrategy(createStrategy(plan.strategy), timings, folds),
      bus: createInProcessEventBus(),
      initialWeights: () => ({
        manifest: createManifest([{ name: "w", shape: [message.parameters] }]),
        values: new Float32Array(message.parameters),
      }),
      maxUpdateBytes: message.maxUpdateBytes,
      heartbeatIntervalMs: 1000,
      heartbeatTimeoutMs: 3_600_000,
      log,
    });
    const { tls } = message;
    const server = await startGrpcServer(timedService(coordinator, timings, folds), {
      listen: "127.0.0.1:0",
      log,
      security: tls
        ? {
            cert: Buffer.from(tls.cert),
            key: Buffer.from(tls.key),
            ca: Buffer.from(tls.ca),
            requireClientCert: true,
          }
        : "insecure",
    });
    // Decryption runs on this loop as chunks arrive: its longest stall is what heartbeats and
    // other sites' calls wait through.
    const delay = monitorEventLoopDelay({ resolution: 5 });
    delay.enable();
    if (process.env.FL_BENCH_MEMORY_TRACE) {
      const t0 = performance.now();
      setInterval(() => {
        const m = process.memoryUsage();
        const mib = (b: number) => (b / 2 ** 20).toFixed(0);
        process.stderr.write(
          `mem ${((performance.now() - t0) / 1000).toFixed(1)}s rss ${mib(m.rss)} heap ${mib(m.heapUsed)} ext ${mib(m.external)} ab ${mib(m.arrayBuffers)}\n`,
        );
      }, 250).unref();
    }
    const running = coordinator.run();
    await send({ kind: "listening", port: server.port });
    const stopped = new Promise<void>((resolve) => {
      process.once("message", () => resolve());
      process.once("disconnect", () => resolve());
    }).then(() => coordinator.stop());
    const result = await running;
    delay.disable();
    await send({
      kind: "done",
      status: result.status,
      reason: result.reason,
      rounds: timings.list(),
      // getrusage's peak resident set of this process, in KiB on Linux.
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      maxEventLoopDelayMs: delay.max / 1e6,
    });
    await stopped;
    await server.shutdown(500);
    store.close();
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
    process.exit(0);
  }
});
