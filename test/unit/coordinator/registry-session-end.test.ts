import { describe, expect, it } from "vitest";
import { SiteRegistry } from "../../../coordinator/src/registry.js";
import { generateIdentity, publicIdentity, signJoin } from "../../../shared/src/crypto/index.js";
import { ErrorCode } from "../../../shared/src/errors.js";
import { expectFlError } from "../../helpers/expect-fl-error.js";

const HEARTBEAT_TIMEOUT_MS = 25_000;

function registry() {
  const site = generateIdentity("metro-icu");
  const coordinator = generateIdentity("coordinator");
  const clock = { now: 1_000_000 };
  const sites = new Map([[site.id, publicIdentity(site)]]);
  const reg = new SiteRegistry({
    federationId: "fed",
    enrolled: { get: (id) => sites.get(id) },
    encryptionSecretKey: coordinator.encryption.secretKey,
    now: () => clock.now,
    heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
  });
  const join = () => {
    const { challenge } = reg.issueChallenge(site.id);
    return reg.join(site.id, challenge, signJoin(site, "fed", challenge), "");
  };
  return { reg, clock, join };
}

describe("the registry says why a session ended, and whether a join is a return", () => {
  it("a site lost to missed heartbeats learns so, and its return is a rejoin", () => {
    const { reg, clock, join } = registry();
    const first = join();
    expect(first.rejoined).toBe(false);
    clock.now += HEARTBEAT_TIMEOUT_MS + 1;
    expect(reg.sweep()).toEqual(["metro-icu"]);
    expect(reg.isActive("metro-icu")).toBe(false);
    // The link came back: the old session's next call names the cut, not a restart.
    expectFlError(
      () => reg.session(first.token),
      ErrorCode.Unauthenticated,
      "no call from the site for 25 s",
    );
    expectFlError(() => reg.session(first.token), ErrorCode.Unauthenticated, "counted as lost: join again");
    // Before, `rejoined` was whether a live session was replaced, so a lost site came back as new.
    expect(join().rejoined).toBe(true);
  });

  it("names revocation, leaving and a newer session, and a token it never granted as unknown", () => {
    const { reg, join } = registry();
    const a = join();
    const b = join();
    expectFlError(() => reg.session(a.token), ErrorCode.Unauthenticated, "joined again with a new session");
    expect(reg.leave(b.token)).toBe("metro-icu");
    expectFlError(() => reg.session(b.token), ErrorCode.Unauthenticated, "the site left");
    const c = join();
    expect(reg.endSessionOf("metro-icu")).toBe(true);
    expectFlError(() => reg.session(c.token), ErrorCode.Unauthenticated, "the site was revoked");
    expectFlError(() => reg.session("never-granted"), ErrorCode.Unauthenticated, "the coordinator restarted");
  });
});
