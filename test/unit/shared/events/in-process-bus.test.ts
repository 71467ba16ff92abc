import { describe, expect, it } from "vitest";
import { ErrorCode, isFlError } from "../../../../shared/src/errors.js";
import {
  createInProcessEventBus,
  type FlEvent,
  MAX_EVENT_BYTES,
  makeEvent,
} from "../../../../shared/src/events/index.js";

const fixedNow = () => new Date("2024-05-01T10:00:00.000Z");

function collectingBus() {
  const lines: string[] = [];
  const bus = createInProcessEventBus({ log: (line) => lines.push(line) });
  return { bus, lines };
}

describe("in-process event bus", () => {
  it("delivers each published event to every subscriber, in publish order", async () => {
    const { bus } = collectingBus();
    const a: FlEvent[] = [];
    const b: string[] = [];
    bus.subscribe((e) => a.push(e));
    bus.subscribe((e) => b.push(`${e.type}#${e.round}`));

    const first = makeEvent("round.started", "fed1", { round: 1 }, fixedNow);
    const second = makeEvent("round.completed", "fed1", { round: 1, data: { accepted: 2 } }, fixedNow);
    await bus.publish(first);
    await bus.publish(second);

    expect(a).toEqual([first, second]);
    expect(b).toEqual(["round.started#1", "round.completed#1"]);
  });

  it("passes only the filtered types to a filtered subscriber", async () => {
    const { bus } = collectingBus();
    const seen: string[] = [];
    bus.subscribe((e) => seen.push(e.type), { types: ["site.joined", "round.failed"] });
    for (const type of ["site.joined", "round.started", "round.failed", "update.accepted"] as const) {
      await bus.publish(makeEvent(type, "fed1"));
    }
    expect(seen).toEqual(["site.joined", "round.failed"]);
  });

  it("treats an empty types list as no filter", async () => {
    const { bus } = collectingBus();
    const seen: string[] = [];
    bus.subscribe((e) => seen.push(e.type), { types: [] });
    await bus.publish(makeEvent("site.left", "fed1"));
    expect(seen).toEqual(["site.left"]);
  });

  it("stops delivering after unsubscribe, and unsubscribe is idempotent", async () => {
    const { bus } = collectingBus();
    const seen: number[] = [];
    const unsubscribe = bus.subscribe((e) => seen.push(e.round ?? -1));
    await bus.publish(makeEvent("round.started", "fed1", { round: 1 }));
    unsubscribe();
    unsubscribe();
    await bus.publish(makeEvent("round.started", "fed1", { round: 2 }));
    expect(seen).toEqual([1]);
  });

  it("gives the same handler subscribed twice two deliveries and independent unsubscribes", async () => {
    const { bus } = collectingBus();
    let calls = 0;
    const handler = () => {
      calls += 1;
    };
    const first = bus.subscribe(handler);
    bus.subscribe(handler);
    await bus.publish(makeEvent("round.started", "fed1"));
    first();
    await bus.publish(makeEvent("round.started", "fed1"));
    expect(calls).toBe(3);
  });

  it("isolates a throwing or rejecting handler from the publisher and the other handlers", async () => {
    const { bus, lines } = collectingBus();
    const seen: string[] = [];
    bus.subscribe(() => {
      throw new Error("boom");
    });
    bus.subscribe(async () => {
      throw new Error("async boom");
    });
    bus.subscribe((e) => seen.push(e.type));

    await expect(bus.publish(makeEvent("update.rejected", "fed1"))).resolves.toBeUndefined();
    await new Promise((resolve) => setImmediate(resolve));

    expect(seen).toEqual(["update.rejected"]);
    expect(lines).toContain("event handler failed on update.rejected: boom");
    expect(lines).toContain("event handler failed on update.rejected: async boom");
  });

  it("lets a handler unsubscribe another during delivery without skipping or crashing", async () => {
    const { bus } = collectingBus();
    const seen: string[] = [];
    let unsubscribeB = () => {};
    bus.subscribe(() => {
      seen.push("a");
      unsubscribeB();
    });
    unsubscribeB = bus.subscribe(() => seen.push("b"));
    bus.subscribe(() => seen.push("c"));
    await bus.publish(makeEvent("round.started", "fed1"));
    await bus.publish(makeEvent("round.started", "fed1"));
    expect(seen).toEqual(["a", "c", "a", "c"]);
  });

  it("rejects events that would not survive the NATS bus: oversized or non-JSON data", async () => {
    const { bus } = collectingBus();
    const huge = makeEvent("round.completed", "fed1", { data: { blob: "x".repeat(MAX_EVENT_BYTES) } });
    const bigint = makeEvent("round.completed", "fed1", { data: { n: 1n } });

    const tooLarge = await bus.publish(huge).catch((error: unknown) => error);
    const notJson = await bus.publish(bigint).catch((error: unknown) => error);

    expect(isFlError(tooLarge, ErrorCode.TooLarge)).toBe(true);
    expect(isFlError(notJson, ErrorCode.InvalidArgument)).toBe(true);
  });

  it("drops and logs events published after close, and delivers nothing", async () => {
    const { bus, lines } = collectingBus();
    const seen: string[] = [];
    bus.subscribe((e) => seen.push(e.type));
    await bus.close();
    await bus.close();
    await bus.publish(makeEvent("federation.completed", "fed1"));
    expect(seen).toEqual([]);
    expect(lines).toEqual(["bus is closed; dropped federation.completed event"]);
  });
});
