import { type PublicIdentity, sharedKey } from "../../../shared/src/crypto/index.js";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import { checkManifestStrings, checkMetrics } from "../../../shared/src/fl/limits.js";
import type { UploadHeader } from "../../../shared/src/fl/messages.js";
import type { StageContext, UpdateDraft, UpdateStage } from "../../../shared/src/fl/pipeline.js";
import type { UploadSink } from "../../../shared/src/fl/ports.js";
import { weightedAverage } from "../../../shared/src/metrics/index.js";
import { assertFinite, assertSameManifest } from "../../../shared/src/weights/index.js";
import type { WeightsManifest } from "../../../shared/src/weights/types.js";
import type { UpdateRecord } from "../store/records.js";
import type { RoundAggregation } from "../strategy/strategy.js";
import type { Clock } from "./clock.js";
import type { FederationEvents } from "./events.js";
import type { FederationStore } from "./store.js";
import type { PostedTask, TaskBoard } from "./task-board.js";
import { checkUploadHeader, checkUploadSignature, UploadAssembler } from "./upload-verifier.js";

/** The training round that uploads are taken for. */
export interface TrainingRound {
  readonly round: number;
  readonly attempt: number;
  readonly phase: string;
  readonly aggregation: RoundAggregation;
  /** The tensors an update must contain: the phase's shared ones. */
  readonly sharedManifest: WeightsManifest;
  /** The phase's coordinator stages, run on each verified update before the strategy. */
  readonly stages: readonly UpdateStage[];
}

export interface UploadIntakeOptions {
  readonly federationId: string;
  /** The coordinator's encryption key pair opens the sites' updates. */
  readonly encryptionSecretKey: Uint8Array;
  readonly enrolled: ReadonlyMap<string, PublicIdentity>;
  readonly maxUpdateBytes: number;
  /**
   * The training examples a site declared at join, or undefined when it declared none. An update
   * claims its FedAvg weight through `numExamples`, so it may claim no more than this.
   */
  readonly declaredTrainingExamples: (siteId: string) => number | undefined;
  readonly store: Pick<FederationStore, "hasUpload" | "recordUpdate">;
  readonly board: TaskBoard;
  readonly events: FederationEvents;
  readonly clock: Clock;
  readonly log: (line: string) => void;
}

/** What an upload is for once its header matched the site's open task. */
interface Target {
  readonly round: number;
  readonly modelVersion: number;
  readonly taskId: string;
  readonly posted: PostedTask;
  readonly training: TrainingRound;
}

/**
 * Takes sites' updates for the open training round: the signed header is checked once, before
 * any chunk is read; chunks are decrypted in order into one buffer; the payload is verified
 * (hash, tensor layout, finiteness), passes the phase's coordinator stages and is folded into
 * the strategy's aggregate. Every rejection is recorded with its error code as the reason; an
 * authentic but invalid update ends that site's task so the round need not wait for it.
 */
export class UploadIntake {
  private current: { readonly training: TrainingRound; readonly metrics: TrainMetricsItem[] } | undefined;

  constructor(private readonly options: UploadIntakeOptions) {}

  open(training: TrainingRound): void {
    this.current = { training, metrics: [] };
  }

  /** Closes the round; returns the accepted updates' training metrics, weighted by examples. */
  close(): Record<string, number> {
    const metrics = this.current?.metrics ?? [];
    this.current = undefined;
    return weightedAverage(metrics);
  }

  /** Starts receiving an update from a site; throws FlError (recorded) when the header is refused. */
  begin(siteId: string, header: UploadHeader): UploadSink {
    const { manifest } = header;
    const signer = this.options.enrolled.get(siteId);
    if (!signer) throw new FlError(ErrorCode.UnknownSite, `site "${siteId}" is not enrolled`);
    checkManifestStrings(manifest);
    try {
      checkUploadSignature(manifest, header.signature, signer, siteId);
    } catch (error) {
      return this.refuseUnverified(siteId, FlError.from(error));
    }
    if (this.options.store.hasUpload(manifest.uploadId)) {
      void this.options.events.publish("update.rejected", {
        round: manifest.round,
        siteId,
        data: { code: ErrorCode.Replay, uploadId: manifest.uploadId },
      });
      throw new FlError(
        ErrorCode.Replay,
        `upload ${manifest.uploadId} was already received: replays are refused`,
      );
    }
    const training = this.current?.training;
    const reject = (error: unknown): never => {
      const flError = FlError.from(error);
      this.recordRejection(siteId, header, flError, training?.attempt ?? 0);
      throw flError;
    };
    let target: Target;
    try {
      target = checkUploadHeader(manifest, {
        federationId: this.options.federationId,
        siteId,
        maxUpdateBytes: this.options.maxUpdateBytes,
        task: training && this.targetOf(siteId, training),
      });
      checkMetrics("training metrics", header.trainMetrics);
      checkClaimedExamples(siteId, manifest.numExamples, this.options.declaredTrainingExamples(siteId));
    } catch (error) {
      return reject(error);
    }
    if (target.posted.status === "done")
      reject(
        new FlError(
          ErrorCode.Replay,
          `site "${siteId}" already delivered its update for round ${target.round}`,
        ),
      );
    if (target.posted.status === "failed")
      reject(
        new FlError(
          ErrorCode.WrongRound,
          `the task of "${siteId}" in round ${target.round} already failed (deadline or disconnect)`,
        ),
      );
    return this.receive(siteId, signer, header, target, reject);
  }

  private receive(
    siteId: string,
    signer: PublicIdentity,
    header: UploadHeader,
    target: Target,
    reject: (error: unknown) => never,
  ): UploadSink {
    const { manifest } = header;
    const { round, posted, training } = target;
    const assembler = new UploadAssembler(
      manifest,
      sharedKey(this.options.encryptionSecretKey, signer.encryptionPublicKey),
      training.sharedManifest,
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
        if (this.current?.training !== training || posted.status === "done" || posted.status === "failed")
          reject(new FlError(ErrorCode.WrongRound, `round ${round} closed before the upload finished`));
        if (!assembler.isComplete()) {
          // A stream that ends early is a broken connection, not a bad update: the site may retry.
          this.options.log(`round ${round}: upload from ${siteId} ended early; the task stays open`);
          throw new FlError(
            ErrorCode.InvalidArgument,
            "the upload ended before all announced chunks arrived; send it again",
          );
        }
        let update: UpdateDraft;
        try {
          update = runCoordinatorStages(
            training.stages,
            { delta: assembler.finish(), numExamples: manifest.numExamples, metrics: header.trainMetrics },
            { siteId, round, phase: training.phase },
            training.sharedManifest,
          );
          training.aggregation.accept({
            siteId,
            delta: update.delta.values,
            numExamples: update.numExamples,
          });
        } catch (error) {
          return reject(error);
        }
        this.accepted(siteId, header, update, training);
      },
      abort: (reason) => {
        if (closed) return;
        closed = true;
        this.options.log(
          `round ${round}: upload from ${siteId} broke off (${reason}); the task stays open until the deadline`,
        );
      },
    };
  }

  /** The site's open training task, when the board has one for this round. */
  private targetOf(siteId: string, training: TrainingRound): Target | undefined {
    const posted = this.options.board.taskOf(siteId);
    if (posted?.task.kind !== "train" || posted.task.round !== training.round) return undefined;
    const { round, modelVersion, taskId } = posted.task;
    return { round, modelVersion, taskId, posted, training };
  }

  private accepted(siteId: string, header: UploadHeader, update: UpdateDraft, training: TrainingRound): void {
    const { manifest } = header;
    const trainMetrics = { ...update.metrics };
    this.current?.metrics.push({ weight: update.numExamples, metrics: trainMetrics });
    this.record(header, siteId, {
      round: training.round,
      attempt: training.attempt,
      status: "accepted",
      reason: null,
      trainMetrics,
    });
    void this.options.events.publish("update.accepted", {
      round: training.round,
      siteId,
      data: { numExamples: manifest.numExamples, bytes: manifest.plaintextBytes, trainMetrics },
    });
    this.options.log(
      `round ${training.round}: accepted update from ${siteId} (${manifest.numExamples} examples)`,
    );
    this.options.board.complete(siteId);
  }

  /**
   * A manifest that is not the session's site's own (another site's, or a forgery): counted in
   * the log and an event, but none of its fields are believed or stored, so it cannot occupy the
   * upload id it claims nor touch the site's task.
   */
  private refuseUnverified(siteId: string, error: FlError): never {
    this.options.log(`unverifiable update from ${siteId} refused: ${error.code}`);
    void this.options.events.publish("update.rejected", { siteId, data: { code: error.code } });
    throw error;
  }

  /** A verified upload that is refused: recorded under its upload id, with the reason. */
  private recordRejection(siteId: string, header: UploadHeader, error: FlError, attempt: number): void {
    const { manifest } = header;
    this.options.log(
      `update from ${siteId} for round ${manifest.round} rejected: ${error.code}: ${error.message}`,
    );
    // A signed update for the site's current task that fails verification ends that task, so the
    // round does not wait for it until the deadline. Stale uploads leave it open.
    if (!STALE.has(error.code) && this.options.board.taskOf(siteId)?.task.taskId === manifest.taskId)
      this.options.board.fail(siteId, `update rejected: ${error.code}: ${error.message}`);
    void this.options.events.publish("update.rejected", {
      round: manifest.round,
      siteId,
      data: { code: error.code, message: error.message },
    });
    if (this.options.store.hasUpload(manifest.uploadId)) return;
    this.record(header, siteId, {
      round: manifest.round,
      attempt,
      status: "rejected",
      reason: `${error.code}: ${error.message}`,
      trainMetrics: {},
    });
  }

  /** Records an upload under the session's site (never the site a manifest merely claims). */
  private record(
    header: UploadHeader,
    siteId: string,
    outcome: Pick<UpdateRecord, "round" | "attempt" | "status" | "reason" | "trainMetrics">,
  ): void {
    const { manifest } = header;
    this.options.store.recordUpdate({
      signed: { manifest, signature: header.signature },
      ...outcome,
      uploadId: manifest.uploadId,
      siteId,
      taskId: manifest.taskId,
      modelVersion: manifest.modelVersion,
      contentSha256: manifest.contentSha256,
      numExamples: manifest.numExamples,
      plaintextBytes: manifest.plaintextBytes,
      receivedAtMs: this.options.clock.now(),
    });
  }
}

interface TrainMetricsItem {
  readonly weight: number;
  readonly metrics: Readonly<Record<string, number>>;
}

/** Rejections of a signed upload that do not show the site's current task to be bad: stale ones. */
const STALE: ReadonlySet<string> = new Set([ErrorCode.Replay, ErrorCode.WrongRound]);

/**
 * A site's weight in the mean is its self-reported example count; without a cap one site could
 * claim 2^53 examples and outweigh the rest. Its own training-set size, declared at join, bounds
 * what it can honestly report.
 */
function checkClaimedExamples(siteId: string, claimed: number, declared: number | undefined): void {
  if (declared === undefined)
    throw new FlError(
      ErrorCode.InvalidArgument,
      `update of "${siteId}" reports ${claimed} training examples, but the site declared no training set at join`,
    );
  if (claimed > declared)
    throw new FlError(
      ErrorCode.InvalidArgument,
      `update of "${siteId}" reports ${claimed} training examples, more than the ${declared} it declared at join`,
    );
}

/**
 * Runs the coordinator stages; a refusal names the stage. What a stage hands on must still be a
 * finite update of the shared tensors, or the strategy would fold in garbage.
 */
function runCoordinatorStages(
  stages: readonly UpdateStage[],
  update: UpdateDraft,
  context: StageContext,
  sharedManifest: WeightsManifest,
): UpdateDraft {
  let draft = update;
  for (const stage of stages) {
    try {
      draft = stage.apply(draft, context);
    } catch (error) {
      const flError = FlError.from(error);
      throw new FlError(flError.code, `pipeline stage ${stage.name}: ${flError.message}`, { cause: error });
    }
  }
  if (draft.delta !== update.delta) {
    assertSameManifest(sharedManifest, draft.delta.manifest);
    assertFinite(draft.delta);
  }
  return draft;
}
