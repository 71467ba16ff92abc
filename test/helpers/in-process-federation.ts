import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Coordinator, type CoordinatorOptions } from "../../coordinator/src/federation/coordinator.js";
import type { RunResult } from "../../coordinator/src/federation/round-runner.js";
import type { TaskProgress } from "../../coordinator/src/federation/task-board.js";
import { type PlanInput, PlanSchema } from "../../coordinator/src/plan.js";
import { CheckpointFiles } from "../../coordinator/src/store/checkpoints.js";
import { StateStore } from "../../coordinator/src/store/state-store.js";
import { createStrategy } from "../../coordinator/src/strategy/registry.js";
import { generateIdentity, type Identity, publicIdentity, toBase64 } from "../../shared/src/crypto/index.js";
import { createInProcessEventBus } from "../../shared/src/events/in-process-bus.js";
import type { FlEvent } from "../../shared/src/events/types.js";
import { DEFAULT_MODEL_SPEC, type ModelSpec } from "../../shared/src/fl/model-spec.js";
import type { ModelWeights } from "../../shared/src/weights/types.js";
import { InProcessSite } from "./in-process-site.js";
import { ManualClock, settle } from "./manual-clock.js";
import { tinyWeights } from "./tiny-weights.js";

export interface FederationSetup {
  readonly siteIds: readonly string[];
  readonly plan?: Partial<PlanInput>;
  readonly model?: ModelSpec;
  /** Default: `tinyWeights()` for every network. */
  readonly initialWeights?: (spec: ModelSpec) => ModelWeights;
  /** Default: an hour, so that moving the clock past a deadline loses no site. */
  readonly heartbeatTimeoutMs?: number;
  readonly maxUpdateBytes?: number;
  readonly buildPipeline?: CoordinatorOptions["buildPipeline"];
  /** The coordinator's own test set and its scorer; none by default. */
  readonly central?: CoordinatorOptions["central"];
}

/**
 * A coordinator with a manual clock, an in-process event bus and SQLite in a temp folder, and
 * the sites that talk to it directly: a whole federation in one process, no transport.
 */
export class InProcessFederation {
  readonly service: Coordinator;
  readonly store: StateStore;
  readonly events: FlEvent[] = [];
  readonly logs: string[] = [];
  readonly progress: TaskProgress[] = [];
  readonly run: Promise<RunResult>;
  private readonly sites = new Map<string, InProcessSite>();
  private readonly checkpoints: CheckpointFiles;

  private constructor(
    readonly setup: FederationSetup,
    readonly clock: ManualClock,
    readonly stateDir: string,
    readonly identities: { coordinator: Identity; sites: Map<string, Identity> },
  ) {
    this.store = StateStore.open(join(stateDir, "state.db"), {
      federationId: "test",
      now: () => clock.now(),
    });
    const plan = PlanSchema.parse({
      phases: [{ name: "p", task: "classify", rounds: 1 }],
      minSites: setup.siteIds.length,
      roundTimeoutSec: 60,
      evaluateEvery: 0,
      evaluationTimeoutSec: 30,
      maxRoundAttempts: 1,
      ...setup.plan,
    });
    for (const [siteId, identity] of identities.sites)
      this.store.upsertSite({
        siteId,
        signingPublicKey: toBase64(identity.signing.publicKey),
        encryptionPublicKey: toBase64(identity.encryption.publicKey),
      });
    const bus = createInProcessEventBus();
    bus.subscribe((event) => this.events.push(event));
    this.checkpoints = new CheckpointFiles(join(stateDir, "checkpoints"));
    let taskCount = 0;
    this.service = new Coordinator({
      federationId: "test",
      plan,
      model: setup.model ?? DEFAULT_MODEL_SPEC,
      identity: identities.coordinator,
      enrolled: new Map([...identities.sites].map(([id, identity]) => [id, publicIdentity(identity)])),
      store: this.store,
      checkpoints: this.checkpoints,
      createStrategy: () => createStrategy(plan.strategy),
      bus,
      initialWeights: setup.initialWeights ?? (() => tinyWeights()),
      maxUpdateBytes: setup.maxUpdateBytes ?? 1 << 20,
      heartbeatIntervalMs: 1000,
      heartbeatTimeoutMs: setup.heartbeatTimeoutMs ?? 3_600_000,
      clock,
      newTaskId: () => `task-${++taskCount}`,
      log: (line) => this.logs.push(line),
      onProgress: (progress) => this.progress.push(progress),
      ...(setup.buildPipeline && { buildPipeline: setup.buildPipeline }),
      ...(setup.central && { central: setup.central }),
    });
    this.run = this.service.run();
  }

  static start(setup: FederationSetup): InProcessFederation {
    const identities = {
      coordinator: identityOf("coordinator"),
      sites: new Map(setup.siteIds.map((id) => [id, identityOf(id)])),
    };
    return new InProcessFederation(
      setup,
      new ManualClock(),
      mkdtempSync(join(tmpdir(), "fl-fed-")),
      identities,
    );
  }

  /** A site of this federation (not yet joined). */
  site(id: string): InProcessSite {
    let site = this.sites.get(id);
    if (!site) {
      const identity = this.identities.sites.get(id) ?? identityOf(id);
      site = new InProcessSite(this.service, identity, publicIdentity(this.identities.coordinator));
      this.sites.set(id, site);
    }
    return site;
  }

  /** Joins the sites, in order. */
  join(...ids: string[]): InProcessSite[] {
    return ids.map((id) => this.site(id).join());
  }

  /** Lets the coordinator run until it waits for sites, uploads or time. */
  settle(): Promise<void> {
    return settle();
  }

  /** Every site pulls its evaluation task and reports a perfect 4-class confusion matrix. */
  async evaluateAll(sites: readonly InProcessSite[]): Promise<void> {
    const identity = [0, 1, 2, 3].map((i) => [0, 1, 2, 3].map((j) => (i === j ? 1 : 0)));
    for (const site of sites) site.evaluate(await site.evaluateTask(), identity);
  }

  /** The committed model of the latest version. */
  latestModel(): ModelWeights {
    const latest = this.store.latestCheckpoint();
    if (!latest) throw new Error("no checkpoint yet");
    return this.checkpoints.read(latest).weights;
  }

  /**
   * Stops this coordinator as a crash would (the open round stays uncommitted) and starts a
   * second one over the same state directory, with the same keys and the same clock.
   */
  async restart(): Promise<InProcessFederation> {
    this.service.stop();
    await this.run;
    this.store.close();
    return new InProcessFederation(this.setup, this.clock, this.stateDir, this.identities);
  }

  /** Stops the coordinator and removes its state (after a restart, close the second one). */
  async close(): Promise<void> {
    this.service.stop();
    await this.run;
    this.store.close();
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}

const identities = new Map<string, Identity>();

/** Key generation is the slowest step of a test federation; one identity per name serves all. */
function identityOf(id: string): Identity {
  let identity = identities.get(id);
  if (!identity) {
    identity = generateIdentity(id);
    identities.set(id, identity);
  }
  return identity;
}
