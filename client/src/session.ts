import { randomBytes } from "node:crypto";
import { type Identity, type PublicIdentity, sharedKey, signJoin } from "../../shared/src/crypto/index.js";
import {
  CLIENT_NONCE_BYTES,
  challengeMessage,
  deriveSessionKey,
  doneMessage,
  grantMessage,
  macEquals,
  requestMac,
  responseMac,
  taskMessage,
  verifyStatement,
} from "../../shared/src/crypto/session-auth.js";
import { ErrorCode, FlError } from "../../shared/src/errors.js";
import type {
  ChallengeRequest,
  HeartbeatAck,
  JoinChallenge,
  JoinGrant,
  JoinRequest,
  ReceivedPull,
  RequestAuth,
  SignedHeartbeatAck,
  SiteInfo,
} from "../../shared/src/fl/messages.js";
import type { CoordinatorPort } from "../../shared/src/fl/ports.js";
import { answerBody, SessionMethod } from "../../shared/src/fl/session-calls.js";

export interface JoinOptions {
  readonly port: CoordinatorPort;
  readonly identity: Identity;
  /** The pinned coordinator: only what its keys signed is believed. */
  readonly coordinator: PublicIdentity;
  /** The federation this hospital agreed to join: a coordinator naming another is refused. */
  readonly federationId: string;
  readonly siteInfo: SiteInfo;
}

function notOurCoordinator(what: string): FlError {
  return new FlError(
    ErrorCode.SignatureInvalid,
    `${what} is not signed by the configured coordinator key (coordinatorPublicKey): this is not the coordinator this hospital enrolled with, or its key changed; nothing was sent to it`,
  );
}

/**
 * Joins the federation, authenticating the coordinator first: its signature over a fresh nonce
 * of ours (and the TLS certificate we present) must verify against the pinned key, and it must
 * name our federation, before the site says anything about itself.
 */
export async function joinFederation(options: JoinOptions): Promise<SiteSession> {
  const { port, siteInfo } = options;
  const handshake = new JoinHandshake({ ...options, channelBinding: port.channelBinding });
  const offered = await port.getChallenge(handshake.request);
  const grant = await port.join(handshake.answer(offered, siteInfo));
  return handshake.accept(grant);
}

/** One join, step by step, whatever carries its messages. */
export class JoinHandshake {
  readonly request: ChallengeRequest;
  private offered: JoinChallenge | undefined;

  constructor(
    private readonly options: Pick<JoinOptions, "identity" | "coordinator" | "federationId"> & {
      /** What the transport presents of this site (`CoordinatorPort.channelBinding`). */
      readonly channelBinding: string;
    },
  ) {
    this.request = {
      siteId: options.identity.id,
      clientNonce: new Uint8Array(randomBytes(CLIENT_NONCE_BYTES)),
    };
  }

  /** The join request for a challenge the configured coordinator signed for us; throws otherwise. */
  answer(offered: JoinChallenge, siteInfo?: SiteInfo): JoinRequest {
    const { identity, coordinator, federationId, channelBinding } = this.options;
    if (offered.federationId !== federationId) {
      throw new FlError(
        ErrorCode.InvalidConfig,
        `the coordinator at this address runs federation "${offered.federationId}", but this hospital is configured for "${federationId}": check the client config's coordinator and federationId`,
      );
    }
    const statement = {
      federationId,
      siteId: identity.id,
      clientNonce: this.request.clientNonce,
      challenge: offered.challenge,
      expiresAtMs: offered.expiresAtMs,
      channelBinding,
    };
    if (
      !verifyStatement(
        challengeMessage(statement),
        offered.coordinatorSignature,
        coordinator.signingPublicKey,
      )
    )
      throw notOurCoordinator("the join challenge");
    this.offered = offered;
    return {
      siteId: identity.id,
      challenge: offered.challenge,
      signature: signJoin(identity, federationId, offered.challenge, channelBinding),
      ...(siteInfo && { info: siteInfo }),
    };
  }

  /** The session of a grant the configured coordinator signed for this join; throws otherwise. */
  accept(grant: JoinGrant): SiteSession {
    const { identity, coordinator, federationId } = this.options;
    const { offered } = this;
    if (!offered)
      throw new FlError(ErrorCode.Internal, "a grant was accepted before its challenge was answered");
    const statement = {
      federationId,
      siteId: identity.id,
      challenge: offered.challenge,
      sessionToken: grant.sessionToken,
      heartbeatIntervalMs: grant.heartbeatIntervalMs,
    };
    if (
      grant.federationId !== federationId ||
      !verifyStatement(grantMessage(statement), grant.coordinatorSignature, coordinator.signingPublicKey)
    )
      throw notOurCoordinator("the session grant");
    const updateKey = sharedKey(identity.encryption.secretKey, coordinator.encryptionPublicKey);
    return new SiteSession({
      token: grant.sessionToken,
      federationId,
      siteId: identity.id,
      updateKey,
      macKey: deriveSessionKey(updateKey, federationId, identity.id, offered.challenge),
      heartbeatIntervalMs: grant.heartbeatIntervalMs || 2000,
      coordinatorSigningKey: coordinator.signingPublicKey,
    });
  }
}

interface SessionState {
  readonly token: string;
  readonly federationId: string;
  readonly siteId: string;
  readonly updateKey: Uint8Array;
  readonly macKey: Uint8Array;
  readonly heartbeatIntervalMs: number;
  readonly coordinatorSigningKey: Uint8Array;
}

/**
 * The site's half of a session: it authenticates each call (a fresh sequence number and a MAC
 * under the session key) and checks what the coordinator answers before the site acts on it.
 */
export class SiteSession {
  private sequence = 0;

  constructor(private readonly state: SessionState) {}

  get token(): string {
    return this.state.token;
  }

  get federationId(): string {
    return this.state.federationId;
  }

  /** The site–coordinator key updates are sealed with. */
  get updateKey(): Uint8Array {
    return this.state.updateKey;
  }

  get heartbeatIntervalMs(): number {
    return this.state.heartbeatIntervalMs;
  }

  /** Authenticates one call: `body` is built with session-calls.ts `callBody`. */
  authorize(method: SessionMethod, body: unknown): RequestAuth {
    this.sequence += 1;
    const { sequence } = this;
    return {
      sessionToken: this.state.token,
      sequence,
      mac: requestMac(this.state.macKey, method, sequence, body),
    };
  }

  /** A pull's outcome once its task or end is shown to be the coordinator's, for this call. */
  checkPull(auth: RequestAuth, pull: ReceivedPull): ReceivedPull {
    const { federationId, siteId, coordinatorSigningKey } = this.state;
    switch (pull.kind) {
      case "task":
      case "unrunnable":
        if (
          !verifyStatement(
            taskMessage(federationId, siteId, pull.signed),
            pull.signature,
            coordinatorSigningKey,
          )
        )
          throw notOurCoordinator(`task ${pull.signed.taskId}`);
        return pull;
      case "done": {
        const statement = {
          federationId,
          siteId,
          sessionToken: auth.sessionToken,
          sequence: auth.sequence,
          reason: pull.reason,
        };
        if (!verifyStatement(doneMessage(statement), pull.signature, coordinatorSigningKey))
          throw notOurCoordinator("the end of the federation");
        return pull;
      }
      case "wait":
        return pull;
    }
  }

  /** A heartbeat's answer once its MAC shows it comes from the coordinator, for this call. */
  checkHeartbeatAck(auth: RequestAuth, ack: SignedHeartbeatAck): HeartbeatAck {
    const expected = responseMac(
      this.state.macKey,
      SessionMethod.Heartbeat,
      auth.sequence,
      answerBody.heartbeat(ack),
    );
    if (!macEquals(expected, ack.mac)) throw notOurCoordinator("the heartbeat's answer");
    return { taskActive: ack.taskActive };
  }

  /** FlError unless `mac` is the coordinator's MAC over `body` as the answer to this call. */
  checkAnswerMac(
    method: SessionMethod,
    auth: RequestAuth,
    body: unknown,
    mac: Uint8Array,
    what: string,
  ): void {
    const expected = responseMac(this.state.macKey, method, auth.sequence, body);
    if (!macEquals(expected, mac)) throw notOurCoordinator(what);
  }
}
