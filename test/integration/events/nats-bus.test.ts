import { createServer } from "node:net";
import { connect, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ErrorCode, isFlError } from "../../../shared/src/errors.js";
import { encodeEvent, type FlEvent, makeEvent } from "../../../shared/src/events/index.js";
import { createNatsEventBus, type NatsEventBus } from "../../../shared/src/events/nats-bus.js";
import { type NatsServerHandle, startNatsServer } from "../../helpers/nats-server.js";

let server: NatsServerHandle;
const opened: NatsEventBus[] = [];
const rawConnections: NatsConnection[] = [];

async function openBus(federationId: string, log: string[] = []): Promise<NatsEventBus> {
  const bus = await createNatsEventBus({ url: server.url, federationId, log: (line) => log.push(line) });
  opened.push(bus);
  return bus;
}

/** A port nothing listens on: bind an ephemeral port, then release it. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

beforeAll(async () => {
  server = await startNatsServer();
});

afterAll(async () => {
  for (const bus of opened) await bus.close();
  for (const nc of rawConnections) await nc.close();
  await server?.stop();
});

describe("NATS event bus on a real nats-server", () => {
  it("delivers events published by one bus to another bus of the same federation", async () => {
    const publisher = await openBus("fedA");
    const observer = await openBus("fedA");
    const seen: FlEvent[] = [];
    observer.subscribe((event) => seen.push(event));
    await observer.flush();

    const events = [
      makeEvent("round.started", "fedA", { round: 1, data: { sampled: ["a", "b"] } }),
      makeEvent("update.accepted", "fedA", { round: 1, siteId: "a", data: { numExamples: 120 } }),
      makeEvent("round.completed", "fedA", { round: 1, data: { accepted: 1, failed: 1 } }),
    ];
    for (const event of events) await publisher.publish(event);

    await vi.waitFor(() => expect(seen).toHaveLength(3), { timeout: 5_000 });
    expect(seen).toEqual(events);
  });

  it("publishes on prefix.federation.type with the JSON payload, as a raw NATS client sees it", async () => {
    const publisher = await openBus("fedRaw");
    const raw = await connect({ servers: server.url });
    rawConnections.push(raw);
    const received: { subject: string; payload: unknown }[] = [];
    raw.subscribe("fl.fedRaw.round.completed", {
      callback: (_error, msg) => received.push({ subject: msg.subject, payload: msg.json() }),
    });
    await raw.flush();

    const completed = makeEvent("round.completed", "fedRaw", { round: 2, data: { loss: 0.5 } });
    await publisher.publish(makeEvent("round.started", "fedRaw", { round: 2 }));
    await publisher.publish(completed);

    await vi.waitFor(() => expect(received).toHaveLength(1), { timeout: 5_000 });
    expect(received[0]?.subject).toBe("fl.fedRaw.round.completed");
    expect(received[0]?.payload).toEqual(JSON.parse(new TextDecoder().decode(encodeEvent(completed))));
  });

  it("applies type filters to remote events and keeps federations apart", async () => {
    const publisher = await openBus("fedF");
    const observer = await openBus("fedF");
    const other = await openBus("fedOther");
    const filtered: string[] = [];
    const otherSeen: string[] = [];
    const all: string[] = [];
    observer.subscribe((e) => filtered.push(e.type), { types: ["site.joined", "round.failed"] });
    observer.subscribe((e) => all.push(e.type));
    other.subscribe((e) => otherSeen.push(e.type));
    await observer.flush();
    await other.flush();

    for (const type of ["site.joined", "round.started", "round.failed", "federation.completed"] as const) {
      await publisher.publish(makeEvent(type, "fedF"));
    }

    await vi.waitFor(() => expect(all).toHaveLength(4), { timeout: 5_000 });
    expect(filtered).toEqual(["site.joined", "round.failed"]);
    expect(otherSeen).toEqual([]);
  });

  it("ignores and logs malformed or misrouted payloads and keeps delivering valid ones", async () => {
    const log: string[] = [];
    const observer = await openBus("fedM", log);
    const seen: string[] = [];
    observer.subscribe((e) => seen.push(e.type));
    await observer.flush();
    const raw = await connect({ servers: server.url });
    rawConnections.push(raw);

    const encoder = new TextEncoder();
    raw.publish("fl.fedM.round.started", encoder.encode("not json"));
    raw.publish("fl.fedM.round.started", encoder.encode(JSON.stringify({ type: "round.started", data: {} })));
    // Valid event, but on the subject of another type: a confused or hostile publisher.
    raw.publish("fl.fedM.round.completed", encodeEvent(makeEvent("round.failed", "fedM")));
    raw.publish("fl.fedM.site.left", encodeEvent(makeEvent("site.left", "fedM", { siteId: "b" })));
    await raw.flush();

    await vi.waitFor(() => expect(seen).toEqual(["site.left"]), { timeout: 5_000 });
    const ignored = log.filter((line) => line.startsWith("ignored"));
    expect(ignored).toHaveLength(3);
    expect(ignored[0]).toContain("not UTF-8 JSON");
  });

  it("stops remote delivery to a handler after it unsubscribes", async () => {
    const publisher = await openBus("fedU");
    const observer = await openBus("fedU");
    const kept: number[] = [];
    const dropped: number[] = [];
    observer.subscribe((e) => kept.push(e.round ?? -1));
    const unsubscribe = observer.subscribe((e) => dropped.push(e.round ?? -1));
    await observer.flush();

    await publisher.publish(makeEvent("round.started", "fedU", { round: 1 }));
    await vi.waitFor(() => expect(kept).toEqual([1]), { timeout: 5_000 });
    unsubscribe();
    await publisher.publish(makeEvent("round.started", "fedU", { round: 2 }));
    await vi.waitFor(() => expect(kept).toEqual([1, 2]), { timeout: 5_000 });
    expect(dropped).toEqual([1]);
  });

  it("refuses an event of another federation and oversized events", async () => {
    const bus = await openBus("fedV");
    const wrong = await bus.publish(makeEvent("round.started", "someone-else")).catch((e: unknown) => e);
    const huge = await bus
      .publish(makeEvent("round.started", "fedV", { data: { weights: "x".repeat(70_000) } }))
      .catch((e: unknown) => e);
    expect(isFlError(wrong, ErrorCode.InvalidArgument)).toBe(true);
    expect(isFlError(huge, ErrorCode.TooLarge)).toBe(true);
  });

  it("fails with a clear InvalidConfig error naming the URL when nothing listens there", async () => {
    const port = await closedPort();
    const url = `nats://fl-user:s3cret@127.0.0.1:${port}`;
    const started = Date.now();
    const error = await createNatsEventBus({ url, federationId: "fedX", connectTimeoutMs: 2_000 }).catch(
      (e: unknown) => e,
    );
    expect(isFlError(error, ErrorCode.InvalidConfig)).toBe(true);
    const message = (error as Error).message;
    expect(message).toContain(`127.0.0.1:${port}`);
    expect(message).toContain("nats-server");
    expect(message).not.toContain("s3cret");
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("rejects invalid options before connecting", async () => {
    const error = await createNatsEventBus({ url: server.url, federationId: "fed.with.dots" }).catch(
      (e: unknown) => e,
    );
    expect(isFlError(error, ErrorCode.InvalidConfig)).toBe(true);
    expect((error as Error).message).toContain("fed.with.dots");
  });

  it("says JetStream is missing when asked for a stream on a server without it", async () => {
    const error = await createNatsEventBus({
      url: server.url,
      federationId: "fedJ",
      jetstream: { stream: "FL_EVENTS" },
    }).catch((e: unknown) => e);
    expect(isFlError(error, ErrorCode.InvalidConfig)).toBe(true);
    expect((error as Error).message).toContain("-js");
  });

  it("drops and logs publishes after close instead of throwing", async () => {
    const log: string[] = [];
    const bus = await createNatsEventBus({ url: server.url, federationId: "fedC", log: (l) => log.push(l) });
    await bus.close();
    await bus.close();
    await expect(bus.publish(makeEvent("round.started", "fedC"))).resolves.toBeUndefined();
    expect(log).toContain("bus is closed; dropped round.started event");
  });
});
