import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { readIdentityFile } from "../../shared/src/config/key-files.js";
import { readFileBytes } from "../../shared/src/config/load.js";
import { toBase64 } from "../../shared/src/crypto/index.js";
import { ErrorCode, FlError } from "../../shared/src/errors.js";
import type { EventBus, FlEvent } from "../../shared/src/events/index.js";
import { PLAN_COMPLETE_REASON } from "../../shared/src/fl/protocol-constants.js";
import { writeFileAtomic } from "../../shared/src/io/atomic-file.js";
import { OperatorView, startOperatorEndpoint } from "./admin/operator.js";
import type { AdminServer } from "./admin/server.js";
import { siteRoutes } from "./admin/site-routes.js";
import { statusSeed } from "./admin/status-seed.js";
import { finalReports, subscribeBookkeeping } from "./bookkeeping.js";
import type { CentralEvaluator } from "./central-evaluation.js";
import {
  type CentralEvaluationConfig,
  type CoordinatorConfig,
  PLAINTEXT_EXPOSES,
  uploadLimitsOf,
} from "./config.js";
import { configDrift } from "./config-drift.js";
import { openCoordinatorEventBus } from "./event-bus.js";
import { Coordinator } from "./federation/coordinator.js";
import type { TaskProgress } from "./federation/task-board.js";
import { readEnrolledSites, sitesDirFiles } from "./keys.js";
import { initialModelWeights } from "./model-init.js";
import { CheckpointFiles } from "./store/checkpoints.js";
import { StateStore } from "./store/state-store.js";
import { namingDatabaseFile } from "./store/storage-errors.js";
import { createStrategy } from "./strategy/registry.js";
import { loadRevocationList } from "./transport/grpc/revocation.js";
import { startGrpcServer } from "./transport/grpc/service.js";

export interface CoordinatorHooks {
  readonly log: (line: string) => void;
  readonly onEvent?: (event: FlEvent) => void;
  readonly onProgress?: (progress: TaskProgress) => void;
  readonly onListening?: (address: string) => void;
  /** Fires once the coordinator is running; `stop` ends the run (used for signals). */
  readonly onStarted?: (stop: () => void) => void;
  /** Fires instead of starting when the state says the federation completed before. */
  readonly onAlreadyCompleted?: (completedAt: string) => void;
}

/**
 * What the coordinator cannot build itself, because it may not load TensorFlow or data: the CLI
 * hands it in.
 */
export interface CoordinatorPorts {
  /** Starts the scorer of `centralEvaluation`'s test set (a trainer process); closed at the end. */
  readonly centralEvaluator?: (
    config: CentralEvaluationConfig,
    log: (line: string) => void,
  ) => CentralEvaluator & { close(): void };
}

/**
 * `fl coordinator`'s exit status, for supervisors: 0 when the plan completed (now, or before: a
 * restarted completed coordinator does nothing and exits 0 at once), 1 when the federation failed,
 * was stopped before its end (starting it again resumes it) or could not start.
 */
export const COORDINATOR_EXIT = { completed: 0, failed: 1 } as const;

/** The state store's meta key for the settings a federation started with. */
const STARTED_WITH = "config";

/**
 * A federation is continued only with the plan and model it started with: a checkpoint of other
 * shapes fails every site, and a changed plan rewrites history. Records them on the first start.
 */
function checkStartedWith(store: StateStore, config: CoordinatorConfig, statePath: string): void {
  const now = { model: config.model, plan: config.plan };
  const recorded = store.getMeta(STARTED_WITH);
  if (recorded === undefined) {
    store.setMeta(STARTED_WITH, JSON.stringify(now));
    return;
  }
  const drift = configDrift(JSON.parse(recorded), JSON.parse(JSON.stringify(now)));
  if (drift.length === 0) return;
  throw new FlError(
    ErrorCode.InvalidConfig,
    `federation "${config.federationId}" in ${statePath} was started with another plan or model; changed:\n${drift.map((d) => `  ${d}`).join("\n")}\nrestore those settings to continue it, or point stateDir at a new folder to start a new federation with them`,
  );
}

/**
 * Removes what a start that failed before listening created (the state database, its journal),
 * so that the next start is a first start again rather than a resume of nothing.
 */
function removeFreshState(stateDir: string, statePath: string, createdDir: boolean): void {
  for (const suffix of ["", "-wal", "-shm"]) rmSync(`${statePath}${suffix}`, { force: true });
  rmSync(join(stateDir, "checkpoints"), { recursive: true, force: true });
  if (createdDir && readdirSync(stateDir).length === 0) rmSync(stateDir, { recursive: true });
}

/**
 * The coordinator's composition root: state, keys, event bus, the coordinator and its gRPC server.
 * Resolves when the plan is done (or failed) and everything is shut down.
 */
export async function runCoordinator(
  config: CoordinatorConfig,
  hooks: CoordinatorHooks,
  ports: CoordinatorPorts = {},
): Promise<{ status: "completed" | "failed"; reason: string; alreadyCompletedAt?: string }> {
  const { log } = hooks;
  if (config.centralEvaluation && !ports.centralEvaluator)
    throw new FlError(
      ErrorCode.InvalidConfig,
      "centralEvaluation is configured but this coordinator was started without a way to score it; run it with `fl coordinator`, which has one",
    );
  if (config.insecure)
    log(`WARNING: insecure: true: plaintext gRPC without TLS: ${PLAINTEXT_EXPOSES}. For a lab only.`);
  const identity = readIdentityFile(config.identity);
  const enrolled = readEnrolledSites(config.sitesDir);
  const createdDir = !existsSync(config.stateDir);
  mkdirSync(config.stateDir, { recursive: true });
  const statePath = join(config.stateDir, "state.db");
  const freshState = !existsSync(statePath);
  const store = namingDatabaseFile(
    StateStore.open(statePath, { federationId: config.federationId }),
    statePath,
  );
  let bus: EventBus | undefined;
  let server: Awaited<ReturnType<typeof startGrpcServer>> | undefined;
  let admin: AdminServer | undefined;
  let central: (CentralEvaluator & { close(): void }) | undefined;
  let listening = false;
  try {
    checkStartedWith(store, config, statePath);
    const completedAt = store.completedAt();
    if (completedAt !== undefined) {
      log(
        `federation "${config.federationId}" already completed at ${completedAt}; nothing to do (its reports are in ${config.stateDir})`,
      );
      hooks.onAlreadyCompleted?.(completedAt);
      return { status: "completed", reason: PLAN_COMPLETE_REASON, alreadyCompletedAt: completedAt };
    }
    for (const site of enrolled.values()) {
      store.upsertSite({
        siteId: site.id,
        signingPublicKey: toBase64(site.signingPublicKey),
        encryptionPublicKey: toBase64(site.encryptionPublicKey),
      });
    }
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
    // The operator's view (fl status, /metrics): fed by the events, task progress and transport calls.
    const operator = new OperatorView(config.federationId, [...enrolled.keys()]);
    // A restarted coordinator shows the federation's past rounds, curve and counts, not a blank.
    operator.restore(
      statusSeed({
        rounds: store.listRounds(),
        evaluations: store.listEvaluations(),
        updates: store.listUpdates(),
        sites: store.listSites(),
      }),
    );
    bus.subscribe((event) => operator.event(event));

    if (config.centralEvaluation && ports.centralEvaluator)
      central = ports.centralEvaluator(config.centralEvaluation, log);
    const coordinator = new Coordinator({
      federationId: config.federationId,
      plan: config.plan,
      model: config.model,
      identity,
      enrolled,
      enrolmentFiles: sitesDirFiles(config.sitesDir),
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
      onProgress: (progress) => {
        operator.progress(progress);
        hooks.onProgress?.(progress);
      },
      ...(central &&
        config.centralEvaluation && {
          central: {
            evaluator: central,
            schedule: {
              split: config.centralEvaluation.split,
              ...(config.centralEvaluation.every !== undefined && { every: config.centralEvaluation.every }),
            },
          },
        }),
    });
    server = await startGrpcServer(operator.observe(coordinator), {
      listen: config.listen,
      log,
      maxConcurrentUploads: config.limits.maxConcurrentUploads,
      onTlsRefusal: (reason) => operator.metrics.tlsRefused(reason),
      security: config.tls
        ? {
            cert: readFileBytes(config.tls.cert, "TLS certificate"),
            key: readFileBytes(config.tls.key, "TLS private key"),
            ...(config.tls.ca && { ca: readFileBytes(config.tls.ca, "TLS CA certificate") }),
            requireClientCert: config.tls.requireClientCert,
          }
        : "insecure",
      ...(config.tls?.crl &&
        config.tls.ca && {
          revocation: await loadRevocationList(
            config.tls.crl,
            readFileBytes(config.tls.ca, "TLS CA certificate"),
          ),
        }),
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
    if (config.admin)
      admin = await startOperatorEndpoint(
        config.admin,
        config.stateDir,
        operator,
        log,
        siteRoutes(coordinator),
      );
    listening = true;
    hooks.onListening?.(address);
    hooks.onStarted?.(() => coordinator.stop());
    const outcome = await coordinator.run();
    operator.finished(outcome);
    server.setServing(false);
    if (outcome.status === "completed") store.markCompleted(new Date());
    const result = finalReports(outcome, bookkeeping);
    // Give clients a moment to hear "done" from their long-poll before the port closes.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    return result;
  } finally {
    central?.close();
    await admin?.close();
    await server?.shutdown(3000);
    await bus?.close();
    store.close();
    if (freshState && !listening) removeFreshState(config.stateDir, statePath, createdDir);
  }
}
