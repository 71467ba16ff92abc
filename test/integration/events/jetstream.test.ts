import { connect, type JetStreamManager, type NatsConnection, StorageType } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, isFlError } from "../../../shared/src/errors.js";
import { decodeEvent, type FlEvent, makeEvent } from "../../../shared/src/events/index.js";
import { createNatsEventBus, type NatsEventBus } from "../../../shared/src/events/nats-bus.js";
import { type NatsServerHandle, startNatsServer } from "../../helpers/nats-server.js";

let server: NatsServerHandle;
let admin: NatsConnection;
let jsm: JetStreamManager;
const opened: NatsEventBus[] = [];

async function openBus(federationId: string, stream: string, log: string[] = []): Promise<NatsEventBus> {
  const bus = await createNatsEventBus({
    url: server.url,
    federationId,
    jetstream: { stream },
    log: (line) => log.push(line),
  });
  opened.push(bus);
  return bus;
}

/** Reads every stored message of `stream` by sequence number, straight from the server. */
async function storedEvents(stream: string): Promise<{ subject: string; event: FlEvent }[]> {
  const info = await jsm.streams.info(stream);
  const out: { subject: string; event: FlEvent }[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const message = await jsm.streams.getMessage(stream, { seq });
    const decoded = decodeEvent(message.data);
    if (!decoded.ok) throw new Error(`stored message ${seq} is malformed: ${decoded.reason}`);
    out.push({ subject: message.subject, event: decoded.event });
  }
  return out;
}

beforeAll(async () => {
  server = await startNatsServer({ jetstream: true });
  admin = await connect({ servers: server.url });
  jsm = await admin.jetstreamManager();
});

afterAll(async () => {
  for (const bus of opened) await bus.close();
  await admin?.close();
  await server?.stop();
});

describe("NATS event bus with JetStream", () => {
  it("creates a file-backed stream on the federation's subjects and stores every event, in order", async () => {
    const log: string[] = [];
    const bus = await openBus("fed1", "FL_AUDIT", log);
    const events = [
      makeEvent("federation.started", "fed1", { data: { phases: 2 } }),
      makeEvent("site.joined", "fed1", { siteId: "st-marys" }),
      makeEvent("round.completed", "fed1", { round: 1, data: { accepted: 1 } }),
    ];
    for (const event of events) await bus.publish(event);

    const info = await jsm.streams.info("FL_AUDIT");
    expect(info.config.storage).toBe(StorageType.File);
    expect(info.config.subjects).toEqual(["fl.fed1.>"]);
    expect(log).toContain("created JetStream stream FL_AUDIT on fl.fed1.>");

    const stored = await storedEvents("FL_AUDIT");
    expect(stored.map((s) => s.subject)).toEqual([
      "fl.fed1.federation.started",
      "fl.fed1.site.joined",
      "fl.fed1.round.completed",
    ]);
    expect(stored.map((s) => s.event)).toEqual(events);
  });

  it("still delivers stored events to live subscribers", async () => {
    const publisher = await openBus("fed2", "FL_AUDIT_2");
    const observer = await openBus("fed2", "FL_AUDIT_2");
    const seen: string[] = [];
    observer.subscribe((e) => seen.push(e.type));
    await observer.flush();
    await publisher.publish(makeEvent("round.started", "fed2", { round: 1 }));
    await publisher.publish(
      makeEvent("round.failed", "fed2", { round: 1, data: { reason: "NOT_ENOUGH_CLIENTS" } }),
    );
    await expect.poll(() => seen, { timeout: 5_000 }).toEqual(["round.started", "round.failed"]);
  });

  it("adds a second federation's subjects to an existing stream instead of failing", async () => {
    await openBus("fedA", "FL_SHARED");
    const second = await openBus("fedB", "FL_SHARED");
    await second.publish(makeEvent("site.left", "fedB", { siteId: "x" }));

    const info = await jsm.streams.info("FL_SHARED");
    expect(info.config.subjects).toEqual(["fl.fedA.>", "fl.fedB.>"]);
    expect((await storedEvents("FL_SHARED")).map((s) => s.subject)).toEqual(["fl.fedB.site.left"]);
  });

  it("reuses a stream whose wildcard already covers the federation", async () => {
    await jsm.streams.add({ name: "FL_WIDE", subjects: ["wide.>"], storage: StorageType.File });
    const bus = await createNatsEventBus({
      url: server.url,
      federationId: "fedW",
      subjectPrefix: "wide",
      jetstream: { stream: "FL_WIDE" },
      log: () => {},
    });
    opened.push(bus);
    await bus.publish(makeEvent("round.started", "fedW", { round: 4 }));
    expect((await jsm.streams.info("FL_WIDE")).config.subjects).toEqual(["wide.>"]);
    expect((await storedEvents("FL_WIDE")).map((s) => s.event.round)).toEqual([4]);
  });

  it("explains a subject clash with another stream", async () => {
    await jsm.streams.add({ name: "SOMEONE_ELSE", subjects: ["clash.>"], storage: StorageType.File });
    const error = await createNatsEventBus({
      url: server.url,
      federationId: "fedZ",
      subjectPrefix: "clash",
      jetstream: { stream: "FL_CLASH" },
      log: () => {},
    }).catch((e: unknown) => e);
    expect(isFlError(error, ErrorCode.InvalidConfig)).toBe(true);
    expect((error as Error).message).toContain("FL_CLASH");
  });
});
