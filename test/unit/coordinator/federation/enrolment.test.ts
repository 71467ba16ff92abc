import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readEnrolledSites, sitesDirFiles } from "../../../../coordinator/src/keys.js";
import {
  generateIdentity,
  publicIdentity,
  publicIdentityToJson,
} from "../../../../shared/src/crypto/index.js";
import { ErrorCode } from "../../../../shared/src/errors.js";
import { seededRandom } from "../../../helpers/crypto-fixtures.js";
import { expectFlError } from "../../../helpers/expect-fl-error.js";
import { InProcessFederation } from "../../../helpers/in-process-federation.js";
import { InProcessSite } from "../../../helpers/in-process-site.js";

let fed: InProcessFederation | undefined;
const dirs: string[] = [];

afterEach(async () => {
  await fed?.close();
  fed = undefined;
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("enrolment while the federation runs", () => {
  it("revokes a site at once: its session ends, its open task fails, its upload in flight and its rejoin are refused", async () => {
    fed = InProcessFederation.start({ siteIds: ["a", "b"], plan: { minSites: 1 } });
    const [a, b] = fed.join("a", "b");
    const [ta, tb] = [await a!.trainTask(), await b!.trainTask()];
    const sealed = b!.seal(tb, 5, 1);
    const sink = b!.beginUpload({ manifest: sealed.manifest, signature: sealed.signature, trainMetrics: {} });

    fed.service.revoke("b", "key leaked");

    expectFlError(() => sink.addChunk(0, sealed.chunks[0]!), ErrorCode.UnknownSite, "revoked: key leaked");
    expectFlError(() => b!.heartbeat(tb), ErrorCode.Unauthenticated, "join again");
    expectFlError(() => b!.join(), ErrorCode.UnknownSite, "join refused");
    expect(await a!.upload(a!.seal(ta, 1, 1))).toEqual({ accepted: true });
    await fed.settle();
    const [round] = fed.store.listRounds();
    expect(round).toMatchObject({ status: "completed", acceptedCount: 1 });
    expect(round!.failures).toEqual([{ siteId: "b", reason: "site revoked: key leaked" }]);
    expect(fed.store.listUpdates().filter((u) => u.siteId === "b" && u.status === "accepted")).toEqual([]);
    expect(fed.events.filter((e) => e.type === "site.revoked")).toMatchObject([
      { siteId: "b", data: { reason: "key leaked" } },
    ]);
    expect(fed.service.enrolledSites().map((s) => s.id)).toEqual(["a"]);
    expectFlError(() => fed!.service.revoke("b", "again"), ErrorCode.NotFound, "not enrolled");
  });

  it("enrols a new site without a restart: it joins and takes part in the round", async () => {
    fed = InProcessFederation.start({
      siteIds: ["a"],
      plan: { minSites: 1, phases: [{ name: "p", task: "classify", rounds: 2 }] },
    });
    const [a] = fed.join("a");
    const late = generateIdentity("c", seededRandom(31));
    const c = new InProcessSite(fed.service, late, publicIdentity(fed.identities.coordinator));
    expectFlError(() => c.join(), ErrorCode.UnknownSite);

    expect(fed.service.enrol(publicIdentity(late))).toBe(true);
    expect(fed.service.enrol(publicIdentity(late))).toBe(false);
    const other = publicIdentity(generateIdentity("c", seededRandom(32)));
    expectFlError(() => fed!.service.enrol(other), ErrorCode.InvalidArgument, "revoke it first");
    c.join();
    const [ta, tc] = [await a!.trainTask(), await c.trainTask()];
    expect(await a!.upload(a!.seal(ta, 1, 1))).toEqual({ accepted: true });
    expect(await c.upload(c.seal(tc, 3, 1))).toEqual({ accepted: true });
    await fed.settle();
    expect(fed.store.listRounds()[0]).toMatchObject({ status: "completed", acceptedCount: 2 });
    expect(fed.events.filter((e) => e.type === "site.enrolled").map((e) => e.siteId)).toEqual(["c"]);
  });
});

describe("the sitesDir keeps run-time enrolment for the next start", () => {
  it("writes an enrolled site's public file and moves a revoked one aside", () => {
    const dir = mkdtempSync(join(tmpdir(), "fl-sites-"));
    dirs.push(dir);
    const a = publicIdentity(generateIdentity("a", seededRandom(41)));
    const b = publicIdentity(generateIdentity("b", seededRandom(42)));
    // A hand-named file: revocation finds a site by the id inside, not by the file name.
    writeFileSync(join(dir, "hospital-a.public.json"), publicIdentityToJson(a));
    const files = sitesDirFiles(dir);
    files.enrolled(b);
    expect([...readEnrolledSites(dir).keys()].sort()).toEqual(["a", "b"]);
    files.revoked("a");
    expect([...readEnrolledSites(dir).keys()]).toEqual(["b"]);
    expect(readdirSync(join(dir, "revoked"))).toEqual([expect.stringMatching(/^hospital-a\.public\.json\./)]);
  });
});
