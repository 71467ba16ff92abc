import {
  createJoinChallenge,
  decryptChunk,
  generateIdentity,
  type Identity,
  type PublicIdentity,
  publicIdentity,
  sharedKey,
  verifyJoin,
  verifyManifest,
} from "../../shared/src/crypto/index.js";
import {
  challengeMessage,
  deriveSessionKey,
  doneMessage,
  grantMessage,
  macEquals,
  requestMac,
  responseMac,
  signStatement,
  taskMessage,
} from "../../shared/src/crypto/session-auth.js";
import { ErrorCode, FlError } from "../../shared/src/errors.js";
import type {
  ChallengeRequest,
  EvaluationReport,
  Heartbeat,
  HeartbeatAck,
  JoinChallenge,
  JoinGrant,
  JoinRequest,
  ModelBlob,
  PullOutcome,
  RequestAuth,
  SignedHeartbeatAck,
  SignedPullOutcome,
  UploadHeader,
} from "../../shared/src/fl/messages.js";
import type { CoordinatorService, UploadSink } from "../../shared/src/fl/ports.js";
import { answerBody, callBody, SessionMethod, signedTaskFields } from "../../shared/src/fl/session-calls.js";
import {
  concatChunks,
  deserializeWeights,
  serializeWeights,
  sha256Hex,
} from "../../shared/src/weights/index.js";
import type { ModelWeights } from "../../shared/src/weights/types.js";
import { seededRandom } from "./crypto-fixtures.js";

/** One answer to a pull: an outcome, or a coordinator restart (every session is forgotten). */
export type ScriptStep = PullOutcome | { readonly kind: "restart" };

export interface ReceivedUpload {
  readonly header: UploadHeader;
  /** The decrypted delta. */
  readonly delta: ModelWeights;
}

interface ScriptedSession {
  readonly site: PublicIdentity;
  readonly key: Uint8Array;
}

/**
 * A coordinator for hospital-side tests that answers pulls from a script instead of running
 * rounds. It checks what a real one checks on the way in (join signatures, sessions and the MAC
 * of every call, manifest signatures, chunk order, content hash), signs what a real one signs,
 * and records what the hospital sent, decrypted. `signingIdentity` makes it an impostor: it
 * holds the real coordinator's public keys but signs with a key of its own.
 */
export class ScriptedCoordinator implements CoordinatorService {
  readonly identity: Identity = generateIdentity("coordinator", seededRandom(99));
  readonly federationId: string;
  readonly joins: JoinRequest[] = [];
  readonly heartbeats: Heartbeat[] = [];
  readonly uploads: ReceivedUpload[] = [];
  readonly evaluations: EvaluationReport[] = [];
  readonly leaves: string[] = [];
  private readonly script: ScriptStep[] = [];
  private readonly models = new Map<number, Uint8Array>();
  private readonly challenges = new Map<string, Uint8Array>();
  private readonly sessions = new Map<string, ScriptedSession>();
  /** Tasks the coordinator has settled without a result, with who waits to hear that a site was told. */
  private readonly ended = new Map<string, (() => void)[]>();
  private nextToken = 1;

  private readonly signer: Identity;

  constructor(
    private readonly sites: readonly PublicIdentity[],
    options: { federationId?: string; signingIdentity?: Identity } = {},
  ) {
    this.federationId = options.federationId ?? "scripted";
    this.signer = options.signingIdentity ?? this.identity;
  }

  get publicIdentity(): PublicIdentity {
    return publicIdentity(this.identity);
  }

  /** Serves a model version; returns its sha256 for the task that names it. */
  publishModel(version: number, weights: ModelWeights): { sha256: string; bytes: number } {
    const bytes = serializeWeights(weights);
    this.models.set(version, bytes);
    return { sha256: sha256Hex(bytes), bytes: bytes.length };
  }

  /** Appends answers to the pulls to come; once the script is spent, the federation is done. */
  answerPulls(...steps: ScriptStep[]): this {
    this.script.push(...steps);
    return this;
  }

  getChallenge(request: ChallengeRequest): JoinChallenge {
    const challenge = createJoinChallenge(seededRandom(this.challenges.size + 1));
    this.challenges.set(request.siteId, challenge);
    const expiresAtMs = Date.now() + 60_000;
    const statement = {
      federationId: this.federationId,
      siteId: request.siteId,
      clientNonce: request.clientNonce,
      challenge,
      expiresAtMs,
      channelBinding: "",
    };
    return {
      challenge,
      federationId: this.federationId,
      expiresAtMs,
      coordinatorSignature: signStatement(challengeMessage(statement), this.signer),
    };
  }

  join(request: JoinRequest): JoinGrant {
    const site = this.sites.find((s) => s.id === request.siteId);
    if (!site) throw new FlError(ErrorCode.UnknownSite, `site "${request.siteId}" is not enrolled`);
    const challenge = this.challenges.get(request.siteId);
    if (!challenge || !verifyJoin(site, this.federationId, challenge, request.signature)) {
      throw new FlError(ErrorCode.SignatureInvalid, "join signature does not verify");
    }
    this.challenges.delete(request.siteId);
    this.joins.push(request);
    const sessionToken = `token-${this.nextToken++}`;
    const shared = sharedKey(this.identity.encryption.secretKey, site.encryptionPublicKey);
    this.sessions.set(sessionToken, {
      site,
      key: deriveSessionKey(shared, this.federationId, site.id, challenge),
    });
    const heartbeatIntervalMs = 5;
    const grant = {
      federationId: this.federationId,
      siteId: site.id,
      challenge,
      sessionToken,
      heartbeatIntervalMs,
    };
    return {
      sessionToken,
      federationId: this.federationId,
      coordinatorEncryptionPublicKey: this.identity.encryption.publicKey,
      coordinatorSigningPublicKey: this.identity.signing.publicKey,
      heartbeatIntervalMs,
      coordinatorSignature: signStatement(grantMessage(grant), this.signer),
    };
  }

  async pullTask(call: RequestAuth, waitMs: number): Promise<SignedPullOutcome> {
    const { site } = this.authenticate(call, SessionMethod.PullTask, callBody.pullTask(waitMs));
    const step = this.script.shift() ?? { kind: "done", reason: "script finished" };
    if (step.kind === "restart") {
      this.sessions.clear();
      throw new FlError(ErrorCode.Unauthenticated, "unknown session (coordinator restarted)");
    }
    return this.sign(site.id, call, step);
  }

  heartbeat(call: RequestAuth, beat: Heartbeat): SignedHeartbeatAck {
    const { key } = this.authenticate(call, SessionMethod.Heartbeat, callBody.heartbeat(beat));
    this.heartbeats.push(beat);
    const told = this.ended.get(beat.taskId);
    let ack: HeartbeatAck = { taskActive: !beat.failure };
    if (told) {
      for (const resolve of told.splice(0)) resolve();
      ack = { taskActive: false };
    }
    return {
      ...ack,
      mac: responseMac(key, SessionMethod.Heartbeat, call.sequence, answerBody.heartbeat(ack)),
    };
  }

  /**
   * Settles a task as a real coordinator does at its deadline or on a lost site: heartbeats for
   * it answer `taskActive: false` from now on. Resolves once one such answer has been given.
   */
  endTask(taskId: string): Promise<void> {
    return new Promise((resolve) => {
      const told = this.ended.get(taskId) ?? [];
      told.push(resolve);
      this.ended.set(taskId, told);
    });
  }

  model(call: RequestAuth, version: number): ModelBlob {
    this.authenticate(call, SessionMethod.DownloadModel, callBody.downloadModel(version));
    const bytes = this.models.get(version);
    if (!bytes) throw new FlError(ErrorCode.NotFound, `no model v${version}`);
    return { bytes, sha256: sha256Hex(bytes) };
  }

  beginUpload(call: RequestAuth, header: UploadHeader): UploadSink {
    const { site } = this.authenticate(call, SessionMethod.UploadUpdate, callBody.uploadUpdate(header));
    if (!verifyManifest(header.manifest, header.signature, site)) {
      throw new FlError(ErrorCode.SignatureInvalid, "manifest signature does not verify");
    }
    const key = sharedKey(this.identity.encryption.secretKey, site.encryptionPublicKey);
    const plain: Uint8Array[] = [];
    return {
      addChunk: (index, ciphertext) => {
        if (index !== plain.length)
          throw new FlError(ErrorCode.InvalidArgument, `chunk ${index} out of order`);
        plain.push(decryptChunk(ciphertext, index, header.manifest.noncePrefix, key));
      },
      finish: async () => {
        const bytes = concatChunks(plain, header.manifest.plaintextBytes);
        if (sha256Hex(bytes) !== header.manifest.contentSha256) {
          throw new FlError(ErrorCode.HashMismatch, "update content does not match its manifest");
        }
        this.uploads.push({ header, delta: deserializeWeights(bytes) });
      },
      abort: () => {},
    };
  }

  reportEvaluation(call: RequestAuth, report: EvaluationReport): void {
    this.authenticate(call, SessionMethod.ReportEvaluation, callBody.reportEvaluation(report));
    this.evaluations.push(report);
  }

  leave(call: RequestAuth, reason: string): void {
    if (!this.sessions.has(call.sessionToken)) return;
    this.authenticate(call, SessionMethod.Leave, callBody.leave(reason));
    this.sessions.delete(call.sessionToken);
    this.leaves.push(reason);
  }

  private sign(siteId: string, call: RequestAuth, outcome: PullOutcome): SignedPullOutcome {
    switch (outcome.kind) {
      case "task":
        return {
          ...outcome,
          signature: signStatement(
            taskMessage(this.federationId, siteId, signedTaskFields(outcome.task)),
            this.signer,
          ),
        };
      case "done": {
        const statement = {
          federationId: this.federationId,
          siteId,
          sessionToken: call.sessionToken,
          sequence: call.sequence,
          reason: outcome.reason,
        };
        return { ...outcome, signature: signStatement(doneMessage(statement), this.signer) };
      }
      case "wait":
        return outcome;
    }
  }

  private authenticate(call: RequestAuth, method: SessionMethod, body: unknown): ScriptedSession {
    const session = this.sessions.get(call.sessionToken);
    if (!session) throw new FlError(ErrorCode.Unauthenticated, "unknown session");
    if (!macEquals(requestMac(session.key, method, call.sequence, body), call.mac))
      throw new FlError(ErrorCode.SignatureInvalid, `the ${method} call's MAC does not verify`);
    return session;
  }
}
