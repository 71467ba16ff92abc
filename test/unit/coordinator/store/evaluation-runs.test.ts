import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { StateStore } from "../../../../coordinator/src/store/state-store.js";
import { ErrorCode } from "../../../../shared/src/errors.js";
import { expectFlError } from "../../../helpers/expect-fl-error.js";

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

it("keeps an evaluation run's expected sites across a reopen, and a restarted run is unsettled again", () => {
  dir = mkdtempSync(join(tmpdir(), "fl-store-"));
  const path = join(dir, "state.db");
  let store = StateStore.open(path, { federationId: "f" });
  store.startEvaluation({ modelVersion: 3, round: 2, expected: ["a", "b"], startedAtMs: 10 });
  store.settleEvaluation({ modelVersion: 3, failures: [{ siteId: "b", reason: "gone" }], settledAtMs: 20 });
  store.close();
  store = StateStore.open(path, { federationId: "f" });
  try {
    expect(store.evaluationRun(3)).toEqual({
      modelVersion: 3,
      round: 2,
      expected: ["a", "b"],
      failures: [{ siteId: "b", reason: "gone" }],
      startedAtMs: 10,
      settledAtMs: 20,
    });
    store.startEvaluation({ modelVersion: 3, round: 2, expected: ["a", "b", "c"], startedAtMs: 30 });
    expect(store.evaluationRun(3)).toEqual({
      modelVersion: 3,
      round: 2,
      expected: ["a", "b", "c"],
      failures: [],
      startedAtMs: 30,
      settledAtMs: null,
    });
    expect(store.evaluationRun(4)).toBeUndefined();
    expectFlError(
      () => store.settleEvaluation({ modelVersion: 4, failures: [], settledAtMs: 40 }),
      ErrorCode.Internal,
      "no evaluation of model v4 was started",
    );
  } finally {
    store.close();
  }
});
