import { connect } from "nats";
import { afterEach, describe, expect, it } from "vitest";
import { decodeEvent, makeEvent } from "../../../shared/src/events/index.js";
import { createNatsEventBus, type NatsEventBus } from "../../../shared/src/events/nats-bus.js";
import { type NatsServerHandle, startNatsServer } from "../../helpers/nats-server.js";

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serverFor(jetstream: boolean): Promise<NatsServerHandle> {
  const server = await startNatsServer({ jetstream });
  cleanups.push(() => server.stop());
  return server;
}

async function busOn(
  server: NatsServerHandle,
  federationId: string,
  extra: { jetstream?: { stream: string } } = {},
): Promise<{ bus: NatsEventBus; log: string[] }> {
  const log: string[] = [];
  const bus = await createNatsEventBus({
    url: server.url,
    federationId,
    publishTimeoutMs: 500,
    closeTimeoutMs: 1_000,
    log: (line) => log.push(line),
    ...extra,
  });
  cleanups.push(() => bus.close());
  return { bus, log };
}

const reconnected = (log: string[]) => log.some((line) => line.startsWith("reconnected"));

describe("NATS event bus across a server outage", () => {
  it("core: publish resolves while the server is down, and delivery resumes after it returns", async () => {
    const server = await serverFor(false);
    const { bus: publisher, log: publisherLog } = await busOn(server, "fedR");
    const { bus: observer, log: observerLog } = await busOn(server, "fedR");
    const seen: number[] = [];
    observer.subscribe((e) => seen.push(e.round ?? -1));
    await observer.flush();
    await publisher.publish(makeEvent("round.completed", "fedR", { round: 1 }));
    await expect.poll(() => seen, { timeout: 5_000 }).toEqual([1]);

    await server.kill();
    await expect
      .poll(() => publisherLog.some((l) => l.startsWith("disconnected")), { timeout: 5_000 })
      .toBe(true);
    await expect(
      publisher.publish(makeEvent("round.completed", "fedR", { round: 2 })),
    ).resolves.toBeUndefined();

    await server.restart();
    await expect
      .poll(() => reconnected(publisherLog) && reconnected(observerLog), { timeout: 15_000 })
      .toBe(true);
    await observer.flush();
    await publisher.publish(makeEvent("round.completed", "fedR", { round: 3 }));
    // Round 2 went out while nobody could receive it: core NATS is best effort. Round 3 must arrive.
    await expect.poll(() => seen.includes(3), { timeout: 5_000 }).toBe(true);
  });

  it("jetstream: events published while the server is down are queued and stored after it returns", async () => {
    const server = await serverFor(true);
    const { bus, log } = await busOn(server, "fedD", { jetstream: { stream: "FL_OUTAGE" } });
    await bus.publish(makeEvent("round.started", "fedD", { round: 1 }));

    await server.kill();
    await expect.poll(() => log.some((l) => l.startsWith("disconnected")), { timeout: 5_000 }).toBe(true);
    const started = Date.now();
    await bus.publish(makeEvent("update.accepted", "fedD", { round: 1, siteId: "a" }));
    await bus.publish(makeEvent("round.completed", "fedD", { round: 1 }));
    // Queued, not waiting for acknowledgements that cannot come (two 500 ms timeouts would take 1 s).
    expect(Date.now() - started).toBeLessThan(900);

    await server.restart();
    const admin = await connect({ servers: server.url });
    cleanups.push(() => admin.close());
    const jsm = await admin.jetstreamManager();
    await expect
      .poll(async () => (await jsm.streams.info("FL_OUTAGE")).state.messages, {
        timeout: 15_000,
        interval: 200,
      })
      .toBe(3);

    const types: string[] = [];
    for (let seq = 1; seq <= 3; seq++) {
      const decoded = decodeEvent((await jsm.streams.getMessage("FL_OUTAGE", { seq })).data);
      types.push(decoded.ok ? decoded.event.type : `malformed: ${decoded.reason}`);
    }
    expect(types).toEqual(["round.started", "update.accepted", "round.completed"]);
  });

  it("close() returns promptly while the server is gone", async () => {
    const server = await serverFor(true);
    const { bus, log } = await busOn(server, "fedG", { jetstream: { stream: "FL_GONE" } });
    await server.kill();
    await expect.poll(() => log.some((l) => l.startsWith("disconnected")), { timeout: 5_000 }).toBe(true);
    await bus.publish(makeEvent("federation.completed", "fedG"));
    const started = Date.now();
    await bus.close();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(log).toContain("closing with 1 queued events not stored in JetStream");
  });
});
