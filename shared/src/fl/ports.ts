import type { FlError } from "../errors.js";
import type {
  Caller,
  ChallengeRequest,
  EvaluationReport,
  Heartbeat,
  JoinChallenge,
  JoinGrant,
  JoinRequest,
  ModelBlob,
  ReceivedPull,
  RequestAuth,
  SealedUpdate,
  SignedHeartbeatAck,
  SignedPullOutcome,
  UploadHeader,
  UploadVerdict,
} from "./messages.js";
import type { SecAggRequest, SignedSecAggAnswer } from "./secagg-exchange.js";

/**
 * The two ports of the federation protocol, in domain types only. A transport adapter (gRPC, or
 * the in-memory one tests use) implements `CoordinatorPort` for the hospital by calling some
 * `CoordinatorService` on the coordinator's side. Errors are FlErrors with the codes of
 * `shared/src/errors.ts`; adapters map them to and from their wire's status codes in one place.
 */

/**
 * What any transport calls on the coordinator. Every call but `getChallenge` and `join` belongs
 * to a session and carries its `RequestAuth` (session-calls.ts says what its MAC covers); the
 * transport adds what it knows of the caller's channel.
 */
export interface CoordinatorService {
  getChallenge(request: ChallengeRequest & Caller): JoinChallenge;
  join(request: JoinRequest & Caller): JoinGrant;
  /** Long-poll: resolves with a task as soon as there is one for this site, or after `waitMs`. */
  pullTask(call: RequestAuth & Caller, waitMs: number, signal?: AbortSignal): Promise<SignedPullOutcome>;
  heartbeat(call: RequestAuth & Caller, beat: Heartbeat): SignedHeartbeatAck;
  /** The bytes of a model version; FlError(NotFound) for a version that does not exist. */
  model(call: RequestAuth & Caller, version: number): ModelBlob;
  /**
   * Starts receiving an update. The header is checked at once; a rejection throws FlError
   * (recorded by the coordinator). The sink then takes the chunks in order. When the coordinator
   * ends the upload itself (a chunk overdue, the upload's deadline, its round closed), it calls
   * `onEnded` once with the reason, so that the transport can answer the stream.
   */
  beginUpload(
    call: RequestAuth & Caller,
    header: UploadHeader,
    onEnded?: (reason: FlError) => void,
  ): UploadSink;
  reportEvaluation(call: RequestAuth & Caller, report: EvaluationReport): void;
  /** Idempotent: a session already gone is no error. */
  leave(call: RequestAuth & Caller, reason: string): void;
  /**
   * One step of the site's secure-aggregation session for its open training task: takes its
   * stage message (if any) and resolves with the next message for it, or "wait" after `waitMs`.
   * Absent from services that run no secure aggregation (test doubles).
   */
  secAggExchange?(
    call: RequestAuth & Caller,
    request: SecAggRequest,
    signal?: AbortSignal,
  ): Promise<SignedSecAggAnswer>;
}

/** An upload in progress on the coordinator. */
export interface UploadSink {
  /**
   * Takes the chunk over (its buffer may move to another thread: the caller must not reuse it).
   * Throws FlError to reject the upload (the stream is then answered with that verdict); a chunk
   * that fails to open is reported late, at a later chunk, at finish, or through beginUpload's
   * onEnded.
   */
  addChunk(index: number, ciphertext: Uint8Array): void;
  /** All chunks are in: verifies and accepts, or rejects with FlError giving the reason. */
  finish(): Promise<void>;
  /** The stream broke (client gone mid-upload): nothing is recorded and the task stays open. */
  abort(reason: string): void;
}

/**
 * The hospital's port to its coordinator: it carries calls, and authenticates nothing itself
 * (the site's session does, client/src/session.ts).
 */
export interface CoordinatorPort {
  /**
   * Hex SHA-256 of the TLS client certificate this port presents, "" without one: what the
   * coordinator sees of the channel, so the site signs it into its join.
   */
  readonly channelBinding: string;
  getChallenge(request: ChallengeRequest): Promise<JoinChallenge>;
  join(request: JoinRequest): Promise<JoinGrant>;
  pullTask(auth: RequestAuth, waitMs: number): Promise<ReceivedPull>;
  heartbeat(auth: RequestAuth, beat: Heartbeat): Promise<SignedHeartbeatAck>;
  /** Downloads a model version and checks it against the sha256 the (signed) task named. */
  downloadModel(auth: RequestAuth, version: number, expectedSha256: string): Promise<Uint8Array>;
  /** Sends a sealed update; a rejection resolves to a verdict, session errors reject. */
  uploadUpdate(
    auth: RequestAuth,
    update: SealedUpdate,
    trainMetrics: Readonly<Record<string, number>>,
  ): Promise<UploadVerdict>;
  reportEvaluation(auth: RequestAuth, report: EvaluationReport): Promise<void>;
  leave(auth: RequestAuth, reason: string): Promise<void>;
  /** Absent from transports that cannot carry secure aggregation (test doubles). */
  secAggExchange?(auth: RequestAuth, request: SecAggRequest): Promise<SignedSecAggAnswer>;
  close(): void;
}
