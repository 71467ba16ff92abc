import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { readIdentityFile } from "../../shared/src/config/key-files.js";
import { readFileBytes } from "../../shared/src/config/load.js";
import { toBase64 } from "../../shared/src/crypto/index.js";
import { errorMessage } from "../../shared/src/errors.js";
import { createInProcessEventBus, type EventBus, type FlEvent } from "../../shared/src/events/index.js";
import { createNatsEventBus } from "../../shared/src/events/nats-bus.js";
import { writeFileAtomic } from "../../shared/src/io/atomic-file.js";
import type { CoordinatorConfig } from "./config.js";
import { Coordinator } from "./federation/coordinator.js";
import type { TaskProgress } from "./federation/task-board.js";
import { readEnrolledSites } from "./keys.js";
import { initialModelWeights } from "./model-init.js";
import { writeReports } from "./report-files.js";
import { CheckpointFiles } from "./store/checkpoints.js";
import { StateStore } from "./store/state-store.js";
import { createStrategy } from "./strategy/registry.js";
import { startGrpcServer } from "./transport/grpc/service.js";

export interface CoordinatorHooks {
  readonly log: (line: string) => void;
  readonly onEvent?: (event: FlEvent) => void;
  readonly onProgress?: (progress: TaskProgress) => void;
  readonly onListening?: (address: string) => void;
  /** Fires once the coordinator is running; `stop` ends the run (used for signals). */
  readonly onStarted?: (stop: () => void) => void;
}

/**
 * The coordinator's composition root: state, keys, event bus, the coordinator and its gRPC server.
 * Resolves when the plan is done (or failed) and everything is shut down.
 */
export async function runCoordinator(
  config: CoordinatorConfig,
  hooks: CoordinatorHooks,
): Promise<{ status: "completed" | "failed"; reason: string }> {
  const { log } = hooks;
  mkdirSync(config.stateDir, { recursive: true });
  const identity = readIdentityFile(config.identity);
  const enrolled = readEnrolledSites(config.sitesDir);
  const store = StateStore.open(join(config.stateDir, "state.db"), { federationId: config.federationId });
  let bus: EventBus | undefined;
  let server: Awaited<ReturnType<typeof startGrpcServer>> | undefined;
  try {
    for (const site of enrolled.values()) {
      store.upsertSite({
        siteId: site.id,
        signingPublicKey: toBase64(site.signingPublicKey),
        encryptionPublicKey: toBase64(site.encryptionPublicKey),
      });
    }
    store.setMeta("config", JSON.stringify({ model: config.model, plan: config.plan }));
    bus = config.nats
      ? await createNatsEventBus({
          url: config.nats.url,
          federationId: config.federationId,
          subjectPrefix: config.nats.subjectPrefix,
          ...(config.nats.jetstream && {
            jetstream: { stream: `FL_${config.federationId.replace(/-/g, "_")}` },
          }),
          log,
        })
      : createInProcessEventBus();
    const reportDir = config.stateDir;
    bus.subscribe(
      (event) => {
        try {
          writeReports(store, reportDir, config.federationId);
        } catch (error) {
          log(`could not write reports after ${event.type}: ${errorMessage(error)}`);
        }
      },
      { types: ["round.completed", "evaluation.completed", "federation.completed"] },
    );
    if (hooks.onEvent) bus.subscribe(hooks.onEvent);

    const coordinator = new Coordinator({
      federationId: config.federationId,
      plan: config.plan,
      model: config.model,
      identity,
      enrolled,
      store,
      checkpoints: new CheckpointFiles(join(config.stateDir, "checkpoints")),
      createStrategy: () => createStrategy(config.plan.strategy),
      bus,
      initialWeights: (spec) => initialModelWeights(spec),
      maxUpdateBytes: config.limits.maxUpdateBytes,
      heartbeatIntervalMs: config.limits.heartbeatIntervalMs,
      heartbeatTimeoutMs: config.limits.heartbeatTimeoutSec * 1000,
      log,
      ...(hooks.onProgress && { onProgress: hooks.onProgress }),
    });
    server = await startGrpcServer(coordinator, {
      listen: config.listen,
      log,
      ...(config.tls && {
        tls: {
          cert: readFileBytes(config.tls.cert, "TLS certificate"),
          key: readFileBytes(config.tls.key, "TLS private key"),
          ...(config.tls.ca && { ca: readFileBytes(config.tls.ca, "TLS CA certificate") }),
          requireClientCert: config.tls.requireClientCert,
        },
      }),
    });
    const host = config.listen.slice(0, config.listen.lastIndexOf(":"));
    const address = `${host}:${server.port}`;
    writeFileAtomic(join(config.stateDir, "coordinator.addr"), `${address}\n`);
    log(
      `coordinator for federation "${config.federationId}" listening on ${address}${config.tls ? " (TLS)" : " (insecure: no TLS configured)"}; ${enrolled.size} sites enrolled`,
    );
    hooks.onListening?.(address);
    hooks.onStarted?.(() => coordinator.stop());
    const result = await coordinator.run();
    writeReports(store, reportDir, config.federationId);
    // Give clients a moment to hear "done" from their long-poll before the port closes.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    return result;
  } finally {
    await server?.shutdown(3000);
    await bus?.close();
    store.close();
  }
}
