import type { UpdateManifest } from "../crypto/index.js";
import type { SignedTaskFields } from "../crypto/session-auth.js";
import type { EvaluationStatistics } from "../metrics/evaluation-statistics.js";
import type { FlTask } from "./task.js";

/**
 * The messages of the federation protocol in domain terms: what the ports exchange. The gRPC
 * adapters translate them to and from the generated protobuf types; nothing else sees those.
 */

/** A site asks for a challenge with a fresh nonce of its own, which the coordinator signs. */
export interface ChallengeRequest {
  readonly siteId: string;
  readonly clientNonce: Uint8Array;
}

/** A fresh challenge a site signs to join. */
export interface JoinChallenge {
  readonly challenge: Uint8Array;
  readonly federationId: string;
  readonly expiresAtMs: number;
  /** The coordinator's Ed25519 signature over `challengeMessage` (with the site's nonce). */
  readonly coordinatorSignature: Uint8Array;
}

/**
 * What a transport knows of the caller, added on the coordinator's side: the hex SHA-256 of the
 * TLS client certificate of the connection, absent or "" without one.
 */
export interface Caller {
  readonly channelBinding?: string;
}

/** What a hospital says about itself when it joins (counts only, never data). */
export interface SiteInfo {
  readonly trainClassCounts: readonly number[];
  /** Training images without a label (self-supervised phases learn from them too). */
  readonly trainUnlabelledCount: number;
  readonly validationCount: number;
  readonly testCount: number;
  readonly backend: string;
  readonly clientVersion: string;
}

export interface JoinRequest {
  readonly siteId: string;
  readonly challenge: Uint8Array;
  /** The site's Ed25519 signature over `joinMessage` (federation id, site id, challenge, channel). */
  readonly signature: Uint8Array;
  /** Absent when a client sends nothing about itself. */
  readonly info?: SiteInfo;
}

export interface JoinGrant {
  readonly sessionToken: string;
  readonly federationId: string;
  readonly coordinatorEncryptionPublicKey: Uint8Array;
  readonly coordinatorSigningPublicKey: Uint8Array;
  /** How often a working client should heartbeat. */
  readonly heartbeatIntervalMs: number;
  /** The coordinator's Ed25519 signature over `grantMessage`. */
  readonly coordinatorSignature: Uint8Array;
}

/** What authenticates one call of a session: its token, a sequence number used once, and a MAC. */
export interface RequestAuth {
  readonly sessionToken: string;
  readonly sequence: number;
  /** `requestMac` under the session key over the method, the sequence and the call's body. */
  readonly mac: Uint8Array;
}

/** The answer to a long-poll for work. */
export type PullOutcome =
  | { readonly kind: "task"; readonly task: FlTask }
  | { readonly kind: "wait"; readonly retryAfterMs: number; readonly reason: string }
  | { readonly kind: "done"; readonly reason: string };

/** A pull's outcome as it leaves the coordinator: tasks and the end are signed by it. */
export type SignedPullOutcome =
  | { readonly kind: "task"; readonly task: FlTask; readonly signature: Uint8Array }
  | Extract<PullOutcome, { kind: "wait" }>
  | { readonly kind: "done"; readonly reason: string; readonly signature: Uint8Array };

/**
 * What a hospital's transport makes of a pull: the coordinator's outcome, or a task that arrived
 * but does not parse (reported back as a failure, so the round need not wait for its deadline).
 * A task keeps the fields exactly as they came, so that the site checks the coordinator's
 * signature over the very bytes it parsed.
 */
export type ReceivedPull =
  | {
      readonly kind: "task";
      readonly task: FlTask;
      readonly signed: SignedTaskFields;
      readonly signature: Uint8Array;
    }
  | Extract<SignedPullOutcome, { kind: "wait" | "done" }>
  | {
      readonly kind: "unrunnable";
      readonly taskId: string;
      readonly round: number;
      readonly reason: string;
      readonly signed: SignedTaskFields;
      readonly signature: Uint8Array;
    };

/** Liveness and progress of a running task. */
export interface Heartbeat {
  readonly taskId: string;
  /** 0…1. */
  readonly progress: number;
  readonly status: string;
  /** Non-empty: the site gives up on the task, for this reason. */
  readonly failure?: string;
}

export interface HeartbeatAck {
  /** False when the task is no longer open for this site (finished, failed, or another round). */
  readonly taskActive: boolean;
}

/** A heartbeat's answer as it leaves the coordinator: a cancellation cannot be forged. */
export interface SignedHeartbeatAck extends HeartbeatAck {
  /** `responseMac` under the session key over the answer, for the heartbeat's sequence number. */
  readonly mac: Uint8Array;
}

/** A sealed update: signed manifest, then the encrypted chunks of the serialised delta. */
export interface SealedUpdate {
  readonly manifest: UpdateManifest;
  readonly signature: Uint8Array;
  /** Ciphertexts in order; chunk i is sealed under nonce (noncePrefix || i). */
  readonly chunks: readonly Uint8Array[];
}

/** What comes before an update's chunks. */
export interface UploadHeader {
  readonly manifest: UpdateManifest;
  readonly signature: Uint8Array;
  readonly trainMetrics: Readonly<Record<string, number>>;
}

/** The coordinator's answer to an upload. A rejection is data, with an error code as reason. */
export type UploadVerdict =
  | { readonly accepted: true }
  | { readonly accepted: false; readonly reasonCode: string; readonly message: string };

/** A site's evaluation of a model version on its held-out split. */
export interface EvaluationReport {
  readonly taskId: string;
  readonly round: number;
  readonly modelVersion: number;
  readonly split: string;
  readonly numExamples: number;
  /** Rows are true classes, columns predicted; numClasses × numClasses, summing to numExamples. */
  readonly confusion: readonly (readonly number[])[];
  readonly metrics: Readonly<Record<string, number>>;
  /**
   * Histograms and sums of the split's class probabilities (never the probabilities), from which
   * the coordinator pools AUC, AP, calibration and bootstrap intervals. Absent from older clients.
   */
  readonly statistics?: EvaluationStatistics;
}

/** A model version's bytes (the serialised weights) and their sha256. */
export interface ModelBlob {
  readonly bytes: Uint8Array;
  readonly sha256: string;
}
