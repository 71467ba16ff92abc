import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { readIdentityFile } from "../../shared/src/config/key-files.js";
import { readFileBytes } from "../../shared/src/config/load.js";
import { toBase64 } from "../../shared/src/crypto/index.js";
import type { EventBus, FlEvent } from "../../shared/src/events/index.js";
import { writeFileAtomic } from "../../shared/src/io/atomic-file.js";
import { finalReports, subscribeBookkeeping } from "./bookkeeping.js";
import { type CoordinatorConfig, PLAINTEXT_EXPOSES, uploadLimitsOf } from "./config.js";
import { openCoordinatorEventBus } from "./event-bus.js";
import { Coordinator } from "./federation/coordinator.js";
import type { TaskProgress } from "./federation/task-board.js";
import { readEnrolledSites } from "./keys.js";
import { initialModelWeights } from "./model-init.js";
import { CheckpointFiles } from "./store/checkpoints.js";
import { StateStore } from "./store/state-store.js";
import { namingDatabaseFile } from "./store/storage-errors.js";
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
  if (config.insecure)
    log(`WARNING: insecure: true: plaintext gRPC without TLS: ${PLAINTEXT_EXPOSES}. For a lab only.`);
  mkdirSync(config.stateDir, { recursive: true });
  const identity = readIdentityFile(config.identity);
  const enrolled = readEnrolledSites(config.sitesDir);
  const statePath = join(config.stateDir, "state.db");
  const store = namingDatabaseFile(
    StateStore.open(statePath, { federationId: config.federationId }),
    statePath,
  );
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
    bus = await openCoordinatorEventBus(config, log);
    const bookkeeping = {
      store,
      reportDir: config.stateDir,
      federationId: config.federationId,
      plan: config.plan,
      keepCheckpoints: config.keepCheckpoints,
      log,
    };
    subscribeBookkeeping(bus, bookkeeping);
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
      uploadLimits: uploadLimitsOf(config.limits),
      heartbeatIntervalMs: config.limits.heartbeatIntervalMs,
      heartbeatTimeoutMs: config.limits.heartbeatTimeoutSec * 1000,
      log,
      ...(hooks.onProgress && { onProgress: hooks.onProgress }),
    });
    server = await startGrpcServer(coordinator, {
      listen: config.listen,
      log,
      security: config.tls
        ? {
            cert: readFileBytes(config.tls.cert, "TLS certificate"),
            key: readFileBytes(config.tls.key, "TLS private key"),
            ...(config.tls.ca && { ca: readFileBytes(config.tls.ca, "TLS CA certificate") }),
            requireClientCert: config.tls.requireClientCert,
          }
        : "insecure",
    });
    const host = config.listen.slice(0, config.listen.lastIndexOf(":"));
    const address = `${host}:${server.port}`;
    writeFileAtomic(join(config.stateDir, "coordinator.addr"), `${address}\n`);
    const security = !config.tls
      ? "PLAINTEXT, no TLS"
      : config.tls.requireClientCert
        ? "mutual TLS"
        : "TLS, client certificates not required";
    log(
      `coordinator for federation "${config.federationId}" listening on ${address} (${security}); ${enrolled.size} sites enrolled`,
    );
    hooks.onListening?.(address);
    hooks.onStarted?.(() => coordinator.stop());
    const result = finalReports(await coordinator.run(), bookkeeping);
    // Give clients a moment to hear "done" from their long-poll before the port closes.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    return result;
  } finally {
    await server?.shutdown(3000);
    await bus?.close();
    store.close();
  }
}
