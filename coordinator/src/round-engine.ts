import { randomUUID } from "node:crypto";
import {
  type Identity,
  type PublicIdentity,
  sharedKey,
  type UpdateManifest,
} from "../../shared/src/crypto/index.js";
import { ErrorCode, errorMessage, FlError } from "../../shared/src/errors.js";
import { makeEvent } from "../../shared/src/events/event.js";
import type { EventBus, FlEventType } from "../../shared/src/events/types.js";
import type { ModelSpec } from "../../shared/src/fl/model-spec.js";
import { weightedAverage } from "../../shared/src/metrics/index.js";
import { mergeTensors, selectTensors, sharingRule, withSharing } from "../../shared/src/weights/index.js";
import type { ModelWeights, WeightsManifest } from "../../shared/src/weights/types.js";
import { type Phase, type Plan, phaseModel, shouldEvaluate, slotOf, totalRounds } from "./plan.js";
import type { SiteRegistry } from "./registry.js";
import { summariseEvaluations } from "./report.js";
import { sampleSites } from "./sampling.js";
import type { CheckpointFiles } from "./store/checkpoints.js";
import type { StateStore, UpdateRecord } from "./store/state-store.js";
import { hasServerState } from "./strategy/server-optimizers.js";
import type { RoundAggregation, Strategy } from "./strategy/strategy.js";
import { checkUploadHeader, UploadAssembler } from "./upload-verifier.js";

export type TaskKind = "train" | "evaluate";

/** What a client receives from PullTask. */
export type PullResult =
  | { readonly kind: "task"; readonly task: TaskDescriptor }
  | { readonly kind: "wait"; readonly retryAfterMs: number; readonly reason: string }
  | { readonly kind: "done"; readonly reason: string };

export interface TaskDescriptor {
  readonly taskId: string;
  readonly round: number;
  readonly phase: string;
  readonly kind: TaskKind;
  readonly modelVersion: number;
  readonly modelSha256: string;
  readonly modelBytes: number;
  readonly config: Readonly<Record<string, unknown>>;
  readonly deadlineMs: number;
}

export interface EvaluationInput {
  readonly taskId: string;
  readonly round: number;
  readonly modelVersion: number;
  readonly split: string;
  readonly numExamples: number;
  readonly confusion: number[][];
  readonly metrics: Record<string, number>;
}

/** An upload in progress: chunks go in one by one, then `finish` gives the verdict. */
export interface UploadSink {
  addChunk(index: number, ciphertext: Uint8Array): void;
  finish(): void;
  /** The stream broke (client gone mid-upload): nothing is recorded, the task stays open. */
  abort(reason: string): void;
}

export interface TaskProgress {
  readonly siteId: string;
  readonly round: number;
  readonly kind: TaskKind;
  readonly progress: number;
  readonly status: string;
}

export interface RoundEngineOptions {
  readonly federationId: string;
  readonly plan: Plan;
  readonly model: ModelSpec;
  readonly identity: Identity;
  readonly registry: SiteRegistry;
  readonly enrolled: ReadonlyMap<string, PublicIdentity>;
  readonly store: StateStore;
  readonly checkpoints: CheckpointFiles;
  /** Makes the aggregation strategy; a fresh one starts with each phase (its shared tensors differ). */
  readonly createStrategy: () => Strategy;
  readonly bus: EventBus;
  /** The seeded initial weights of a model (every phase's network starts from its own). */
  readonly initialWeights: (spec: ModelSpec) => ModelWeights;
  readonly maxUpdateBytes: number;
  readonly heartbeatIntervalMs: number;
  readonly now?: () => number;
  readonly log?: (line: string) => void;
  readonly onProgress?: (progress: TaskProgress) => void;
}

interface TaskState {
  readonly descriptor: TaskDescriptor;
  readonly siteId: string;
  status: "pending" | "running" | "done" | "failed";
  progress: number;
}

interface OpenRound {
  readonly round: number;
  readonly attempt: number;
  readonly phase: Phase;
  readonly kind: TaskKind;
  readonly modelVersion: number;
  readonly deadlineMs: number;
  readonly tasks: Map<string, TaskState>;
  readonly failures: Array<{ siteId: string; reason: string }>;
  readonly aggregation?: RoundAggregation;
  /** The tensors an update must contain this round (the phase's shared ones). */
  readonly sharedManifest?: WeightsManifest;
  readonly trainMetrics: Array<{ weight: number; metrics: Record<string, number> }>;
  readonly evaluations: Map<string, EvaluationInput>;
  readonly settled: () => void;
  readonly whenSettled: Promise<void>;
}

/**
 * The federation's round loop and task book. Drives the plan round by round: waits for clients,
 * samples, hands out tasks through PullTask, folds verified updates into the strategy's running
 * aggregate, commits the new model version durably, and runs evaluations. Failures of single
 * clients are recorded, never thrown: a round completes when enough updates arrived.
 */
export class RoundEngine {
  private readonly now: () => number;
  private readonly log: (line: string) => void;
  private global!: ModelWeights;
  private globalBytes!: Uint8Array;
  private globalSha256 = "";
  private version = 0;
  private open: OpenRound | undefined;
  private finished: { reason: string } | undefined;
  private readonly waiters = new Set<() => void>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly abort = new AbortController();
  private strategy: { phase: string; instance: Strategy } | undefined;

  constructor(private readonly options: RoundEngineOptions) {
    this.now = options.now ?? Date.now;
    this.log = options.log ?? (() => {});
  }

  get federationId(): string {
    return this.options.federationId;
  }

  get currentVersion(): number {
    return this.version;
  }

  /** Loads the last committed model (or creates version 0) and runs the remaining plan. */
  async run(): Promise<{ status: "completed" | "failed"; reason: string }> {
    this.restore();
    this.sweepTimer = setInterval(
      () => this.sweep(),
      Math.min(1000, this.options.heartbeatIntervalMs),
    ).unref();
    const total = totalRounds(this.options.plan);
    await this.publish("federation.started", {
      data: {
        totalRounds: total,
        resumedAfterRound: this.options.store.lastCompletedRound(),
        modelVersion: this.version,
      },
    });
    try {
      for (let round = this.options.store.lastCompletedRound() + 1; round <= total; round++) {
        await this.runTrainingRound(round);
        if (shouldEvaluate(this.options.plan, round) && classifies(slotOf(this.options.plan, round).phase)) {
          await this.runEvaluation(round);
        }
      }
      if (
        total > 0 &&
        classifies(slotOf(this.options.plan, total).phase) &&
        this.options.store.listEvaluations(this.version).length === 0
      )
        await this.runEvaluation(total);
      this.finish("the plan is complete");
      await this.publish("federation.completed", { data: { modelVersion: this.version, rounds: total } });
      return { status: "completed", reason: "the plan is complete" };
    } catch (error) {
      if (this.abort.signal.aborted) {
        this.finish("the coordinator is shutting down");
        return { status: "failed", reason: "stopped" };
      }
      const reason = errorMessage(error);
      this.finish(`the federation failed: ${reason}`);
      this.log(`federation failed: ${reason}`);
      return { status: "failed", reason };
    } finally {
      clearInterval(this.sweepTimer);
    }
  }

  /** Stops waiting; the current round is left uncommitted and will re-run after a restart. */
  stop(): void {
    this.abort.abort();
    this.open?.settled();
    this.wake();
  }

  // --- state ---------------------------------------------------------------------------------

  private restore(): void {
    const { store, checkpoints } = this.options;
    const latest = store.latestCheckpoint();
    if (latest) {
      const { weights, bytes } = checkpoints.read(latest);
      this.setGlobal(latest.version, weights, bytes, latest.sha256);
      this.log(`resuming at model v${latest.version} after round ${store.lastCompletedRound()}`);
      return;
    }
    const first = this.options.plan.phases[0];
    const weights = this.options.initialWeights(
      first ? phaseModel(this.options.model, first) : this.options.model,
    );
    const { record, bytes } = checkpoints.write(0, 0, weights, this.now());
    store.recordInitialCheckpoint(record);
    this.setGlobal(0, weights, bytes, record.sha256);
    this.log(
      `initialised model v0 (${weights.manifest.tensors.length} tensors, ${weights.values.length} parameters)`,
    );
  }

  private setGlobal(version: number, weights: ModelWeights, bytes: Uint8Array, sha256: string): void {
    this.version = version;
    this.global = weights;
    this.globalBytes = bytes;
    this.globalSha256 = sha256;
  }

  // --- rounds --------------------------------------------------------------------------------

  private async runTrainingRound(round: number): Promise<void> {
    const { plan, store } = this.options;
    const { phase, roundInPhase } = slotOf(plan, round);
    if (roundInPhase === 1) this.enterPhase(phase);
    for (;;) {
      const attempt = store.nextAttempt(round);
      const sites = await this.waitForSites(Math.max(plan.minClients, plan.minAvailableClients ?? 0));
      const sampled = sampleSites(sites, {
        fraction: plan.fraction,
        minClients: plan.minClients,
        seed: plan.seed,
        round,
        attempt,
      });
      // The phase decides which tensors leave the hospitals this round (MoCo key encoder, FedBN
      // statistics and site heads stay local); only those are expected and aggregated.
      const base = withSharing(this.global, sharingRule(phase.local));
      const sharedGlobal = selectTensors(base, "shared");
      const open = this.openRound({
        round,
        attempt,
        phase,
        kind: "train",
        sites: sampled,
        timeoutMs: plan.roundTimeoutSec * 1000,
        aggregation: this.strategyFor(phase.name, round).beginRound(sharedGlobal),
        sharedManifest: sharedGlobal.manifest,
      });
      store.startRound({
        round,
        attempt,
        phase: phase.name,
        modelVersionIn: this.version,
        sampled,
        startedAtMs: this.now(),
      });
      await this.publish("round.started", {
        round,
        data: { attempt, phase: phase.name, sampled, modelVersion: this.version },
      });
      this.log(
        `round ${round} (${phase.name}, attempt ${attempt}): ${sampled.length} sites sampled: ${sampled.join(", ")}`,
      );
      await this.untilSettled(open);
      this.closeRound(open);

      const accepted = open.aggregation?.acceptedCount ?? 0;
      if (accepted >= plan.minClients && open.aggregation) {
        const { weights: newShared, metrics } = open.aggregation.finish();
        const next = mergeTensors(this.global, newShared);
        const version = this.version + 1;
        const { record, bytes } = this.options.checkpoints.write(version, round, next, this.now());
        const trainMetrics = weightedAverage(open.trainMetrics);
        const roundMetrics = { ...prefixKeys("train.", trainMetrics), ...metrics, accepted };
        store.completeRound({
          round,
          attempt,
          acceptedCount: accepted,
          failures: open.failures,
          metrics: roundMetrics,
          checkpoint: record,
          endedAtMs: this.now(),
          ...(this.strategy &&
            hasServerState(this.strategy.instance) && {
              strategyState: { phase: phase.name, state: this.strategy.instance.exportState() },
            }),
        });
        this.setGlobal(version, next, bytes, record.sha256);
        this.log(`round ${round} completed: ${accepted} updates, model v${version}`);
        await this.publish("round.completed", {
          round,
          data: { attempt, modelVersion: version, accepted, failures: open.failures, metrics: roundMetrics },
        });
        return;
      }
      store.failRound({
        round,
        attempt,
        acceptedCount: accepted,
        failures: open.failures,
        endedAtMs: this.now(),
      });
      const reason = `only ${accepted} of the required ${plan.minClients} updates arrived`;
      this.log(`round ${round} attempt ${attempt} failed: ${reason}`);
      await this.publish("round.failed", { round, data: { attempt, reason, failures: open.failures } });
      if (attempt >= plan.maxRoundAttempts) {
        throw new FlError(ErrorCode.NotEnoughClients, `round ${round} failed ${attempt} times: ${reason}`);
      }
    }
  }

  private async runEvaluation(round: number): Promise<void> {
    const { plan } = this.options;
    const sites = await this.waitForSites(1);
    const { phase } = slotOf(plan, round);
    const open = this.openRound({
      round,
      attempt: 0,
      phase,
      kind: "evaluate",
      sites,
      timeoutMs: plan.evaluationTimeoutSec * 1000,
    });
    await this.untilSettled(open);
    this.closeRound(open);
    const reports = [...open.evaluations.entries()];
    if (reports.length === 0) {
      this.log(`evaluation of model v${this.version} got no reports`);
      return;
    }
    const [summary] = summariseEvaluations(this.options.store.listEvaluations(this.version));
    if (!summary) return;
    const { pooled } = summary;
    const perSite = Object.fromEntries(
      Object.entries(summary.perSite).map(([site, r]) => [
        site,
        { macroF1: r.macroF1, accuracy: r.accuracy, count: r.count },
      ]),
    );
    const extras = {
      ...(summary.ranking?.mAP !== undefined && { mAP: summary.ranking.mAP }),
      ...(summary.ranking?.macroAuc !== undefined && { macroAuc: summary.ranking.macroAuc }),
      ...(summary.segmentation && { dice: summary.segmentation.globalDice }),
    };
    this.log(
      `evaluation of model v${this.version}: pooled accuracy ${pooled.accuracy.toFixed(3)}, macro-F1 ${pooled.macroF1.toFixed(3)} over ${pooled.count} images${Object.entries(
        extras,
      )
        .map(([k, v]) => `, ${k} ${v.toFixed(3)}`)
        .join("")}`,
    );
    await this.publish("evaluation.completed", {
      round,
      data: {
        modelVersion: this.version,
        pooled: { accuracy: pooled.accuracy, macroF1: pooled.macroF1, count: pooled.count, ...extras },
        perSite,
        failures: open.failures,
      },
    });
  }

  /**
   * Moves the global model into a phase's network once, when the phase starts: the phase's seeded
   * initial weights, with every tensor of the same name and shape carried over from the current
   * model except those the phase re-initialises (new heads). A change is committed as a new model
   * version before any task goes out, so a restart neither repeats nor loses it.
   */
  private enterPhase(phase: Phase): void {
    const { store, checkpoints } = this.options;
    const marker = `phase.entered.${phase.name}`;
    if (store.getMeta(marker) !== undefined) return;
    const fresh = this.options.initialWeights(phaseModel(this.options.model, phase));
    const reset = sharingRule(phase.reinitialize);
    const current = new Map(this.global.manifest.tensors.map((t) => [t.name, t]));
    const values = Float32Array.from(fresh.values);
    let carried = 0;
    for (const tensor of fresh.manifest.tensors) {
      const source = current.get(tensor.name);
      if (!source || source.shape.join("x") !== tensor.shape.join("x") || reset(tensor.name) === "local")
        continue;
      values.set(this.global.values.subarray(source.offset, source.offset + source.length), tensor.offset);
      carried++;
    }
    const unchanged =
      carried === fresh.manifest.tensors.length &&
      fresh.manifest.tensors.length === this.global.manifest.tensors.length;
    if (unchanged) {
      store.setMeta(marker, String(this.version));
      return;
    }
    const next: ModelWeights = { manifest: fresh.manifest, values };
    const version = this.version + 1;
    const { record, bytes } = checkpoints.write(version, store.lastCompletedRound(), next, this.now());
    store.recordPhaseEntry(record, marker);
    this.setGlobal(version, next, bytes, record.sha256);
    this.log(
      `phase "${phase.name}" (${phase.task}): model v${version} carries ${carried} of ${fresh.manifest.tensors.length} tensors over, the rest start fresh`,
    );
  }

  /**
   * The phase's strategy. Server optimisers carry state across rounds (momentum, moments); it is
   * committed with each checkpoint and restored on resume when the checkpoint is of this phase.
   */
  private strategyFor(phase: string, round: number): Strategy {
    if (this.strategy?.phase === phase) return this.strategy.instance;
    const instance = this.options.createStrategy();
    const latest = this.options.store.latestCheckpoint();
    if (hasServerState(instance) && latest && latest.round > 0 && latest.round < round) {
      const saved = this.options.store.strategyState(latest.version);
      if (saved && saved.phase === phase) {
        instance.importState(saved.state);
        this.log(`restored ${instance.name} state (${instance.steps} steps) from model v${latest.version}`);
      }
    }
    this.strategy = { phase, instance };
    return instance;
  }

  private openRound(r: {
    round: number;
    attempt: number;
    phase: Phase;
    kind: TaskKind;
    sites: string[];
    timeoutMs: number;
    aggregation?: RoundAggregation;
    sharedManifest?: WeightsManifest;
  }): OpenRound {
    const deadlineMs = this.now() + r.timeoutMs;
    let settled!: () => void;
    const whenSettled = new Promise<void>((resolve) => {
      settled = resolve;
    });
    const tasks = new Map<string, TaskState>();
    const config = this.taskConfig(r.kind, r.phase, r.round);
    for (const siteId of r.sites) {
      tasks.set(siteId, {
        siteId,
        status: "pending",
        progress: 0,
        descriptor: {
          taskId: randomUUID(),
          round: r.round,
          phase: r.phase.name,
          kind: r.kind,
          modelVersion: this.version,
          modelSha256: this.globalSha256,
          modelBytes: this.globalBytes.length,
          config,
          deadlineMs,
        },
      });
    }
    const open: OpenRound = {
      ...r,
      modelVersion: this.version,
      deadlineMs,
      tasks,
      failures: [],
      trainMetrics: [],
      evaluations: new Map(),
      settled,
      whenSettled,
    };
    this.open = open;
    this.wake();
    return open;
  }

  /** What a client needs to run its task; everything a phase configures travels with it. */
  private taskConfig(kind: TaskKind, phase: Phase, round: number): Record<string, unknown> {
    if (kind === "evaluate")
      return { model: phaseModel(this.options.model, phase), split: "test", task: phase.task };
    const { roundInPhase } = slotOf(this.options.plan, round);
    return {
      model: phaseModel(this.options.model, phase),
      task: phase.task,
      train: phase.train,
      options: phase.options,
      local: phase.local,
      labelFraction: phase.labelFraction,
      fedproxMu: phase.fedproxMu,
      seed: this.options.plan.seed * 100_003 + round,
      roundInPhase,
      phaseRounds: phase.rounds,
    };
  }

  private async untilSettled(open: OpenRound): Promise<void> {
    const remaining = Math.max(0, open.deadlineMs - this.now());
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      open.whenSettled,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, remaining);
      }),
    ]);
    clearTimeout(timer);
    if (this.abort.signal.aborted) throw new FlError(ErrorCode.FailedPrecondition, "stopped");
    for (const task of open.tasks.values()) {
      if (task.status === "pending" || task.status === "running") {
        this.failTask(
          open,
          task,
          `no result before the deadline (${task.status === "pending" ? "task never picked up" : "still working"})`,
        );
      }
    }
  }

  private closeRound(open: OpenRound): void {
    if (this.open === open) this.open = undefined;
  }

  private failTask(open: OpenRound, task: TaskState, reason: string): void {
    if (task.status === "done" || task.status === "failed") return;
    task.status = "failed";
    open.failures.push({ siteId: task.siteId, reason });
    this.log(`round ${open.round}: ${task.siteId} failed its ${open.kind} task: ${reason}`);
    this.checkSettled(open);
  }

  private checkSettled(open: OpenRound): void {
    if ([...open.tasks.values()].every((t) => t.status === "done" || t.status === "failed")) open.settled();
  }

  private async waitForSites(min: number): Promise<string[]> {
    let announced = false;
    for (;;) {
      if (this.abort.signal.aborted) throw new FlError(ErrorCode.FailedPrecondition, "stopped");
      const sites = this.options.registry.activeSites();
      if (sites.length >= min) return sites;
      if (!announced) {
        this.log(`waiting for clients: ${sites.length} connected, ${min} needed`);
        announced = true;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.waiters.delete(done);
          resolve();
        }, 1000);
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        this.waiters.add(done);
      });
    }
  }

  private sweep(): void {
    for (const siteId of this.options.registry.sweep()) {
      void this.publish("client.left", { siteId, data: { reason: "missed heartbeats" } });
      this.log(`${siteId} left: missed heartbeats`);
      this.onSiteGone(siteId, "client lost: missed heartbeats");
    }
  }

  private onSiteGone(siteId: string, reason: string): void {
    const open = this.open;
    const task = open?.tasks.get(siteId);
    if (open && task) this.failTask(open, task, reason);
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) {
      this.waiters.delete(waiter);
      waiter();
    }
  }

  private finish(reason: string): void {
    this.finished = { reason };
    this.wake();
  }

  private async publish(
    type: FlEventType,
    fields: { round?: number; siteId?: string; data?: Record<string, unknown> },
  ): Promise<void> {
    try {
      await this.options.bus.publish(
        makeEvent(type, this.options.federationId, fields, () => new Date(this.now())),
      );
    } catch (error) {
      this.log(`event ${type} not published: ${errorMessage(error)}`);
    }
  }

  // --- the API the transport calls -------------------------------------------------------------

  getChallenge(siteId: string): { challenge: Uint8Array; federationId: string; expiresAtMs: number } {
    const { challenge, expiresAtMs } = this.options.registry.issueChallenge(siteId);
    return { challenge, federationId: this.options.federationId, expiresAtMs };
  }

  join(request: {
    siteId: string;
    challenge: Uint8Array;
    signature: Uint8Array;
    info: Record<string, unknown>;
  }): {
    sessionToken: string;
    federationId: string;
    coordinatorEncryptionPublicKey: Uint8Array;
    coordinatorSigningPublicKey: Uint8Array;
    heartbeatIntervalMs: number;
  } {
    const { token, rejoined } = this.options.registry.join(
      request.siteId,
      request.challenge,
      request.signature,
    );
    this.options.store.recordJoin(request.siteId, this.now(), request.info);
    // A site that rejoins mid-task (a restarted client) gets the same task again.
    const task = this.open?.tasks.get(request.siteId);
    if (task?.status === "running") task.status = "pending";
    void this.publish("client.joined", {
      siteId: request.siteId,
      data: { rejoined, backend: request.info.backend ?? "unknown" },
    });
    this.log(
      `${request.siteId} joined${rejoined ? " again" : ""} (backend ${String(request.info.backend ?? "unknown")})`,
    );
    this.wake();
    return {
      sessionToken: token,
      federationId: this.options.federationId,
      coordinatorEncryptionPublicKey: this.options.identity.encryption.publicKey,
      coordinatorSigningPublicKey: this.options.identity.signing.publicKey,
      heartbeatIntervalMs: this.options.heartbeatIntervalMs,
    };
  }

  /** Long-poll: resolves with a task as soon as there is one for this site, or after waitMs. */
  async pullTask(token: string, waitMs: number, signal?: AbortSignal): Promise<PullResult> {
    const siteId = this.options.registry.authenticate(token);
    const deadline = this.now() + Math.min(waitMs, 30_000);
    for (;;) {
      if (this.finished) return { kind: "done", reason: this.finished.reason };
      const task = this.open?.tasks.get(siteId);
      if (task && task.status === "pending") {
        task.status = "running";
        return { kind: "task", task: task.descriptor };
      }
      const left = deadline - this.now();
      if (left <= 0 || signal?.aborted) {
        return {
          kind: "wait",
          retryAfterMs: 0,
          reason: task?.status === "running" ? "task in progress" : "no task for this site now",
        };
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", done);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, left);
        signal?.addEventListener("abort", done);
        this.waiters.add(done);
      });
      this.options.registry.authenticate(token);
    }
  }

  /** Liveness and progress of a running task; a non-empty `failure` ends the task as failed. */
  heartbeat(
    token: string,
    taskId: string,
    progress: number,
    status: string,
    failure = "",
  ): { taskActive: boolean } {
    const siteId = this.options.registry.authenticate(token);
    const open = this.open;
    const task = open?.tasks.get(siteId);
    const active = task !== undefined && task.descriptor.taskId === taskId && task.status === "running";
    if (open && task && active && failure) {
      this.failTask(open, task, `the site gave up: ${failure.slice(0, 500)}`);
      return { taskActive: false };
    }
    if (open && task && active) {
      task.progress = Math.max(0, Math.min(1, progress));
      this.options.onProgress?.({
        siteId,
        round: open.round,
        kind: open.kind,
        progress: task.progress,
        status,
      });
    }
    return { taskActive: active };
  }

  /** The serialized global model of a version (the current one, or a committed checkpoint). */
  modelBytes(token: string, version: number): { bytes: Uint8Array; sha256: string } {
    this.options.registry.authenticate(token);
    if (version === this.version) return { bytes: this.globalBytes, sha256: this.globalSha256 };
    const record = this.options.store.checkpoint(version);
    if (!record)
      throw new FlError(
        ErrorCode.NotFound,
        `model version ${version} does not exist (current is v${this.version})`,
      );
    const { bytes } = this.options.checkpoints.read(record);
    return { bytes, sha256: record.sha256 };
  }

  /**
   * Starts receiving an update. The header is checked at once (signature, round, task, replay,
   * size); a rejection throws FlError and is recorded. Chunks are decrypted as they arrive.
   */
  beginUpload(
    token: string,
    header: { manifest: UpdateManifest; signature: Uint8Array; trainMetrics: Record<string, number> },
  ): UploadSink {
    const siteId = this.options.registry.authenticate(token);
    const { manifest } = header;
    const signer = this.options.enrolled.get(siteId);
    if (!signer) throw new FlError(ErrorCode.UnknownSite, `site "${siteId}" is not enrolled`);
    const open = this.open;
    const task = open?.tasks.get(siteId);
    const reject = (error: unknown): never => {
      const flError = FlError.from(error);
      this.recordRejection(siteId, manifest, flError, open);
      throw flError;
    };
    if (this.options.store.hasUpload(manifest.uploadId)) {
      void this.publish("update.rejected", {
        round: manifest.round,
        siteId,
        data: { code: ErrorCode.Replay, uploadId: manifest.uploadId },
      });
      throw new FlError(
        ErrorCode.Replay,
        `upload ${manifest.uploadId} was already received: replays are refused`,
      );
    }
    if (open?.kind !== "train" || !task) {
      try {
        checkUploadHeader(manifest, header.signature, signer, {
          federationId: this.options.federationId,
          siteId,
          round: -1,
          modelVersion: -1,
          taskId: "",
          sharedManifest: this.global.manifest,
          maxUpdateBytes: this.options.maxUpdateBytes,
        });
      } catch (error) {
        reject(error);
      }
    }
    if (!open || !task)
      return reject(new FlError(ErrorCode.WrongRound, "no training task is open for this site"));
    if (task.status === "done")
      return reject(
        new FlError(
          ErrorCode.Replay,
          `site "${siteId}" already delivered its update for round ${open.round}`,
        ),
      );
    if (task.status === "failed")
      return reject(
        new FlError(
          ErrorCode.WrongRound,
          `the task of "${siteId}" in round ${open.round} already failed (deadline or disconnect)`,
        ),
      );
    const sharedManifest = open.sharedManifest ?? selectTensors(this.global, "shared").manifest;
    try {
      checkUploadHeader(manifest, header.signature, signer, {
        federationId: this.options.federationId,
        siteId,
        round: open.round,
        modelVersion: open.modelVersion,
        taskId: task.descriptor.taskId,
        sharedManifest,
        maxUpdateBytes: this.options.maxUpdateBytes,
      });
    } catch (error) {
      reject(error);
    }
    const assembler = new UploadAssembler(
      manifest,
      sharedKey(this.options.identity.encryption.secretKey, signer.encryptionPublicKey),
      sharedManifest,
    );
    let closed = false;
    return {
      addChunk: (index, ciphertext) => {
        try {
          assembler.addChunk(index, ciphertext);
        } catch (error) {
          closed = true;
          reject(error);
        }
      },
      finish: () => {
        if (closed) throw new FlError(ErrorCode.FailedPrecondition, "upload already closed");
        closed = true;
        if (this.open !== open || task.status === "done" || task.status === "failed") {
          reject(new FlError(ErrorCode.WrongRound, `round ${open.round} closed before the upload finished`));
        }
        if (!assembler.isComplete()) {
          // A stream that ends early is a broken connection, not a bad update: the site may retry.
          this.log(`round ${open.round}: upload from ${siteId} ended early; the task stays open`);
          throw new FlError(
            ErrorCode.InvalidArgument,
            "the upload ended before all announced chunks arrived; send it again",
          );
        }
        let delta: ModelWeights;
        try {
          delta = assembler.finish();
          open.aggregation?.accept({ siteId, delta: delta.values, numExamples: manifest.numExamples });
        } catch (error) {
          reject(error);
          return;
        }
        task.status = "done";
        open.trainMetrics.push({ weight: manifest.numExamples, metrics: header.trainMetrics });
        this.recordUpdate(manifest, siteId, {
          round: open.round,
          attempt: open.attempt,
          status: "accepted",
          reason: null,
          trainMetrics: header.trainMetrics,
        });
        void this.publish("update.accepted", {
          round: open.round,
          siteId,
          data: {
            numExamples: manifest.numExamples,
            bytes: manifest.plaintextBytes,
            trainMetrics: header.trainMetrics,
          },
        });
        this.log(`round ${open.round}: accepted update from ${siteId} (${manifest.numExamples} examples)`);
        this.checkSettled(open);
      },
      abort: (reason) => {
        if (closed) return;
        closed = true;
        this.log(
          `round ${open.round}: upload from ${siteId} broke off (${reason}); the task stays open until the deadline`,
        );
      },
    };
  }

  private recordRejection(
    siteId: string,
    manifest: UpdateManifest,
    error: FlError,
    open: OpenRound | undefined,
  ): void {
    this.log(`update from ${siteId} for round ${manifest.round} rejected: ${error.code}: ${error.message}`);
    // A signed update for the site's current task that fails verification ends that task, so the
    // round does not wait for it until the deadline. Forgeries and stale uploads leave it open.
    const task = open?.tasks.get(siteId);
    const authentic = ![
      ErrorCode.SignatureInvalid,
      ErrorCode.Unauthenticated,
      ErrorCode.Replay,
      ErrorCode.WrongRound,
    ].includes(error.code as never);
    if (open && task && authentic && task.descriptor.taskId === manifest.taskId)
      this.failTask(open, task, `update rejected: ${error.code}: ${error.message}`);
    void this.publish("update.rejected", {
      round: manifest.round,
      siteId,
      data: { code: error.code, message: error.message },
    });
    if (this.options.store.hasUpload(manifest.uploadId)) return;
    this.recordUpdate(manifest, siteId, {
      round: manifest.round,
      attempt: open?.attempt ?? 0,
      status: "rejected",
      reason: `${error.code}: ${error.message}`,
      trainMetrics: {},
    });
  }

  /** Records an upload under the session's site (never the site a manifest merely claims). */
  private recordUpdate(
    manifest: UpdateManifest,
    siteId: string,
    outcome: Pick<UpdateRecord, "round" | "attempt" | "status" | "reason" | "trainMetrics">,
  ): void {
    this.options.store.recordUpdate({
      ...outcome,
      uploadId: manifest.uploadId,
      siteId,
      taskId: manifest.taskId,
      modelVersion: manifest.modelVersion,
      contentSha256: manifest.contentSha256,
      numExamples: manifest.numExamples,
      plaintextBytes: manifest.plaintextBytes,
      receivedAtMs: this.now(),
    });
  }

  reportEvaluation(token: string, report: EvaluationInput): void {
    const siteId = this.options.registry.authenticate(token);
    const open = this.open;
    const task = open?.tasks.get(siteId);
    if (open?.kind !== "evaluate" || !task || task.descriptor.taskId !== report.taskId) {
      throw new FlError(ErrorCode.WrongRound, `no open evaluation task ${report.taskId} for "${siteId}"`);
    }
    if (task.status === "done" || task.status === "failed")
      throw new FlError(ErrorCode.Replay, `evaluation task ${report.taskId} is already closed`);
    if (report.modelVersion !== open.modelVersion) {
      throw new FlError(
        ErrorCode.WrongRound,
        `evaluation is of model v${report.modelVersion}; the task asked for v${open.modelVersion}`,
      );
    }
    const n = report.confusion.length;
    const total = report.confusion.flat().reduce((a, b) => a + b, 0);
    if (
      n !== this.options.model.numClasses ||
      report.confusion.some((row) => row.length !== n) ||
      total !== report.numExamples
    ) {
      throw new FlError(
        ErrorCode.InvalidArgument,
        `confusion matrix must be ${this.options.model.numClasses}x${this.options.model.numClasses} and sum to num_examples (${report.numExamples}); got ${n} rows summing to ${total}`,
      );
    }
    task.status = "done";
    open.evaluations.set(siteId, report);
    this.options.store.recordEvaluation({
      round: open.round,
      modelVersion: open.modelVersion,
      siteId,
      split: report.split,
      numExamples: report.numExamples,
      confusion: report.confusion,
      metrics: report.metrics,
      receivedAtMs: this.now(),
    });
    this.checkSettled(open);
  }

  leave(token: string, reason: string): void {
    const siteId = this.options.registry.leave(token);
    if (!siteId) return;
    void this.publish("client.left", { siteId, data: { reason: reason || "left" } });
    this.log(`${siteId} left: ${reason || "no reason given"}`);
    this.onSiteGone(siteId, `client left: ${reason || "no reason given"}`);
  }
}

/** Self-supervised phases have no classification head to evaluate. */
function classifies(phase: Phase): boolean {
  return phase.task === "classify" || phase.task === "multitask";
}

function prefixKeys(prefix: string, values: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [prefix + k, v]));
}
