import { describe, expect, it } from "vitest";
import { createLocalFirstBus, makeEvent } from "../../../../shared/src/events/index.js";
import type { EventBus, FlEvent } from "../../../../shared/src/events/types.js";

/** An outward bus whose publishes resolve only when the test says so (a broker that hangs). */
function stalledOutward() {
  const sent: FlEvent[] = [];
  const pending: Array<() => void> = [];
  let closed = false;
  const bus: EventBus = {
    publish(event) {
      sent.push(event);
      return new Promise<void>((resolve) => pending.push(resolve));
    },
    subscribe() {
      throw new Error("the local-first bus must not subscribe outward");
    },
    async close() {
      closed = true;
    },
  };
  return {
    bus,
    sent,
    release: () => {
      for (const resolve of pending.splice(0)) resolve();
    },
    isClosed: () => closed,
  };
}

const round = (n: number) => makeEvent("round.completed", "fed", { round: n });
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("local-first event bus", () => {
  it("delivers to local handlers before publish resolves, even while the outward bus hangs", async () => {
    const outward = stalledOutward();
    const bus = createLocalFirstBus({ outward: outward.bus, log: () => {} });
    const seen: number[] = [];
    bus.subscribe((e) => seen.push(e.round ?? -1));
    await bus.publish(round(1));
    await bus.publish(round(2));
    await bus.publish(round(3));
    expect(seen).toEqual([1, 2, 3]);
    // One copy in flight at a time: the second waits for the first, so order is kept outward.
    expect(outward.sent.map((e) => e.round)).toEqual([1]);
    outward.release();
    await tick();
    expect(outward.sent.map((e) => e.round)).toEqual([1, 2]);
    outward.release();
    await tick();
    outward.release();
    await tick();
    expect(outward.sent.map((e) => e.round)).toEqual([1, 2, 3]);
  });

  it("bounds the copies waiting for a stalled outward bus, dropping the oldest and saying so once", async () => {
    const outward = stalledOutward();
    const log: string[] = [];
    const bus = createLocalFirstBus({ outward: outward.bus, log: (l) => log.push(l), queueLimit: 2 });
    for (let n = 1; n <= 6; n++) await bus.publish(round(n));
    // 1 is in flight; of 2..6 only the newest two (5, 6) stay queued.
    expect(log.filter((l) => l.includes("dropping the oldest"))).toHaveLength(1);
    for (let i = 0; i < 4; i++) {
      outward.release();
      await tick();
    }
    expect(outward.sent.map((e) => e.round)).toEqual([1, 5, 6]);
    expect(log.some((l) => l.startsWith("3 events were not copied"))).toBe(true);
  });

  it("keeps delivering locally when outward publishes reject, and logs each lost copy", async () => {
    const log: string[] = [];
    const outward: EventBus = {
      publish: () => Promise.reject(new Error("broker gone")),
      subscribe: () => () => {},
      close: async () => {},
    };
    const bus = createLocalFirstBus({ outward, log: (l) => log.push(l) });
    const seen: string[] = [];
    bus.subscribe((e) => seen.push(e.type), { types: ["federation.completed"] });
    await bus.publish(round(1));
    await bus.publish(makeEvent("federation.completed", "fed"));
    await tick();
    expect(seen).toEqual(["federation.completed"]);
    expect(log.filter((l) => l.includes("not copied to the event bus: broker gone"))).toHaveLength(2);
  });

  it("rejects malformed events before anyone sees them, as every bus does", async () => {
    const outward = stalledOutward();
    const bus = createLocalFirstBus({ outward: outward.bus, log: () => {} });
    const seen: FlEvent[] = [];
    bus.subscribe((e) => seen.push(e));
    const bad = { ...round(1), data: { big: "x".repeat(70_000) } };
    await expect(bus.publish(bad)).rejects.toMatchObject({ code: "FL_TOO_LARGE" });
    expect(seen).toEqual([]);
    expect(outward.sent).toEqual([]);
  });

  it("close waits a bounded time for queued copies, then closes the outward bus", async () => {
    const outward = stalledOutward();
    const log: string[] = [];
    const bus = createLocalFirstBus({ outward: outward.bus, log: (l) => log.push(l), drainTimeoutMs: 50 });
    await bus.publish(round(1));
    await bus.publish(round(2));
    const started = Date.now();
    await bus.close();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(outward.isClosed()).toBe(true);
    expect(log).toContain("closing with 1 events not copied to the event bus");
    await bus.publish(round(3));
    expect(outward.sent.map((e) => e.round)).toEqual([1]);
  });
});
