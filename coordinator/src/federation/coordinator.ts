import { randomUUID } from "node:crypto";
import { type Identity, keyFingerprint, type PublicIdentity } from "../../../shared/src/crypto/index.js";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import type { EventBus } from "../../../shared/src/events/types.js";
import { MAX_REASON_CHARS, sanitiseText } from "../../../shared/src/fl/limits.js";
import type {
  Caller,
  ChallengeRequest,
  EvaluationReport,
  Heartbeat,
  JoinChallenge,
  JoinGrant,
  JoinRequest,
  ModelBlob,
  RequestAuth,
  SignedHeartbeatAck,
  SignedPullOutcome,
  UploadHeader,
} from "../../../shared/src/fl/messages.js";
import type { ModelSpec } from "../../../shared/src/fl/model-spec.js";
import type { UpdatePipeline } from "../../../shared/src/fl/pipeline.js";
import type { CoordinatorService, UploadSink } from "../../../shared/src/fl/ports.js";
import type { SecAggRequest, SignedSecAggAnswer } from "../../../shared/src/fl/secagg-exchange.js";
import { answerBody, callBody, SessionMethod } from "../../../shared/src/fl/session-calls.js";
import { buildPipeline, type StageConfig } from "../../../shared/src/fl/stages/index.js";
import type { ModelWeights } from "../../../shared/src/weights/types.js";
import { CentralEvaluation, type CentralEvaluator, type CentralSchedule } from "../central-evaluation.js";
import type { Plan } from "../plan.js";
import type { Strategy } from "../strategy/strategy.js";
import { type Clock, systemClock } from "./clock.js";
import { Enrolment, type EnrolmentFiles } from "./enrolment.js";
import { EvaluationIntake } from "./evaluation-intake.js";
import { type FederationEvents, federationEvents } from "./events.js";
import { GlobalModel } from "./global-model.js";
import { RoundRunner, type RunResult } from "./round-runner.js";
import { SecAggRounds } from "./secagg-round.js";
import { Sessions } from "./sessions.js";
import type { FederationStore, ModelFiles } from "./store.js";
import { TaskBoard, type TaskProgress } from "./task-board.js";
import { UploadIntake, type UploadLimits } from "./upload-intake.js";

export interface CoordinatorOptions {
  readonly federationId: string;
  readonly plan: Plan;
  readonly model: ModelSpec;
  readonly identity: Identity;
  /** The allowlist at start: only these sites can join, and their keys check what they sign. */
  readonly enrolled: ReadonlyMap<string, PublicIdentity>;
  /** Where enrolments and revocations made while running are kept (the sitesDir); default: nowhere. */
  readonly enrolmentFiles?: EnrolmentFiles;
  readonly store: FederationStore;
  readonly checkpoints: ModelFiles;
  /** Makes the aggregation strategy; a fresh one starts with each phase (its shared tensors differ). */
  readonly createStrategy: () => Strategy;
  readonly bus: EventBus;
  /** The seeded initial weights of a network (every phase's network starts from its own). */
  readonly initialWeights: (spec: ModelSpec) => ModelWeights;
  /** Builds a phase's update pipeline from its plan entries; default: the registered stages. */
  readonly buildPipeline?: (configs: readonly StageConfig[]) => UpdatePipeline;
  readonly maxUpdateBytes: number;
  /** Per-site upload streams: idle and total deadlines, attempts rate. Default: DEFAULT_UPLOAD_LIMITS. */
  readonly uploadLimits?: UploadLimits;
  readonly heartbeatIntervalMs: number;
  /** A site silent for this long is gone and its task fails. */
  readonly heartbeatTimeoutMs: number;
  /** Default: the system clock. */
  readonly clock?: Clock;
  /** Default: random UUIDs. */
  readonly newTaskId?: () => string;
  readonly log?: (line: string) => void;
  readonly onProgress?: (progress: TaskProgress) => void;
  /** The coordinator's own test set, scored next to the federated evaluation; none by default. */
  readonly central?: { readonly evaluator: CentralEvaluator; readonly schedule: CentralSchedule };
}

/**
 * The coordinator of one federation: what every transport calls (`CoordinatorService`), and
 * `run()`, which drives the plan to its end. It composes parts that each own their state: the
 * sessions of the connected sites, the task board of the open round, the intakes of updates
 * and evaluations, the global model, and the round runner.
 */
export class Coordinator implements CoordinatorService {
  private readonly sessions: Sessions;
  private readonly board: TaskBoard;
  private readonly uploads: UploadIntake;
  private readonly evaluations: EvaluationIntake;
  private readonly global: GlobalModel;
  private readonly runner: RoundRunner;
  /** The open round's secure aggregation, when the plan asks for it. */
  private readonly secagg = new SecAggRounds();
  private readonly enrolment: Enrolment;
  private readonly events: FederationEvents;
  private readonly log: (line: string) => void;

  constructor(options: CoordinatorOptions) {
    const clock = options.clock ?? systemClock;
    const log = options.log ?? (() => {});
    const { federationId, store } = options;
    const events = federationEvents({ federationId, bus: options.bus, clock, log });
    this.events = events;
    this.log = log;
    this.enrolment = new Enrolment(options.enrolled, options.enrolmentFiles);
    this.board = new TaskBoard({ clock, log, ...(options.onProgress && { onProgress: options.onProgress }) });
    this.sessions = new Sessions({
      federationId,
      identity: options.identity,
      enrolled: this.enrolment,
      heartbeatTimeoutMs: options.heartbeatTimeoutMs,
      heartbeatIntervalMs: options.heartbeatIntervalMs,
      store,
      board: this.board,
      events,
      clock,
      log,
    });
    this.uploads = new UploadIntake({
      federationId,
      encryptionSecretKey: options.identity.encryption.secretKey,
      enrolled: this.enrolment,
      maxUpdateBytes: options.maxUpdateBytes,
      ...(options.uploadLimits && { limits: options.uploadLimits }),
      declaredTrainingExamples: (siteId) => this.sessions.declaredTrainingExamples(siteId),
      store,
      board: this.board,
      events,
      clock,
      log,
    });
    this.evaluations = new EvaluationIntake({
      numClasses: options.model.numClasses,
      store,
      board: this.board,
      events,
      clock,
      log,
    });
    this.global = new GlobalModel(store, options.checkpoints);
    this.runner = new RoundRunner({
      plan: options.plan,
      model: options.model,
      store,
      global: this.global,
      createStrategy: options.createStrategy,
      initialWeights: options.initialWeights,
      buildPipeline: options.buildPipeline ?? buildPipeline,
      board: this.board,
      sessions: this.sessions,
      uploads: this.uploads,
      secagg: this.secagg,
      evaluations: this.evaluations,
      ...(options.central && {
        central: new CentralEvaluation({
          ...options.central,
          plan: options.plan,
          model: options.model,
          store,
          clock,
          log,
        }),
      }),
      events,
      clock,
      newTaskId: options.newTaskId ?? randomUUID,
      log,
    });
  }

  /** Loads the last committed model (or creates version 0) and runs the remaining plan. */
  run(): Promise<RunResult> {
    return this.runner.run();
  }

  /** Stops waiting; the current round is left uncommitted and will run again after a restart. */
  stop(): void {
    this.runner.stop();
  }

  /** The sites enrolled now, sorted by id. */
  enrolledSites(): PublicIdentity[] {
    return this.enrolment.list();
  }

  /**
   * Enrols a site while the federation runs: it can join at once. The same key again changes
   * nothing (false); another key for an enrolled id is refused (revoke it first).
   */
  enrol(site: PublicIdentity): boolean {
    if (!this.enrolment.add(site)) return false;
    const fingerprint = keyFingerprint(site.signingPublicKey);
    void this.events.publish("site.enrolled", { siteId: site.id, data: { fingerprint } });
    this.log(`${site.id} enrolled (signing key ${fingerprint})`);
    return true;
  }

  /**
   * Revokes a site at once: no more joins, its session ends, its open task fails, and an upload
   * of it in flight is refused. FlError(NotFound) for a site that is not enrolled.
   */
  revoke(siteId: string, reason: string): void {
    this.enrolment.revoke(siteId);
    const why = sanitiseText(reason, MAX_REASON_CHARS) || "revoked by the operator";
    this.uploads.endUploadsOf(
      siteId,
      new FlError(ErrorCode.UnknownSite, `site "${siteId}" was revoked: ${why}`),
    );
    this.sessions.revoked(siteId, why);
    void this.events.publish("site.revoked", { siteId, data: { reason: why } });
    this.log(`${siteId} revoked: ${why}`);
  }

  getChallenge(request: ChallengeRequest & Caller): JoinChallenge {
    return this.sessions.challenge(request);
  }

  join(request: JoinRequest & Caller): JoinGrant {
    return this.sessions.join(request);
  }

  async pullTask(
    call: RequestAuth & Caller,
    waitMs: number,
    signal?: AbortSignal,
  ): Promise<SignedPullOutcome> {
    const siteId = this.sessions.authenticate(call, SessionMethod.PullTask, callBody.pullTask(waitMs));
    const outcome = await this.board.pull(siteId, waitMs, {
      ...(signal && { signal }),
      stillValid: () => this.sessions.checkStillValid(call.sessionToken),
    });
    return this.sessions.signPull(siteId, call, outcome);
  }

  heartbeat(call: RequestAuth & Caller, beat: Heartbeat): SignedHeartbeatAck {
    const siteId = this.sessions.authenticate(call, SessionMethod.Heartbeat, callBody.heartbeat(beat));
    return this.sessions.signHeartbeatAck(call, this.board.heartbeat(siteId, beat));
  }

  model(call: RequestAuth & Caller, version: number): ModelBlob {
    this.sessions.authenticate(call, SessionMethod.DownloadModel, callBody.downloadModel(version));
    return this.global.blob(version);
  }

  beginUpload(
    call: RequestAuth & Caller,
    header: UploadHeader,
    onEnded?: (reason: FlError) => void,
  ): UploadSink {
    const siteId = this.sessions.authenticate(
      call,
      SessionMethod.UploadUpdate,
      callBody.uploadUpdate(header),
    );
    return this.uploads.begin(siteId, header, onEnded);
  }

  reportEvaluation(call: RequestAuth & Caller, report: EvaluationReport): void {
    const siteId = this.sessions.authenticate(
      call,
      SessionMethod.ReportEvaluation,
      callBody.reportEvaluation(report),
    );
    this.evaluations.report(siteId, report);
  }

  leave(call: RequestAuth & Caller, reason: string): void {
    this.sessions.leave(call, reason);
  }

  /**
   * A step of a site's secure aggregation. Only for the site's open training task (its round
   * and task id), like an upload: a message for an earlier task or round is stale and refused.
   */
  async secAggExchange(
    call: RequestAuth & Caller,
    request: SecAggRequest,
    signal?: AbortSignal,
  ): Promise<SignedSecAggAnswer> {
    const siteId = this.sessions.authenticate(
      call,
      SessionMethod.SecAggExchange,
      callBody.secAggExchange(request),
    );
    const posted = this.board.taskOf(siteId);
    if (
      posted?.task.kind !== "train" ||
      posted.task.taskId !== request.taskId ||
      posted.task.round !== request.round ||
      posted.status !== "running"
    )
      throw new FlError(
        ErrorCode.WrongRound,
        `task ${request.taskId} of round ${request.round} is not the open training task of "${siteId}"`,
      );
    const answer = await this.secagg.of(request.round).exchange(siteId, request, signal);
    const mac = this.sessions.answerMac(
      call,
      SessionMethod.SecAggExchange,
      answerBody.secAggExchange(answer),
    );
    return { ...answer, mac };
  }
}
