import type {
  EvaluationReport,
  Heartbeat,
  HeartbeatAck,
  JoinChallenge,
  JoinGrant,
  JoinRequest,
  ModelBlob,
  PullOutcome,
  ReceivedPull,
  SealedUpdate,
  UploadHeader,
  UploadVerdict,
} from "./messages.js";

/**
 * The two ports of the federation protocol, in domain types only. A transport adapter (gRPC, or
 * the in-memory one tests use) implements `CoordinatorPort` for the hospital by calling some
 * `CoordinatorService` on the coordinator's side. Errors are FlErrors with the codes of
 * `shared/src/errors.ts`; adapters map them to and from their wire's status codes in one place.
 */

/** What any transport calls on the coordinator. Every call but `getChallenge` and `join` needs a session. */
export interface CoordinatorService {
  getChallenge(siteId: string): JoinChallenge;
  join(request: JoinRequest): JoinGrant;
  /** Long-poll: resolves with a task as soon as there is one for this site, or after `waitMs`. */
  pullTask(sessionToken: string, waitMs: number, signal?: AbortSignal): Promise<PullOutcome>;
  heartbeat(sessionToken: string, beat: Heartbeat): HeartbeatAck;
  /** The bytes of a model version; FlError(NotFound) for a version that does not exist. */
  model(sessionToken: string, version: number): ModelBlob;
  /**
   * Starts receiving an update. The header is checked at once; a rejection throws FlError
   * (recorded by the coordinator). The sink then takes the chunks in order.
   */
  beginUpload(sessionToken: string, header: UploadHeader): UploadSink;
  reportEvaluation(sessionToken: string, report: EvaluationReport): void;
  /** Idempotent. */
  leave(sessionToken: string, reason: string): void;
}

/** An upload in progress on the coordinator. */
export interface UploadSink {
  /** Throws FlError to reject the upload (the stream is then answered with that verdict). */
  addChunk(index: number, ciphertext: Uint8Array): void;
  /** All chunks are in: verifies and accepts, or throws FlError with the reason to reject. */
  finish(): void;
  /** The stream broke (client gone mid-upload): nothing is recorded and the task stays open. */
  abort(reason: string): void;
}

/** The hospital's port to its coordinator. */
export interface CoordinatorPort {
  getChallenge(siteId: string): Promise<JoinChallenge>;
  join(request: JoinRequest): Promise<JoinGrant>;
  pullTask(sessionToken: string, waitMs: number): Promise<ReceivedPull>;
  heartbeat(sessionToken: string, beat: Heartbeat): Promise<HeartbeatAck>;
  /** Downloads a model version and checks it against the sha256 the task named. */
  downloadModel(sessionToken: string, version: number, expectedSha256: string): Promise<Uint8Array>;
  /** Sends a sealed update; a rejection resolves to a verdict, session errors reject. */
  uploadUpdate(
    sessionToken: string,
    update: SealedUpdate,
    trainMetrics: Readonly<Record<string, number>>,
  ): Promise<UploadVerdict>;
  reportEvaluation(sessionToken: string, report: EvaluationReport): Promise<void>;
  leave(sessionToken: string, reason: string): Promise<void>;
  close(): void;
}
