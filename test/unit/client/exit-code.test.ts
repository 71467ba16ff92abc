import { describe, expect, it } from "vitest";
import { clientExitCode } from "../../../client/src/main.js";

describe("fl client's exit status", () => {
  it("is 0 only when the coordinator completed its plan, or the client was stopped here", () => {
    // The coordinator's words (round-runner.ts), as they arrive with "done".
    expect(clientExitCode("the plan is complete", false)).toBe(0);
    expect(
      clientExitCode(
        "the federation failed: cannot write checkpoint v3 to /state/checkpoints/model-v00003.flw: ENOSPC",
        false,
      ),
    ).toBe(1);
    expect(clientExitCode("the coordinator is shutting down", false)).toBe(1);
    expect(clientExitCode("stopped", true)).toBe(0);
  });
});
