/**
 * The coordinator of one benchmark federation, in its own process so that its peak memory is its
 * own: the production Coordinator, SQLite in a temp folder and the gRPC service on a loopback
 * port. Told what to run over IPC (see CoordinatorStart), it answers "listening" with its port,
 * then "done" with the committed rounds and its peak resident set, and exits.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

export interface CoordinatorStart {
  readonly kind: "start";
  readonly coordinatorIdentity: string;
  readonly sites: readonly string[];
  readonly plan: Record<string, unknown>;
  /** One shared tensor of this many parameters: only its size matters to what is measured. */
  readonly parameters: number;
  readonly maxUpdateBytes: number;
}

export interface CommittedRound {
  readonly round: number;
  readonly attempt: number;
  readonly status: string;
  readonly startedAtMs: number;
  readonly endedAtMs: number | null;
  readonly metrics: Record<string, number>;
}

export type CoordinatorReport =
  | { readonly kind: "listening"; readonly port: number; readonly rssMiB: number }
  | {
      readonly kind: "done";
      readonly status: string;
      readonly reason: string;
      readonly rounds: readonly CommittedRound[];
      readonly timeline: readonly { readonly atMs: number; readonly line: string }[];
      readonly peakRssMiB: number;
    };

/** The coordinator's log with times: the round's phases are read off it. */
const timeline: { readonly atMs: number; readonly line: string }[] = [];
const log = (line: string) => {
  timeline.push({ atMs: Date.now(), line });
  // FL_BENCH_DEBUG=1 shows the log, to see why a federation stalls.
  if (process.env.FL_BENCH_DEBUG) process.stderr.write(`coordinator: ${line}\n`);
};

const send = (report: CoordinatorReport) =>
  new Promise<void>((resolve) => process.send?.(report, () => resolve()));

process.once("message", async (message: CoordinatorStart) => {
  const stateDir = mkdtempSync(join(tmpdir(), "fl-overhead-coordinator-"));
  try {
    const plan = PlanSchema.parse(message.plan);
    const store = StateStore.open(join(stateDir, "state.db"), { federationId: "bench" });
    const enrolled = new Map(
      message.sites.map((json) => {
        const site = publicIdentityFromJson(json);
        return [site.id, site] as const;
      }),
    );
    const service = new Coordinator({
      federationId: "bench",
      plan,
      model: DEFAULT_MODEL_SPEC,
      identity: identityFromJson(message.coordinatorIdentity),
      enrolled,
      store,
      checkpoints: new CheckpointFiles(join(stateDir, "checkpoints")),
      createStrategy: () => createStrategy(plan.strategy),
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
    const server = await startGrpcServer(service, { listen: "127.0.0.1:0", log, security: "insecure" });
    const running = service.run();
    await send({ kind: "listening", port: server.port, rssMiB: process.memoryUsage().rss / 2 ** 20 });
    // Serve on until the benchmark has what it needs, so that no site's last call meets a closed
    // port; a "stop" (or a lost parent) before the plan's end stops the run too.
    const stopped = new Promise<void>((resolve) => {
      process.once("message", () => resolve());
      process.once("disconnect", () => resolve());
    }).then(() => service.stop());
    const result = await running;
    const rounds = store.listRounds().map((r) => ({
      round: r.round,
      attempt: r.attempt,
      status: r.status,
      startedAtMs: r.startedAtMs,
      endedAtMs: r.endedAtMs,
      metrics: r.metrics,
    }));
    // getrusage's peak resident set of this process, in KiB on Linux.
    await send({
      kind: "done",
      status: result.status,
      reason: result.reason,
      rounds,
      timeline,
      peakRssMiB: process.resourceUsage().maxRSS / 1024,
    });
    await stopped;
    await server.shutdown(500);
    store.close();
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
    process.exit(0);
  }
});
