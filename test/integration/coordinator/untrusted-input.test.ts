import { afterEach, describe, expect, it } from "vitest";
import { publicIdentity } from "../../../shared/src/crypto/index.js";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import { MAX_ERROR_MESSAGE_CHARS } from "../../../shared/src/fl/limits.js";
import { type Harness, startHarness } from "../../helpers/coordinator-harness.js";
import { FakeSite } from "../../helpers/fake-site.js";

let harness: Harness | undefined;
const closers: (() => void)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0)) close();
  await harness?.close();
  harness = undefined;
});

async function failure(call: () => Promise<unknown>): Promise<FlError> {
  try {
    await call();
  } catch (error) {
    if (error instanceof FlError) return error;
    throw error;
  }
  throw new Error("the call succeeded");
}

describe("oversized input over real gRPC", () => {
  it("answers a 1 MiB site id with a short InvalidArgument, and an honest site on the same connection carries on", async () => {
    harness = await startHarness({ siteIds: ["a"] });
    const site = new FakeSite(harness.address, harness.sites.get("a")!, publicIdentity(harness.coordinator));
    closers.push(() => site.close());
    await site.join();

    const huge = "x".repeat(1 << 20);
    for (const call of [
      () => site.connection.getChallenge({ siteId: huge, clientNonce: new Uint8Array(32) }),
      () =>
        site.connection.join({ siteId: huge, challenge: new Uint8Array(32), signature: new Uint8Array(64) }),
    ]) {
      const error = await failure(call);
      expect(error.code).toBe(ErrorCode.InvalidArgument);
      expect(error.message).toContain("site id");
      expect(error.message.length).toBeLessThan(MAX_ERROR_MESSAGE_CHARS);
    }

    // The same channel still serves the honest site: its task, its model, its upload.
    const task = await site.nextTask();
    if (task === "done") throw new Error("unexpected done");
    const weights = await site.download(task);
    const verdict = await site.upload(site.pack(task, weights, 1, 1));
    expect(verdict).toEqual({ accepted: true });
  });
});
