import { type PublicIdentity, sharedKey } from "../../../shared/src/crypto/index.js";
import { ErrorCode, errorMessage, FlError, isFlError } from "../../../shared/src/errors.js";
import { checkManifestFields, checkMetrics, INTERNAL_ERROR_MESSAGE } from "../../../shared/src/fl/limits.js";
import type { UploadHeader } from "../../../shared/src/fl/messages.js";
import type { StageContext, UpdateDraft, UpdateStage } from "../../../shared/src/fl/pipeline.js";
import type { UploadSink } from "../../../shared/src/fl/ports.js";
import { maskedPayloadBounds } from "../../../shared/src/fl/secagg-exchange.js";
import { weightedAverage } from "../../../shared/src/metrics/index.js";
import { assertFinite, assertSameManifest } from "../../../shared/src/weights/index.js";
import type { ModelWeights, WeightsManifest } from "../../../shared/src/weights/types.js";
import type { UpdateRecord } from "../store/records.js";
import type { RoundAggregation } from "../strategy/strategy.js";
import type { Cancel, Clock } from "./clock.js";
import type { EnrolledSites } from "./enrolment.js";
import type { FederationEvents } from "./events.js";
import { type OpeningPool, openingPool } from "./opening-pool.js";
import type { SecAggRound } from "./secagg-round.js";
import type { FederationStore } from "./store.js";
import type { PostedTask, TaskBoard } from "./task-board.js";
import {
  checkUploadHeader,
  checkUploadSignature,
  type UpdateSize,
  UploadAssembler,
  updateSizeOf,
} from "./upload-verifier.js";

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
  /**
   * Secure aggregation: each update is a masked input that folds into this round's secure sum
   * instead of the strategy (which then sees only the unmasked mean), and its task ends with
   * the sum, not with the upload.
   */
  readonly secagg?: SecAggRound;
}

/**
 * What one site may hold open. A site has at most one open task, so one upload in flight per site
 * and task is also one per site; the attempts bucket bounds how fast it may open new ones.
 */
export interface UploadLimits {
  /** Longest wait for an upload's next chunk. */
  readonly idleTimeoutMs: number;
  /** Longest an upload may take from its header to its last chunk. */
  readonly deadlineMs: number;
  /** Upload attempts a site may make back to back (the token bucket's size). */
  readonly burst: number;
  /** Attempts per minute the bucket refills by. */
  readonly attemptsPerMinute: number;
}

/** An honest site uploads once per round, and again after a broken stream: generous for it. */
export const DEFAULT_UPLOAD_LIMITS: UploadLimits = {
  idleTimeoutMs: 60_000,
  deadlineMs: 30 * 60_000,
  burst: 10,
  attemptsPerMinute: 60,
};

export interface UploadIntakeOptions {
  readonly federationId: string;
  /** The coordinator's encryption key pair opens the sites' updates. */
  readonly encryptionSecretKey: Uint8Array;
  readonly enrolled: EnrolledSites;
  readonly maxUpdateBytes: number;
  readonly limits?: UploadLimits;
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
  /** Where chunks are decrypted; default: the process's shared pool. */
  readonly openingPool?: OpeningPool;
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
  private current:
    | {
        readonly training: TrainingRound;
        readonly metrics: TrainMetricsItem[];
        readonly size: UpdateSize;
      }
    | undefined;
  /** Uploads between their header and their verdict, by site and task. */
  private readonly inFlight = new Map<string, InFlight>();
  private readonly buckets = new Map<string, Bucket>();
  private readonly limits: UploadLimits;

  constructor(private readonly options: UploadIntakeOptions) {
    this.limits = options.limits ?? DEFAULT_UPLOAD_LIMITS;
  }

  open(training: TrainingRound): void {
    const size = training.secagg
      ? maskedSize(training.secagg.params.vectorLength)
      : updateSizeOf(training.sharedManifest);
    this.current = { training, metrics: [], size };
  }

  /**
   * Closes the round; returns the accepted updates' training metrics, weighted by examples.
   * Uploads still in flight end here and free what they hold: none of them can count any more.
   */
  close(): Record<string, number> {
    const current = this.current;
    this.current = undefined;
    for (const upload of [...this.inFlight.values()])
      upload.end(
        new FlError(
          ErrorCode.WrongRound,
          `round ${current?.training.round ?? "?"} closed before the upload finished`,
        ),
      );
    return weightedAverage(current?.metrics ?? []);
  }

  /** Ends every upload of a site in flight (it was revoked): none of them can count. */
  endUploadsOf(siteId: string, reason: FlError): void {
    for (const upload of [...this.inFlight.values()]) if (upload.siteId === siteId) upload.end(reason);
  }

  /**
   * Starts receiving an update from a site; throws FlError (recorded once the header is verified)
   * when the header is refused. `onEnded` hears of an upload the intake ends by itself.
   */
  begin(siteId: string, header: UploadHeader, onEnded?: (reason: FlError) => void): UploadSink {
    const { manifest } = header;
    const signer = this.options.enrolled.get(siteId);
    if (!signer) throw new FlError(ErrorCode.UnknownSite, `site "${siteId}" is not enrolled`);
    this.takeAttempt(siteId);
    checkManifestFields(manifest);
    try {
      checkUploadSignature(manifest, header.signature, signer, siteId);
    } catch (error) {
      return this.refuseUnverified(siteId, FlError.from(error));
    }
    // Only now, signed by the session's own site, may the header claim its upload id: the id is
    // that site's, so another site reusing it touches nothing of this one's.
    if (this.isClaimed(siteId, manifest.uploadId)) {
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
    const busy = this.inFlight.get(inFlightKey(siteId, manifest.taskId));
    if (busy)
      throw new FlError(
        ErrorCode.RateLimited,
        `site "${siteId}" already has upload ${busy.uploadId} in progress for task ${manifest.taskId}; wait for its verdict before sending another`,
      );
    const current = this.current;
    const training = current?.training;
    const reject = (error: unknown): never => {
      const flError = this.wireError(error, siteId);
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
        ...(current && { size: current.size }),
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
    return this.receive(siteId, signer, header, target, reject, onEnded);
  }

  private receive(
    siteId: string,
    signer: PublicIdentity,
    header: UploadHeader,
    target: Target,
    reject: (error: unknown) => never,
    onEnded: ((reason: FlError) => void) | undefined,
  ): UploadSink {
    const { manifest } = header;
    const { round, posted, training } = target;
    const { clock } = this.options;
    const { idleTimeoutMs, deadlineMs } = this.limits;
    // The buffer (on an opening thread) is the only memory an upload reserves; every way out of
    // the upload drops it.
    const opening = (this.options.openingPool ?? openingPool).open({
      key: sharedKey(this.options.encryptionSecretKey, signer.encryptionPublicKey),
      noncePrefix: manifest.noncePrefix,
      plaintextBytes: manifest.plaintextBytes,
      onFailure: (error) => failLate(error),
    });
    let assembler: UploadAssembler | undefined = new UploadAssembler(
      manifest,
      opening,
      training.sharedManifest,
    );
    const key = inFlightKey(siteId, manifest.taskId);
    let cancelIdle: Cancel = () => {};
    const detach = (): UploadAssembler | undefined => {
      const held = assembler;
      assembler = undefined;
      cancelIdle();
      cancelDeadline();
      return held;
    };
    const unclaim = () => {
      if (this.inFlight.get(key) === upload) this.inFlight.delete(key);
    };
    const release = (): UploadAssembler | undefined => {
      const held = detach();
      unclaim();
      return held;
    };
    // Between its last chunk and its verdict an upload still holds its id and its task's slot.
    let verifying = false;
    // Ended by the coordinator: like a broken stream, nothing is recorded and the task stays open.
    let endedBy: FlError | undefined;
    const end = (reason: FlError): void => {
      if (verifying) {
        endedBy ??= reason;
        return;
      }
      const held = release();
      if (!held) return;
      held.drop();
      endedBy = reason;
      this.options.log(`round ${round}: upload from ${siteId} ended: ${reason.code}: ${reason.message}`);
      onEnded?.(reason);
    };
    // A chunk that failed to open on the thread: the verdict is recorded now, and the stream is
    // answered with it (the next chunk, or the end, hears it where the transport has no onEnded).
    const failLate = (error: FlError): void => {
      const held = release();
      if (!held) return;
      held.drop();
      try {
        reject(error);
      } catch (verdict) {
        endedBy = FlError.from(verdict);
      }
      if (endedBy) onEnded?.(endedBy);
    };
    const upload: InFlight = { siteId, uploadId: manifest.uploadId, end };
    this.inFlight.set(key, upload);
    const cancelDeadline = clock.after(deadlineMs, () =>
      end(
        new FlError(
          ErrorCode.Timeout,
          `the upload took longer than ${deadlineMs / 1000} s (limits.uploadDeadlineSec); send it again`,
        ),
      ),
    );
    const armIdle = () => {
      cancelIdle();
      cancelIdle = clock.after(idleTimeoutMs, () =>
        end(
          new FlError(
            ErrorCode.Timeout,
            `no chunk arrived for ${idleTimeoutMs / 1000} s (limits.uploadIdleTimeoutSec); send the upload again`,
          ),
        ),
      );
    };
    armIdle();
    const closed = () => endedBy ?? new FlError(ErrorCode.FailedPrecondition, "upload already closed");
    const roundGone = () =>
      this.current?.training !== training || posted.status === "done" || posted.status === "failed";
    // The round may have closed, or the site been revoked, while the last chunks opened.
    const stillOpen = () => {
      if (endedBy) {
        onEnded?.(endedBy);
        throw endedBy;
      }
      if (roundGone())
        reject(new FlError(ErrorCode.WrongRound, `round ${round} closed before the upload finished`));
    };
    const verify = async (complete: UploadAssembler): Promise<void> => {
      if (roundGone()) {
        complete.drop();
        reject(new FlError(ErrorCode.WrongRound, `round ${round} closed before the upload finished`));
      }
      if (!complete.isComplete()) {
        complete.drop();
        // A stream that ends early is a broken connection, not a bad update: the site may retry.
        this.options.log(`round ${round}: upload from ${siteId} ended early; the task stays open`);
        throw new FlError(
          ErrorCode.InvalidArgument,
          "the upload ended before all announced chunks arrived; send it again",
        );
      }
      if (training.secagg) {
        let plaintext: Uint8Array;
        try {
          plaintext = await complete.finishBytes();
        } catch (error) {
          return reject(error);
        }
        stillOpen();
        return this.acceptMasked(siteId, header, plaintext, training, training.secagg, reject);
      }
      let delta: ModelWeights;
      try {
        delta = await complete.finish();
      } catch (error) {
        return reject(error);
      }
      stillOpen();
      let update: UpdateDraft;
      try {
        update = runCoordinatorStages(
          training.stages,
          { delta, numExamples: manifest.numExamples, metrics: header.trainMetrics },
          { siteId, round, phase: training.phase },
          training.sharedManifest,
        );
      } catch (error) {
        return reject(error);
      }
      this.accept(siteId, header, update, training, reject);
    };
    return {
      addChunk: (index, ciphertext) => {
        if (!assembler) throw closed();
        try {
          assembler.addChunk(index, ciphertext);
        } catch (error) {
          release()?.drop();
          reject(error);
        }
        armIdle();
      },
      finish: async () => {
        const complete = detach();
        if (!complete) throw closed();
        verifying = true;
        try {
          await verify(complete);
        } finally {
          verifying = false;
          unclaim();
        }
      },
      abort: (reason) => {
        const held = release();
        if (!held) return;
        held.drop();
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

  /**
   * The accepted row and the fold into the aggregate happen together or not at all (one store
   * transaction around the fold), so a round never counts an update it has no row for.
   */
  private accept(
    siteId: string,
    header: UploadHeader,
    update: UpdateDraft,
    training: TrainingRound,
    reject: (error: unknown) => never,
  ): void {
    const { manifest } = header;
    const trainMetrics = { ...update.metrics };
    try {
      this.record(
        header,
        siteId,
        { round: training.round, attempt: training.attempt, status: "accepted", reason: null, trainMetrics },
        () =>
          training.aggregation.accept({
            siteId,
            delta: update.delta.values,
            numExamples: update.numExamples,
          }),
      );
    } catch (error) {
      // The strategy's refusal is a verdict on the update; a store failure is the coordinator's.
      if (isFlError(error) && error.code !== ErrorCode.Internal) reject(error);
      throw this.wireError(error, siteId);
    }
    this.current?.metrics.push({ weight: update.numExamples, metrics: trainMetrics });
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
   * A masked input: the coordinator can check its signature, size and staleness but not its
   * values (they are uniformly random to it), so it folds it into the secure sum as it is.
   */
  private acceptMasked(
    siteId: string,
    header: UploadHeader,
    plaintext: Uint8Array,
    training: TrainingRound,
    secagg: SecAggRound,
    reject: (error: unknown) => never,
  ): void {
    const { manifest } = header;
    const trainMetrics = { ...header.trainMetrics };
    try {
      this.record(
        header,
        siteId,
        { round: training.round, attempt: training.attempt, status: "accepted", reason: null, trainMetrics },
        () => secagg.submitMasked(siteId, plaintext),
      );
    } catch (error) {
      if (isFlError(error) && error.code !== ErrorCode.Internal) reject(error);
      throw this.wireError(error, siteId);
    }
    this.current?.metrics.push({ weight: manifest.numExamples, metrics: trainMetrics });
    void this.options.events.publish("update.accepted", {
      round: training.round,
      siteId,
      data: { numExamples: manifest.numExamples, bytes: manifest.plaintextBytes, trainMetrics, masked: 1 },
    });
    this.options.log(`round ${training.round}: masked input from ${siteId} folded into the secure sum`);
  }

  /**
   * An internal failure's text (a SQLite message, a stack) stays in the coordinator's log; the
   * site is told only that it happened.
   */
  private wireError(error: unknown, siteId: string): FlError {
    const flError = FlError.from(error);
    if (flError.code !== ErrorCode.Internal) return flError;
    this.options.log(`upload from ${siteId} failed inside the coordinator: ${errorMessage(error)}`);
    return new FlError(ErrorCode.Internal, INTERNAL_ERROR_MESSAGE);
  }

  /**
   * A token bucket per site, one token per upload attempt, taken before any of the attempt is
   * looked at. Kept as the time the bucket will be full again (GCRA), so it needs no timer.
   */
  private takeAttempt(siteId: string): void {
    const { burst, attemptsPerMinute } = this.limits;
    const now = this.options.clock.now();
    const interval = 60_000 / attemptsPerMinute;
    const bucket = this.buckets.get(siteId) ?? { fullAtMs: now, warned: false };
    this.buckets.set(siteId, bucket);
    const fullAtMs = Math.max(bucket.fullAtMs, now);
    const waitMs = fullAtMs - now - (burst - 1) * interval;
    if (waitMs <= 0) {
      bucket.fullAtMs = fullAtMs + interval;
      bucket.warned = false;
      return;
    }
    // One log line per dry spell: a flood of attempts must not become a flood of lines.
    if (!bucket.warned) this.options.log(`upload attempts from ${siteId} refused: over the rate limit`);
    bucket.warned = true;
    throw new FlError(
      ErrorCode.RateLimited,
      `site "${siteId}" made more than ${burst} upload attempts in a row (${attemptsPerMinute} per minute allowed); retry in ${Math.ceil(waitMs / 1000)} s`,
    );
  }

  /** A site's upload id is taken once its signed header is in flight or recorded. */
  private isClaimed(siteId: string, uploadId: string): boolean {
    for (const upload of this.inFlight.values())
      if (upload.siteId === siteId && upload.uploadId === uploadId) return true;
    return this.options.store.hasUpload(siteId, uploadId);
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

  /** A verified upload that is refused: recorded under the site's upload id, with the reason. */
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
    if (this.options.store.hasUpload(siteId, manifest.uploadId)) return;
    try {
      this.record(header, siteId, {
        round: manifest.round,
        attempt,
        status: "rejected",
        reason: `${error.code}: ${error.message}`,
        trainMetrics: {},
      });
    } catch (storeError) {
      // The verdict stands without its row; the failure is the coordinator's to look into.
      this.options.log(`could not record the rejected upload from ${siteId}: ${errorMessage(storeError)}`);
    }
  }

  /** Records an upload under the session's site (never the site a manifest merely claims). */
  private record(
    header: UploadHeader,
    siteId: string,
    outcome: Pick<UpdateRecord, "round" | "attempt" | "status" | "reason" | "trainMetrics">,
    within?: () => void,
  ): void {
    const { manifest } = header;
    this.options.store.recordUpdate(
      {
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
      },
      within,
    );
  }
}

/** An upload between its header and its verdict. */
interface InFlight {
  readonly siteId: string;
  readonly uploadId: string;
  /** Ends it from the coordinator's side: frees its buffer and tells the transport why. */
  end(reason: FlError): void;
}

interface Bucket {
  /** When every token is back; each attempt moves it one interval on. */
  fullAtMs: number;
  warned: boolean;
}

/** A masked payload's sizes, as UpdateSize (its header is JSON of bounded length). */
function maskedSize(vectorLength: number): UpdateSize {
  const { min, max } = maskedPayloadBounds(vectorLength);
  return { canonical: min, min, max };
}

function inFlightKey(siteId: string, taskId: string): string {
  return JSON.stringify([siteId, taskId]);
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
