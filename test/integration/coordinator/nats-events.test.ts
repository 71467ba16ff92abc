import { connect, StringCodec } from "nats";
import { afterEach, expect, it } from "vitest";
import { publicIdentity } from "../../../shared/src/crypto/index.js";
import { createNatsEventBus } from "../../../shared/src/events/nats-bus.js";
import { type Harness, startHarness } from "../../helpers/coordinator-harness.js";
import { FakeSite } from "../../helpers/fake-site.js";
import { type NatsServerHandle, startNatsServer } from "../../helpers/nats-server.js";

let nats: NatsServerHandle | undefined;
let harness: Harness | undefined;
let site: FakeSite | undefined;

afterEach(async () => {
  site?.close();
  await harness?.close();
  await nats?.stop();
});

it("a coordinator publishes its federation's events to a real nats-server, on per-type subjects", async () => {
  nats = await startNatsServer();
  const watcher = await connect({ servers: nats.url });
  const seen: Array<{ subject: string; type: string; round?: number }> = [];
  const subscription = watcher.subscribe("fl.test.>");
  void (async () => {
    for await (const message of subscription) {
      const event = JSON.parse(StringCodec().decode(message.data)) as { type: string; round?: number };
      seen.push({
        subject: message.subject,
        type: event.type,
        ...(event.round !== undefined && { round: event.round }),
      });
    }
  })();
  await watcher.flush();

  const bus = await createNatsEventBus({ url: nats.url, federationId: "test" });
  harness = await startHarness({
    siteIds: ["a"],
    bus,
    plan: { minSites: 1, phases: [{ name: "p", task: "classify", rounds: 1 }] },
  });
  site = new FakeSite(harness.address, harness.sites.get("a")!, publicIdentity(harness.coordinator));
  await site.join();
  const task = await site.nextTask();
  if (task === "done") throw new Error("unexpected done");
  const global = await site.download(task);
  expect(await site.upload(site.pack(task, global, 0.5, 4))).toMatchObject({ accepted: true });

  const until = Date.now() + 10_000;
  while (!seen.some((e) => e.type === "round.completed") && Date.now() < until)
    await new Promise((r) => setTimeout(r, 50));
  await watcher.drain();
  expect(seen).toEqual(
    expect.arrayContaining([
      { subject: "fl.test.federation.started", type: "federation.started" },
      { subject: "fl.test.site.joined", type: "site.joined" },
      { subject: "fl.test.round.started", type: "round.started", round: 1 },
      { subject: "fl.test.update.accepted", type: "update.accepted", round: 1 },
      { subject: "fl.test.round.completed", type: "round.completed", round: 1 },
    ]),
  );
});
