import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Coordinator } from "../../coordinator/src/federation/coordinator.js";
import { type PlanInput, PlanSchema } from "../../coordinator/src/plan.js";
import { CheckpointFiles } from "../../coordinator/src/store/checkpoints.js";
import { StateStore } from "../../coordinator/src/store/state-store.js";
import { createStrategy } from "../../coordinator/src/strategy/registry.js";
import type { ServerTls } from "../../coordinator/src/transport/grpc/credentials.js";
import type { RevocationList } from "../../coordinator/src/transport/grpc/revocation.js";
import { type StartedServer, startGrpcServer } from "../../coordinator/src/transport/grpc/service.js";
import {
  generateIdentity,
  type Identity,
  type PublicIdentity,
  publicIdentity,
} from "../../shared/src/crypto/index.js";
import { createInProcessEventBus } from "../../shared/src/events/index.js";
import type { EventBus, FlEvent } from "../../shared/src/events/types.js";
import { DEFAULT_MODEL_SPEC } from "../../shared/src/fl/model-spec.js";
import type { ModelWeights } from "../../shared/src/weights/types.js";
import { tinyWeights } from "./tiny-weights.js";

export interface Harness {
  readonly address: string;
  readonly coordinator: Identity;
  readonly sites: Map<string, Identity>;
  readonly publicSites: Map<string, PublicIdentity>;
  readonly events: FlEvent[];
  readonly service: Coordinator;
  readonly store: StateStore;
  readonly stateDir: string;
  readonly run: Promise<{ status: string; reason: string }>;
  close(): Promise<void>;
}

/** A real coordinator (service + gRPC on port 0 + SQLite in a temp folder) in this process. */
export async function startHarness(options: {
  siteIds: string[];
  plan?: Partial<PlanInput>;
  initial?: ModelWeights;
  heartbeatTimeoutMs?: number;
  maxUpdateBytes?: number;
  bus?: EventBus;
  tls?: ServerTls;
  revocation?: RevocationList;
  /** Site identities made elsewhere (e.g. by `fl keys request`); the other ids get new ones. */
  identities?: readonly Identity[];
  /** The transport's log (refused TLS clients); silent by default. */
  log?: (line: string) => void;
  onTlsRefusal?: (reason: string) => void;
}): Promise<Harness> {
  const stateDir = mkdtempSync(join(tmpdir(), "fl-harness-"));
  const coordinator = generateIdentity("coordinator");
  const sites = new Map(
    options.siteIds.map((id) => [id, options.identities?.find((i) => i.id === id) ?? generateIdentity(id)]),
  );
  const publicSites = new Map([...sites].map(([id, identity]) => [id, publicIdentity(identity)]));
  const store = StateStore.open(join(stateDir, "state.db"), { federationId: "test" });
  const events: FlEvent[] = [];
  const bus = options.bus ?? createInProcessEventBus();
  bus.subscribe((e) => events.push(e));
  const plan = PlanSchema.parse({
    phases: [{ name: "p", task: "classify", rounds: 2 }],
    minSites: options.siteIds.length,
    roundTimeoutSec: 20,
    evaluateEvery: 0,
    evaluationTimeoutSec: 5,
    maxRoundAttempts: 1,
    ...options.plan,
  });
  const service = new Coordinator({
    federationId: "test",
    plan,
    model: DEFAULT_MODEL_SPEC,
    identity: coordinator,
    enrolled: publicSites,
    store,
    checkpoints: new CheckpointFiles(join(stateDir, "checkpoints")),
    createStrategy: () => createStrategy(plan.strategy),
    bus,
    initialWeights: () => options.initial ?? tinyWeights(),
    maxUpdateBytes: options.maxUpdateBytes ?? 1 << 20,
    heartbeatIntervalMs: 200,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 10_000,
  });
  const server: StartedServer = await startGrpcServer(service, {
    listen: "127.0.0.1:0",
    log: options.log ?? (() => {}),
    security: options.tls ?? "insecure",
    ...(options.revocation && { revocation: options.revocation }),
    ...(options.onTlsRefusal && { onTlsRefusal: options.onTlsRefusal }),
  });
  const run = service.run();
  return {
    address: `127.0.0.1:${server.port}`,
    coordinator,
    sites,
    publicSites,
    events,
    service,
    store,
    stateDir,
    run,
    async close() {
      service.stop();
      await run.catch(() => {});
      await server.shutdown(500);
      store.close();
      await bus.close();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
