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
import { ErrorCode, FlError } from "../../shared/src/errors.js";
import type {
  EvaluationReport,
  Heartbeat,
  HeartbeatAck,
  JoinChallenge,
  JoinGrant,
  JoinRequest,
  ModelBlob,
  PullOutcome,
  UploadHeader,
} from "../../shared/src/fl/messages.js";
import type { CoordinatorService, UploadSink } from "../../shared/src/fl/ports.js";
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

/**
 * A coordinator for hospital-side tests that answers pulls from a script instead of running
 * rounds. It checks what a real one checks on the way in (join signatures, sessions, manifest
 * signatures, chunk order, content hash) and records what the hospital sent, decrypted.
 */
export class ScriptedCoordinator implements CoordinatorService {
  readonly identity: Identity = generateIdentity("coordinator", seededRandom(99));
  readonly federationId = "scripted";
  readonly joins: JoinRequest[] = [];
  readonly heartbeats: Heartbeat[] = [];
  readonly uploads: ReceivedUpload[] = [];
  readonly evaluations: EvaluationReport[] = [];
  readonly leaves: string[] = [];
  private readonly script: ScriptStep[] = [];
  private readonly models = new Map<number, Uint8Array>();
  private readonly challenges = new Map<string, Uint8Array>();
  private readonly sessions = new Map<string, PublicIdentity>();
  /** Tasks the coordinator has settled without a result, with who waits to hear that a site was told. */
  private readonly ended = new Map<string, (() => void)[]>();
  private nextToken = 1;

  constructor(private readonly sites: readonly PublicIdentity[]) {}

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

  getChallenge(siteId: string): JoinChallenge {
    const challenge = createJoinChallenge(seededRandom(this.challenges.size + 1));
    this.challenges.set(siteId, challenge);
    return { challenge, federationId: this.federationId, expiresAtMs: Date.now() + 60_000 };
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
    this.sessions.set(sessionToken, site);
    return {
      sessionToken,
      federationId: this.federationId,
      coordinatorEncryptionPublicKey: this.identity.encryption.publicKey,
      coordinatorSigningPublicKey: this.identity.signing.publicKey,
      heartbeatIntervalMs: 5,
    };
  }

  async pullTask(sessionToken: string): Promise<PullOutcome> {
    this.site(sessionToken);
    const step = this.script.shift() ?? { kind: "done", reason: "script finished" };
    if (step.kind !== "restart") return step;
    this.sessions.clear();
    throw new FlError(ErrorCode.Unauthenticated, "unknown session (coordinator restarted)");
  }

  heartbeat(sessionToken: string, beat: Heartbeat): HeartbeatAck {
    this.site(sessionToken);
    this.heartbeats.push(beat);
    const told = this.ended.get(beat.taskId);
    if (told) {
      for (const resolve of told.splice(0)) resolve();
      return { taskActive: false };
    }
    return { taskActive: !beat.failure };
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

  model(sessionToken: string, version: number): ModelBlob {
    this.site(sessionToken);
    const bytes = this.models.get(version);
    if (!bytes) throw new FlError(ErrorCode.NotFound, `no model v${version}`);
    return { bytes, sha256: sha256Hex(bytes) };
  }

  beginUpload(sessionToken: string, header: UploadHeader): UploadSink {
    const site = this.site(sessionToken);
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
      finish: () => {
        const bytes = concatChunks(plain, header.manifest.plaintextBytes);
        if (sha256Hex(bytes) !== header.manifest.contentSha256) {
          throw new FlError(ErrorCode.HashMismatch, "update content does not match its manifest");
        }
        this.uploads.push({ header, delta: deserializeWeights(bytes) });
      },
      abort: () => {},
    };
  }

  reportEvaluation(sessionToken: string, report: EvaluationReport): void {
    this.site(sessionToken);
    this.evaluations.push(report);
  }

  leave(sessionToken: string, reason: string): void {
    if (this.sessions.delete(sessionToken)) this.leaves.push(reason);
  }

  private site(sessionToken: string): PublicIdentity {
    const site = this.sessions.get(sessionToken);
    if (!site) throw new FlError(ErrorCode.Unauthenticated, "unknown session");
    return site;
  }
}
