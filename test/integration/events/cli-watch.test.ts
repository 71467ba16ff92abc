import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { watchEvents } from "../../../cli/commands/events.js";
import { makeEvent } from "../../../shared/src/events/index.js";
import { createNatsEventBus, type NatsEventBus } from "../../../shared/src/events/nats-bus.js";
import { type NatsServerHandle, startNatsServer } from "../../helpers/nats-server.js";

let server: NatsServerHandle;
let publisher: NatsEventBus;
const at = (ms: number) => () => new Date(Date.UTC(2024, 0, 2, 3, 4, 5, ms));

beforeAll(async () => {
  server = await startNatsServer();
  publisher = await createNatsEventBus({ url: server.url, federationId: "fedW", log: () => {} });
});

afterAll(async () => {
  await publisher?.close();
  await server?.stop();
});

/** Starts a watch and resolves `ready` once it reports it is subscribed. */
function startWatch(options: Parameters<typeof watchEvents>[0]) {
  const out: string[] = [];
  const err: string[] = [];
  const abort = new AbortController();
  let markReady = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  const done = watchEvents(options, {
    out: (line) => out.push(line),
    err: (line) => {
      err.push(line);
      if (line.startsWith("watching")) markReady();
    },
    signal: abort.signal,
  });
  return { out, err, abort, ready, done };
}

describe("fl events watch", () => {
  it("prints filtered events as human-readable lines until aborted", async () => {
    const watch = startWatch({
      url: server.url,
      federationId: "fedW",
      types: ["round.completed", "site.joined"],
    });
    await watch.ready;

    await publisher.publish(makeEvent("site.joined", "fedW", { siteId: "st-marys" }, at(1)));
    await publisher.publish(makeEvent("round.started", "fedW", { round: 1 }, at(2)));
    await publisher.publish(makeEvent("round.completed", "fedW", { round: 1, data: { accepted: 2 } }, at(3)));
    await expect.poll(() => watch.out.length, { timeout: 5_000 }).toBe(2);
    watch.abort.abort();

    await expect(watch.done).resolves.toBe(2);
    expect(watch.out).toEqual([
      "2024-01-02T03:04:05.001Z site.joined site=st-marys",
      "2024-01-02T03:04:05.003Z round.completed round=1 accepted=2",
    ]);
    // This server has no JetStream: the watch says that it can only show live events.
    expect(watch.err[0]).toMatch(
      /^watching fl\.fedW\.> on nats:\/\/127\.0\.0\.1:\d+ \(types: round\.completed, site\.joined\): JetStream is not available on this server .*only live events are shown/,
    );
  });

  it("prints JSON lines and stops by itself after --count events", async () => {
    const watch = startWatch({ url: server.url, federationId: "fedW", json: true, count: 2 });
    await watch.ready;

    const events = [
      makeEvent("round.started", "fedW", { round: 7 }, at(4)),
      makeEvent("round.failed", "fedW", { round: 7, data: { reason: "NOT_ENOUGH_CLIENTS" } }, at(5)),
      makeEvent("federation.completed", "fedW", {}, at(6)),
    ];
    for (const event of events) await publisher.publish(event);

    await expect(watch.done).resolves.toBe(2);
    expect(watch.out.map((line) => JSON.parse(line))).toEqual([events[0], events[1]]);
  });
});
