import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { CoordinatorConfigSchema } from "../../../coordinator/src/config.js";
import { runCoordinator } from "../../../coordinator/src/main.js";
import {
  generateIdentity,
  identityToJson,
  publicIdentity,
  publicIdentityToJson,
} from "../../../shared/src/crypto/index.js";
import type { FlEvent } from "../../../shared/src/events/types.js";
import { FakeSite } from "../../helpers/fake-site.js";
import { type NatsServerHandle, startNatsServer } from "../../helpers/nats-server.js";

const dirs: string[] = [];
const sites: FakeSite[] = [];
let nats: NatsServerHandle | undefined;

afterEach(async () => {
  for (const site of sites.splice(0)) site.close();
  await nats?.stop();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function roundsOnDisk(dir: string): Array<{ round: number; modelVersion: number | null }> {
  return JSON.parse(readFileSync(join(dir, "rounds.json"), "utf8")) as Array<{
    round: number;
    modelVersion: number | null;
  }>;
}

it("with NATS killed mid-run and never back, the run completes, reports are written per round and completion is seen", async () => {
  nats = await startNatsServer({ jetstream: true });
  const dir = mkdtempSync(join(tmpdir(), "fl-nats-outage-"));
  dirs.push(dir);
  const coordinatorIdentity = generateIdentity("coordinator");
  const siteIdentity = generateIdentity("a");
  mkdirSync(join(dir, "sites"));
  writeFileSync(join(dir, "coordinator.identity.json"), identityToJson(coordinatorIdentity), { mode: 0o600 });
  writeFileSync(join(dir, "sites", "a.public.json"), publicIdentityToJson(publicIdentity(siteIdentity)));
  const config = CoordinatorConfigSchema.parse({
    federationId: "outage",
    listen: "127.0.0.1:0",
    insecure: true,
    stateDir: dir,
    identity: join(dir, "coordinator.identity.json"),
    sitesDir: join(dir, "sites"),
    nats: { url: nats.url, jetstream: true },
    model: { architecture: "small-cnn", imageSize: 16, widths: [2], numClasses: 4, seed: 3 },
    plan: {
      phases: [{ name: "p", task: "classify", rounds: 3 }],
      minSites: 1,
      roundTimeoutSec: 60,
      evaluateEvery: 0,
      // Nobody answers the final evaluation: it times out at once and the plan completes.
      evaluationTimeoutSec: 1,
    },
    limits: { heartbeatIntervalMs: 200, heartbeatTimeoutSec: 30 },
  });

  const log: string[] = [];
  const events: FlEvent[] = [];
  // What the reports said at the moment each round.completed reached the coordinator's own hooks.
  const reportedAtEvent = new Map<number, number | null | undefined>();
  let listening: (address: string) => void = () => {};
  const address = new Promise<string>((resolve) => {
    listening = resolve;
  });
  const run = runCoordinator(config, {
    log: (line) => log.push(line),
    onEvent: (event) => {
      events.push(event);
      if (event.type === "round.completed" && event.round !== undefined)
        reportedAtEvent.set(
          event.round,
          roundsOnDisk(dir).find((r) => r.round === event.round)?.modelVersion,
        );
    },
    onListening: (a) => listening(a),
  });
  const site = new FakeSite(await address, siteIdentity, publicIdentity(coordinatorIdentity));
  sites.push(site);
  await site.join();
  const deliver = async () => {
    const task = await site.nextTask();
    if (task === "done") throw new Error("unexpected done");
    const global = await site.download(task);
    expect(await site.upload(site.pack(task, global, 0.25, 4))).toMatchObject({ accepted: true });
  };

  await deliver();
  await expect.poll(() => reportedAtEvent.has(1), { timeout: 10_000 }).toBe(true);
  await nats.kill();
  await expect
    .poll(() => log.some((l) => l.startsWith("disconnected from NATS")), { timeout: 10_000 })
    .toBe(true);
  await deliver();
  await deliver();
  // The final evaluation task is handed out until its deadline passes; then the plan is done.
  for (let next = await site.nextTask(); next !== "done"; next = await site.nextTask()) {
    expect(next.kind).toBe("evaluate");
    await new Promise((resolve) => setTimeout(resolve, 200));
  }

  await expect(run).resolves.toMatchObject({ status: "completed" });
  expect(events.map((e) => e.type)).toContain("federation.completed");
  // Written before each round's event reached the hooks, not only at the end.
  expect([...reportedAtEvent]).toEqual([
    [1, 1],
    [2, 2],
    [3, 3],
  ]);
  // The outage is reported once, not once per event or per reconnect attempt.
  expect(log.filter((l) => l.includes("disconnected from NATS"))).toHaveLength(1);
}, 60_000);
