import { afterEach, expect, it } from "vitest";
import { ErrorCode } from "../../../../shared/src/errors.js";
import { InProcessFederation } from "../../../helpers/in-process-federation.js";
import type { InProcessSite } from "../../../helpers/in-process-site.js";

let fed: InProcessFederation | undefined;
afterEach(async () => {
  await fed?.close();
  fed = undefined;
});

it("headers reusing a site's in-flight upload id leave its upload, and the round, intact", async () => {
  fed = InProcessFederation.start({ siteIds: ["a", "b", "c"] });
  const [a, b, c] = ["a", "b", "c"].map((id) => fed!.site(id).join()) as [
    InProcessSite,
    InProcessSite,
    InProcessSite,
  ];
  const [ta, tb, tc] = [await a.trainTask(), await b.trainTask(), await c.trainTask()];

  // a's upload is in flight: its header is in, its chunks are not.
  const victim = a.seal(ta, 1, 10);
  const uploadId = victim.manifest.uploadId;
  const inFlight = a.beginUpload({
    manifest: victim.manifest,
    signature: victim.signature,
    trainMetrics: {},
  });

  // b, with its own session and key: a signed header for a stale round under a's upload id
  // (verified, so rejected and recorded, under b), then a forged one and a's own header.
  const stale = b.seal(tb, 9, 10, { manifest: { uploadId, round: 9 } });
  expect(await b.upload(stale)).toMatchObject({ accepted: false, reasonCode: ErrorCode.WrongRound });
  expect(
    await b.upload({ ...b.seal(tb, 9, 10, { manifest: { uploadId } }), signature: new Uint8Array(64) }),
  ).toMatchObject({ accepted: false, reasonCode: ErrorCode.SignatureInvalid });
  await expect(b.upload(victim)).rejects.toMatchObject({
    code: ErrorCode.Unauthenticated,
    message: expect.stringContaining('names site "a"'),
  });

  expect(await b.upload(b.seal(tb, 2, 10))).toEqual({ accepted: true });
  expect(await c.upload(c.seal(tc, 4, 20))).toEqual({ accepted: true });
  for (const [i, chunk] of victim.chunks.entries()) inFlight.addChunk(i, chunk);
  await inFlight.finish();
  await fed.settle();
  await fed.evaluateAll([a, b, c]);
  expect((await fed.run).status).toBe("completed");

  const [round] = fed.store.listRounds();
  const accepted = fed.store.listUpdates({ round: 1 }).filter((u) => u.status === "accepted");
  expect(round?.acceptedCount).toBe(3);
  expect(accepted.map((u) => u.siteId).sort()).toEqual(["a", "b", "c"]);
  expect(fed.store.listUpdates().map((u) => [u.siteId, u.uploadId === uploadId, u.status])).toEqual([
    ["b", true, "rejected"],
    ["b", false, "accepted"],
    ["c", false, "accepted"],
    ["a", true, "accepted"],
  ]);
  // The example-weighted mean of 1, 2 and 4 over 10, 10 and 20 examples: 2.75 on every weight.
  expect(Array.from(fed.latestModel().values)).toEqual([1, 2, 3, 4, 5, 6].map((v) => v + 2.75));
  expect(fed.logs.join("\n")).not.toContain("UNIQUE");
});
