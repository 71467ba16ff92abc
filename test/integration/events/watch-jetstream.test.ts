import { afterEach, describe, expect, it } from "vitest";
import { watchEvents } from "../../../cli/commands/events.js";
import { makeEvent } from "../../../shared/src/events/index.js";
import { createNatsEventBus, type NatsEventBus } from "../../../shared/src/events/nats-bus.js";
import { type NatsServerHandle, startNatsServer } from "../../helpers/nats-server.js";

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function jetStreamServer(): Promise<NatsServerHandle> {
  const server = await startNatsServer({ jetstream: true });
  cleanups.push(() => server.stop());
  return server;
}

async function publisherOn(server: NatsServerHandle, federationId: string): Promise<NatsEventBus> {
  const bus = await createNatsEventBus({
    url: server.url,
    federationId,
    jetstream: { stream: `FL_${federationId}` },
    publishTimeoutMs: 1_000,
    closeTimeoutMs: 1_000,
    log: () => {},
  });
  cleanups.push(() => bus.close());
  return bus;
}

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
  cleanups.push(async () => {
    abort.abort();
    await done.catch(() => {});
  });
  return { out, err, abort, ready, done };
}

const roundsOf = (lines: readonly string[]) =>
  lines.map((line) => (JSON.parse(line) as { round: number }).round);

describe("fl events watch on a JetStream stream", () => {
  it("sees every event exactly once, in order, across a nats-server restart", async () => {
    const server = await jetStreamServer();
    const before = await publisherOn(server, "fedJ");
    const watch = startWatch({ url: server.url, federationId: "fedJ", json: true });
    await watch.ready;
    for (let round = 1; round <= 4; round++)
      await before.publish(makeEvent("round.completed", "fedJ", { round }));
    await expect.poll(() => watch.out.length, { timeout: 5_000 }).toBe(4);

    await server.restart();
    // A fresh connection is up at once, while the watcher waits out its reconnect delay (about a
    // second): these are stored while the watcher is away, which a live subscription never sees.
    const after = await publisherOn(server, "fedJ");
    for (let round = 5; round <= 8; round++)
      await after.publish(makeEvent("round.completed", "fedJ", { round }));
    await expect
      .poll(() => watch.err.some((l) => l.startsWith("reconnected")), { timeout: 15_000 })
      .toBe(true);
    for (let round = 9; round <= 10; round++)
      await after.publish(makeEvent("round.completed", "fedJ", { round }));

    await expect.poll(() => watch.out.length, { timeout: 15_000 }).toBeGreaterThanOrEqual(10);
    // Time for a duplicate to show up, if the consumer replayed anything.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    watch.abort.abort();
    await expect(watch.done).resolves.toBe(10);
    expect(roundsOf(watch.out)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  }, 60_000);

  it("says how many events the stream holds, and --replay prints them before the new ones", async () => {
    const server = await jetStreamServer();
    const publisher = await publisherOn(server, "fedS");
    for (let round = 1; round <= 3; round++)
      await publisher.publish(makeEvent("round.started", "fedS", { round }));

    const live = startWatch({ url: server.url, federationId: "fedS", json: true });
    await live.ready;
    expect(live.err[0]).toContain(
      "from JetStream stream FL_fedS: 3 stored events of this federation; showing new ones",
    );
    const replay = startWatch({ url: server.url, federationId: "fedS", json: true, replay: true });
    await replay.ready;
    await publisher.publish(makeEvent("round.started", "fedS", { round: 4 }));

    await expect.poll(() => roundsOf(replay.out), { timeout: 5_000 }).toEqual([1, 2, 3, 4]);
    await expect.poll(() => roundsOf(live.out), { timeout: 5_000 }).toEqual([4]);
  }, 30_000);

  it("says so when no stream stores the federation's events instead of waiting silently", async () => {
    const server = await jetStreamServer();
    await publisherOn(server, "fedS");
    const typo = startWatch({ url: server.url, federationId: "fedT", json: true });
    await typo.ready;
    expect(typo.err[0]).toContain("no JetStream stream stores fl.fedT.>, so only live events are shown");
  }, 30_000);
});
