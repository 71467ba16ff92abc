/**
 * A federation of two hospitals started from code, in one process: a coordinator with its
 * SQLite state and checkpoints in a temporary folder, two sites with their own synthetic chest
 * X-rays and keys, each training in its own TensorFlow.js trainer process, talking through the
 * in-memory transport (the same ports the gRPC adapters implement, so swapping in
 * `startGrpcServer` and `GrpcCoordinatorPort` makes it a networked federation). The strategy is
 * the site-weighted FedAvg of examples/uniform-fedavg-strategy.ts, and each site clips its update
 * to an L2 norm of 5 before sealing it.
 *
 *   npx tsx examples/two-site-federation.ts      # about a minute on two cores
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SiteNode } from "../client/src/node.js";
import { siteInfoOf, TrainerHost } from "../client/src/training/trainer-host.js";
import { unlimitedSlots } from "../client/src/training-slots.js";
import { InMemoryCoordinatorPort } from "../client/src/transport/in-memory/coordinator-port.js";
import { Coordinator } from "../coordinator/src/federation/coordinator.js";
import { initialModelWeights } from "../coordinator/src/model-init.js";
import { PlanSchema } from "../coordinator/src/plan.js";
import { CheckpointFiles } from "../coordinator/src/store/checkpoints.js";
import { StateStore } from "../coordinator/src/store/state-store.js";
import { generateIdentity, publicIdentity } from "../shared/src/crypto/index.js";
import { createInProcessEventBus } from "../shared/src/events/index.js";
import type { ModelSpec } from "../shared/src/fl/model-spec.js";
import { createUniformFedAvg } from "./uniform-fedavg-strategy.js";

const SITES = ["community", "metro-icu"] as const;
const model: ModelSpec = {
  architecture: "small-cnn",
  imageSize: 32,
  widths: [8, 16],
  numClasses: 4,
  seed: 1,
};
const plan = PlanSchema.parse({
  minSites: 2,
  evaluateEvery: 0,
  phases: [
    {
      name: "classify",
      task: "classify",
      rounds: 2,
      train: { epochs: 1, learningRate: 0.002 },
      pipeline: [{ stage: "clip-l2", maxNorm: 5 }],
    },
  ],
});
const data = { kind: "synthetic", preset: "3-hospitals", imagesPerSite: 64, imageSize: 32, seed: 7 };

const dir = mkdtempSync(join(tmpdir(), "fl-example-"));
const coordinatorIdentity = generateIdentity("coordinator");
const sites = SITES.map((id) => generateIdentity(id));
const store = StateStore.open(join(dir, "state.db"), { federationId: "example" });
const coordinator = new Coordinator({
  federationId: "example",
  plan,
  model,
  identity: coordinatorIdentity,
  enrolled: new Map(sites.map((site) => [site.id, publicIdentity(site)])),
  store,
  checkpoints: new CheckpointFiles(join(dir, "checkpoints")),
  createStrategy: createUniformFedAvg,
  bus: createInProcessEventBus(),
  initialWeights: initialModelWeights,
  maxUpdateBytes: 64 << 20,
  heartbeatIntervalMs: 2_000,
  heartbeatTimeoutMs: 30_000,
  log: (line) => console.log(`coordinator: ${line}`),
});

const running = coordinator.run();
const nodes = sites.map(async (identity) => {
  const trainer = new TrainerHost({ logPrefix: identity.id });
  const port = new InMemoryCoordinatorPort(coordinator);
  try {
    const ready = await trainer.init({
      siteId: identity.id,
      data,
      backend: "auto",
      cacheDir: join(dir, identity.id),
    });
    const node = new SiteNode({
      identity,
      coordinator: publicIdentity(coordinatorIdentity),
      federationId: "example",
      port,
      trainer,
      slots: unlimitedSlots,
      siteInfo: siteInfoOf(ready, "example"),
      reconnectTimeoutMs: 30_000,
      log: (line) => console.log(`${identity.id}: ${line}`),
    });
    return await node.run();
  } finally {
    trainer.close();
    port.close();
  }
});

try {
  const result = await running;
  await Promise.all(nodes);
  console.log(
    `federation ${result.status}: ${result.reason}; final model v${store.latestCheckpoint()?.version}`,
  );
} finally {
  store.close();
  rmSync(dir, { recursive: true, force: true });
}
