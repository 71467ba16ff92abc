import { sealUpdateInThread } from "../../client/src/seal-update.js";
import { TaskBoard } from "../../coordinator/src/federation/task-board.js";
import { trainTaskSpec } from "../../coordinator/src/federation/task-specs.js";
import {
  DEFAULT_UPLOAD_LIMITS,
  UploadIntake,
  type UploadLimits,
} from "../../coordinator/src/federation/upload-intake.js";
import { PlanSchema, slotOf } from "../../coordinator/src/plan.js";
import { StateStore } from "../../coordinator/src/store/state-store.js";
import { createFedAvg } from "../../coordinator/src/strategy/fedavg.js";
import type { RoundAggregation } from "../../coordinator/src/strategy/strategy.js";
import {
  generateIdentity,
  type Identity,
  publicIdentity,
  sharedKey,
  signManifest,
  type UpdateManifest,
} from "../../shared/src/crypto/index.js";
import { FlError } from "../../shared/src/errors.js";
import type { SealedUpdate, UploadHeader } from "../../shared/src/fl/messages.js";
import { DEFAULT_MODEL_SPEC } from "../../shared/src/fl/model-spec.js";
import type { UpdateStage } from "../../shared/src/fl/pipeline.js";
import type { FlTask } from "../../shared/src/fl/task.js";
import type { ModelWeights } from "../../shared/src/weights/types.js";
import { ManualClock } from "./manual-clock.js";
import { tinyWeights } from "./tiny-weights.js";

/**
 * The upload intake on its own, with a task board, SQLite in a temp folder and a manual clock:
 * one training round of the tiny model (w [2,2], b [2]) open for sites a and b.
 */
/** Generated once: key generation is the slowest part of a rig. */
const IDENTITIES = {
  coordinator: generateIdentity("coordinator"),
  sites: new Map(["a", "b"].map((id) => [id, generateIdentity(id)])),
};

export class IntakeRig {
  readonly clock = new ManualClock();
  // In memory: what is under test is the intake, not the database's durability.
  readonly store = StateStore.open(":memory:", { federationId: "f", now: () => this.clock.now() });
  readonly logs: string[] = [];
  readonly board = new TaskBoard({ clock: this.clock, log: (line) => this.logs.push(line) });
  readonly coordinator = IDENTITIES.coordinator;
  readonly sites = IDENTITIES.sites;
  readonly global = tinyWeights();
  readonly aggregation: RoundAggregation = createFedAvg().beginRound(this.global);
  readonly tasks = new Map<string, FlTask>();
  readonly intake: UploadIntake;

  constructor(limits: Partial<UploadLimits> = {}, stages: readonly UpdateStage[] = []) {
    this.intake = new UploadIntake({
      federationId: "f",
      encryptionSecretKey: this.coordinator.encryption.secretKey,
      enrolled: new Map([...this.sites].map(([id, identity]) => [id, publicIdentity(identity)])),
      maxUpdateBytes: 1 << 20,
      limits: { ...DEFAULT_UPLOAD_LIMITS, ...limits },
      declaredTrainingExamples: () => 100,
      store: this.store,
      board: this.board,
      events: { publish: async () => {} },
      clock: this.clock,
      log: (line) => this.logs.push(line),
    });
    const plan = PlanSchema.parse({ phases: [{ name: "p", task: "classify", rounds: 1 }], minSites: 1 });
    const spec = trainTaskSpec(plan, DEFAULT_MODEL_SPEC, slotOf(plan, 1));
    const deadlineMs = this.clock.now() + 3_600_000;
    for (const siteId of this.sites.keys())
      this.tasks.set(siteId, {
        taskId: `task-${siteId}`,
        round: 1,
        phase: "p",
        modelVersion: 0,
        modelSha256: "0".repeat(64),
        modelBytes: 0,
        deadlineMs,
        ...spec,
      });
    this.intake.open({
      round: 1,
      attempt: 1,
      phase: "p",
      aggregation: this.aggregation,
      sharedManifest: this.global.manifest,
      stages,
    });
    this.board.post({ round: 1, kind: "train", deadlineMs, tasks: this.tasks });
  }

  identity(siteId: string): Identity {
    const identity = this.sites.get(siteId);
    if (!identity) throw new Error(`no site ${siteId}`);
    return identity;
  }

  /** An honest update of `siteId` for its task, its delta all `fill`, in chunks of `chunkSize`. */
  seal(siteId: string, fill = 1, chunkSize?: number, delta?: ModelWeights): SealedUpdate {
    const identity = this.identity(siteId);
    return sealUpdateInThread({
      delta: delta ?? { manifest: this.global.manifest, values: new Float32Array(6).fill(fill) },
      identity,
      key: sharedKey(identity.encryption.secretKey, this.coordinator.encryption.publicKey),
      federationId: "f",
      round: 1,
      modelVersion: 0,
      taskId: `task-${siteId}`,
      numExamples: 10,
      ...(chunkSize !== undefined && { chunkSize }),
    });
  }

  /** `siteId`'s own signature over a manifest it changed. */
  resign(siteId: string, manifest: UpdateManifest, changes: Partial<UpdateManifest>): UploadHeader {
    const changed = { ...manifest, ...changes };
    return { manifest: changed, signature: signManifest(changed, this.identity(siteId)), trainMetrics: {} };
  }

  header(update: SealedUpdate): UploadHeader {
    return { manifest: update.manifest, signature: update.signature, trainMetrics: {} };
  }

  /** The whole upload through the intake; the verdict's code, or "accepted". */
  async upload(siteId: string, update: SealedUpdate): Promise<string> {
    try {
      const sink = this.intake.begin(siteId, this.header(update));
      // Copies: the intake takes its chunks over, and tests send an update again.
      for (const [i, chunk] of update.chunks.entries()) sink.addChunk(i, chunk.slice());
      await sink.finish();
      return "accepted";
    } catch (error) {
      return FlError.from(error).code;
    }
  }

  acceptedRows(): string[] {
    return this.store
      .listUpdates()
      .filter((u) => u.status === "accepted")
      .map((u) => u.siteId);
  }

  close(): void {
    this.intake.close();
    this.store.close();
  }
}
