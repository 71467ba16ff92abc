import { afterEach, describe, expect, it } from "vitest";
import { JoinHandshake } from "../../../../client/src/session.js";
import { SEQUENCE_WINDOW } from "../../../../coordinator/src/registry.js";
import { publicIdentity, signJoin } from "../../../../shared/src/crypto/index.js";
import {
  challengeMessage,
  requestMac,
  taskMessage,
  verifyStatement,
} from "../../../../shared/src/crypto/session-auth.js";
import { ErrorCode } from "../../../../shared/src/errors.js";
import type { RequestAuth } from "../../../../shared/src/fl/messages.js";
import { callBody, SessionMethod, signedTaskFields } from "../../../../shared/src/fl/session-calls.js";
import { expectFlError } from "../../../helpers/expect-fl-error.js";
import { InProcessFederation } from "../../../helpers/in-process-federation.js";

let fed: InProcessFederation | undefined;

afterEach(async () => {
  await fed?.close();
  fed = undefined;
});

const NONCE = new Uint8Array(32).fill(9);

describe("joining: the coordinator proves itself, and nobody can cancel or probe a join", () => {
  it("signs each challenge over the site's own nonce with the coordinator's key", () => {
    fed = InProcessFederation.start({ siteIds: ["a"] });
    const offered = fed.service.getChallenge({ siteId: "a", clientNonce: NONCE });
    const key = publicIdentity(fed.identities.coordinator).signingPublicKey;
    const statement = {
      federationId: "test",
      siteId: "a",
      clientNonce: NONCE,
      challenge: offered.challenge,
      expiresAtMs: offered.expiresAtMs,
      channelBinding: "",
    };
    expect(verifyStatement(challengeMessage(statement), offered.coordinatorSignature, key)).toBe(true);
    // A signature replayed to a site that asked with another nonce does not verify.
    const otherNonce = { ...statement, clientNonce: new Uint8Array(32) };
    expect(verifyStatement(challengeMessage(otherNonce), offered.coordinatorSignature, key)).toBe(false);
    expectFlError(
      () => fed!.service.getChallenge({ siteId: "a", clientNonce: new Uint8Array(0) }),
      ErrorCode.InvalidArgument,
      "client nonce of 32",
    );
  });

  it("does not let anyone cancel a site's join by asking for challenges in its name", () => {
    fed = InProcessFederation.start({ siteIds: ["a"] });
    const a = fed.site("a");
    const handshake = new JoinHandshake({
      identity: a.identity,
      coordinator: publicIdentity(fed.identities.coordinator),
      federationId: "test",
      channelBinding: "",
    });
    const offered = fed.service.getChallenge(handshake.request);
    // Someone else asks for challenges as "a" before a answers its own.
    for (let i = 0; i < 10; i++) fed.service.getChallenge({ siteId: "a", clientNonce: NONCE });
    const session = handshake.accept(fed.service.join(handshake.answer(offered)));
    expect(session.federationId).toBe("test");
  });

  it("answers unknown and enrolled sites alike until the join, which it refuses alike", () => {
    fed = InProcessFederation.start({ siteIds: ["a"] });
    const known = fed.service.getChallenge({ siteId: "a", clientNonce: NONCE });
    const unknown = fed.service.getChallenge({ siteId: "stranger", clientNonce: NONCE });
    expect(unknown.challenge.length).toBe(known.challenge.length);
    expect(unknown.federationId).toBe(known.federationId);

    const stranger = fed.site("a").identity; // any key: the id is what is unknown
    const refusals = [
      expectFlError(
        () =>
          fed!.service.join({
            siteId: "stranger",
            challenge: unknown.challenge,
            signature: signJoin({ ...stranger, id: "stranger" }, "test", unknown.challenge),
          }),
        ErrorCode.UnknownSite,
      ),
      expectFlError(
        () => fed!.service.join({ siteId: "a", challenge: known.challenge, signature: new Uint8Array(64) }),
        ErrorCode.UnknownSite,
      ),
    ];
    expect(refusals[0]?.message.replace('"stranger"', "X")).toBe(refusals[1]?.message.replace('"a"', "X"));
    // The operator's log says which was which.
    expect(fed.logs.join("\n")).toContain('join of "stranger" refused: not enrolled');
    expect(fed.logs.join("\n")).toContain('join of "a" refused: its signature does not verify');
  });

  it("takes each challenge once, only for the site it was issued to, and only until it expires", async () => {
    fed = InProcessFederation.start({ siteIds: ["a", "b"] });
    const a = fed.site("a");
    const b = fed.site("b");
    const forA = fed.service.getChallenge({ siteId: "a", clientNonce: NONCE });
    const join = (site: typeof a, challenge: Uint8Array) => () =>
      fed!.service.join({
        siteId: site.id,
        challenge,
        signature: signJoin(site.identity, "test", challenge),
      });
    expectFlError(
      join(b, forA.challenge),
      ErrorCode.Unauthenticated,
      "not one this coordinator issued to this site",
    );
    join(a, forA.challenge)();
    expectFlError(join(a, forA.challenge), ErrorCode.Unauthenticated, "already used");

    const late = fed.service.getChallenge({ siteId: "a", clientNonce: NONCE });
    await fed.clock.advance(61_000);
    expectFlError(join(a, late.challenge), ErrorCode.Unauthenticated, "expired");
  });

  it("refuses a join signed for one TLS client certificate and presented over another", () => {
    fed = InProcessFederation.start({ siteIds: ["a"] });
    const a = fed.site("a");
    const binding = "ab".repeat(32);
    const offered = fed.service.getChallenge({ siteId: "a", clientNonce: NONCE, channelBinding: binding });
    const signature = signJoin(a.identity, "test", offered.challenge, binding);
    expectFlError(
      () =>
        fed!.service.join({
          siteId: "a",
          challenge: offered.challenge,
          signature,
          channelBinding: "cd".repeat(32),
        }),
      ErrorCode.UnknownSite,
    );
    expect(fed.logs.join("\n")).toContain("and this TLS client certificate");
  });
});

describe("every call of a session proves itself", () => {
  async function joined() {
    fed = InProcessFederation.start({ siteIds: ["a"], plan: { minSites: 1 } });
    const [a] = fed.join("a");
    const task = await a!.trainTask();
    return { fed, a: a!, task };
  }

  it("refuses a stolen session token without the session key, as older clients sent it", async () => {
    const { fed, a, task } = await joined();
    const beat = { taskId: task.taskId, progress: 0.5, status: "training" };
    const bearerOnly: RequestAuth = { sessionToken: a.token, sequence: 1_000, mac: new Uint8Array(32) };
    expectFlError(
      () => fed.service.heartbeat(bearerOnly, beat),
      ErrorCode.SignatureInvalid,
      "MAC does not verify",
    );
    const guessedKey = requestMac(
      new Uint8Array(32),
      SessionMethod.Heartbeat,
      1_001,
      callBody.heartbeat(beat),
    );
    expectFlError(
      () => fed.service.heartbeat({ ...bearerOnly, sequence: 1_001, mac: guessedKey }, beat),
      ErrorCode.SignatureInvalid,
    );
    // A heartbeat MACed for one task does not pass for another, nor a leave for a heartbeat.
    const auth = a.auth(SessionMethod.Heartbeat, callBody.heartbeat(beat));
    expectFlError(
      () => fed.service.heartbeat(auth, { ...beat, failure: "forged" }),
      ErrorCode.SignatureInvalid,
    );
    const leave = a.auth(SessionMethod.Leave, callBody.leave("bye"));
    expectFlError(() => fed.service.heartbeat(leave, beat), ErrorCode.SignatureInvalid);
    // None of these counted: the site is still there and its task open.
    expect(a.heartbeat(task)).toEqual({ taskActive: true });
  });

  it("takes each sequence number once, in any order within the window", async () => {
    const { fed, a, task } = await joined();
    const beat = { taskId: task.taskId, progress: 0.5, status: "training" };
    const first = a.auth(SessionMethod.Heartbeat, callBody.heartbeat(beat));
    const second = a.auth(SessionMethod.Heartbeat, callBody.heartbeat(beat));
    expect(fed.service.heartbeat(second, beat).taskActive).toBe(true);
    expect(fed.service.heartbeat(first, beat).taskActive).toBe(true);
    expectFlError(() => fed.service.heartbeat(first, beat), ErrorCode.Replay, "already used");

    const old = a.auth(SessionMethod.Heartbeat, callBody.heartbeat(beat));
    for (let i = 0; i < SEQUENCE_WINDOW; i++) a.heartbeat(task);
    expectFlError(() => fed.service.heartbeat(old, beat), ErrorCode.Replay, "too old");
  });

  it("refuses a call over another TLS client certificate than the session was joined on", async () => {
    const { fed, a, task } = await joined();
    const beat = { taskId: task.taskId, progress: 0.5, status: "training" };
    const auth = a.auth(SessionMethod.Heartbeat, callBody.heartbeat(beat));
    expectFlError(
      () => fed.service.heartbeat({ ...auth, channelBinding: "ef".repeat(32) }, beat),
      ErrorCode.Unauthenticated,
      "another TLS client certificate",
    );
  });

  it("signs each task for the site it goes to, and MACs the answer to each heartbeat for its call", async () => {
    fed = InProcessFederation.start({ siteIds: ["a"], plan: { minSites: 1 } });
    const [a] = fed.join("a");
    const key = publicIdentity(fed.identities.coordinator).signingPublicKey;
    const outcome = await fed.service.pullTask(
      a!.auth(SessionMethod.PullTask, callBody.pullTask(30_000)),
      30_000,
    );
    if (outcome.kind !== "task") throw new Error(`expected a task, got ${outcome.kind}`);
    const { task } = outcome;
    const fields = signedTaskFields(outcome.task);
    expect(verifyStatement(taskMessage("test", "a", fields), outcome.signature, key)).toBe(true);
    expect(verifyStatement(taskMessage("test", "b", fields), outcome.signature, key)).toBe(false);
    expect(
      verifyStatement(
        taskMessage("test", "a", { ...fields, deadlineMs: fields.deadlineMs + 1 }),
        outcome.signature,
        key,
      ),
    ).toBe(false);

    const beat = { taskId: task.taskId, progress: 0.5, status: "training" };
    const auth = a!.auth(SessionMethod.Heartbeat, callBody.heartbeat(beat));
    const ack = fed.service.heartbeat(auth, beat);
    expect(a!.session.checkHeartbeatAck(auth, ack)).toEqual({ taskActive: true });
    expect(() => a!.session.checkHeartbeatAck(auth, { ...ack, taskActive: false })).toThrow(/not signed/);
    const other = a!.auth(SessionMethod.Heartbeat, callBody.heartbeat(beat));
    expect(() => a!.session.checkHeartbeatAck(other, ack)).toThrow(/not signed/);
  });
});
