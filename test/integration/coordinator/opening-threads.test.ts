import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { publicIdentity } from "../../../shared/src/crypto/index.js";
import { deserializeWeights } from "../../../shared/src/weights/index.js";
import { type Harness, startHarness } from "../../helpers/coordinator-harness.js";
import { FakeSite } from "../../helpers/fake-site.js";

let harness: Harness | undefined;
const sites: FakeSite[] = [];

afterEach(async () => {
  for (const s of sites.splice(0)) s.close();
  await harness?.close();
  harness = undefined;
});

describe("uploads opened on the coordinator's opening threads, over real gRPC", () => {
  it("accepts intact many-chunk updates and refuses one whose first chunk was altered", async () => {
    const ids = ["tamper", "a", "b"];
    harness = await startHarness({
      siteIds: ids,
      plan: {
        minSites: 1,
        minAvailableSites: ids.length,
        phases: [{ name: "p", task: "classify", rounds: 1 }],
      },
    });
    const h = harness;
    const joined = ids.map((id) => new FakeSite(h.address, h.sites.get(id)!, publicIdentity(h.coordinator)));
    for (const s of joined) await s.join();
    sites.push(...joined);
    const [tamper, a, b] = await Promise.all(
      joined.map(async (site) => {
        const task = await site.nextTask();
        if (task === "done") throw new Error("unexpected done");
        return { site, task, global: await site.download(task) };
      }),
    );
    // 8-byte chunks: dozens of them per update, so the refusal of chunk 0 comes from the
    // thread while later chunks are still arriving, not from the end of the stream.
    const sealed = tamper!.site.pack(tamper!.task, tamper!.global, 0.5, 5, { chunkSize: 8 });
    expect(sealed.chunks.length).toBeGreaterThan(4);
    const flipped = sealed.chunks.map((c) => c.slice());
    flipped[0]![20]! ^= 0x01;
    const [refused, acceptedA, acceptedB] = await Promise.all([
      tamper!.site.upload({ ...sealed, chunks: flipped }),
      a!.site.upload(a!.site.pack(a!.task, a!.global, 1, 10, { chunkSize: 8 })),
      b!.site.upload(b!.site.pack(b!.task, b!.global, 4, 30, { chunkSize: 8 })),
    ]);
    expect(refused).toMatchObject({ accepted: false, reasonCode: "FL_DECRYPTION_FAILED" });
    expect(refused.accepted === false && refused.message).toContain("Chunk 0 failed authentication");
    expect(acceptedA).toEqual({ accepted: true });
    expect(acceptedB).toEqual({ accepted: true });

    await waitFor(() => h.store.lastCompletedRound() === 1);
    const round = h.store.listRounds().find((r) => r.status === "completed")!;
    expect(round.acceptedCount).toBe(2);
    expect(round.failures.map((f) => [f.siteId, f.reason.split(":")[1]?.trim()])).toEqual([
      ["tamper", "FL_DECRYPTION_FAILED"],
    ]);
    // FedAvg of deltas 1 and 4 over 10 and 30 examples: 3.25 on every weight.
    const latest = h.store.latestCheckpoint()!;
    const final = deserializeWeights(new Uint8Array(readFileSync(latest.path)));
    for (const [i, v] of final.values.entries()) expect(v).toBeCloseTo(a!.global.values[i]! + 3.25, 5);
  });
});

async function waitFor(ready: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !ready(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(ready()).toBe(true);
}
