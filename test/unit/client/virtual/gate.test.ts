import { describe, expect, it } from "vitest";
import { withGates } from "../../../../client/src/virtual/call-gates.js";
import { Gate } from "../../../../client/src/virtual/gate.js";
import type { CoordinatorPort } from "../../../../shared/src/fl/ports.js";

describe("Gate", () => {
  it("runs at most `limit` calls at once, the rest in arrival order, and passes results and errors through", async () => {
    const gate = new Gate(2);
    let running = 0;
    let most = 0;
    const order: number[] = [];
    const releases: (() => void)[] = [];
    const call = (n: number) =>
      gate.run(async () => {
        running++;
        most = Math.max(most, running);
        order.push(n);
        await new Promise<void>((resolve) => releases.push(resolve));
        running--;
        if (n === 3) throw new Error("three");
        return n * 10;
      });
    const results = [1, 2, 3, 4, 5].map((n) => call(n).catch((e: Error) => e.message));
    while (order.length < 5) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      releases.shift()?.();
    }
    for (const release of releases) release();
    expect(await Promise.all(results)).toEqual([10, 20, "three", 40, 50]);
    expect(order).toEqual([1, 2, 3, 4, 5]);
    expect(most).toBe(2);
    expect(() => new Gate(0)).toThrow(/positive integer/);
  });
});

describe("withGates", () => {
  it("gates the challenge and the join, and leaves every other call as it was", async () => {
    let inFlight = 0;
    let most = 0;
    const slow = async () => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight--;
      return "ok";
    };
    const port = {
      getChallenge: slow,
      join: slow,
      pullTask: slow,
      self: "port",
    } as unknown as CoordinatorPort;
    const joins = new Gate(1);
    const gated = withGates(port, { getChallenge: joins, join: joins });
    await Promise.all([
      gated.getChallenge({} as never),
      gated.join({} as never),
      gated.getChallenge({} as never),
    ]);
    expect(most).toBe(1);
    most = 0;
    await Promise.all([gated.pullTask({} as never, 1), gated.pullTask({} as never, 1)]);
    expect(most).toBe(2);
    expect((gated as unknown as { self: string }).self).toBe("port");
  });
});
