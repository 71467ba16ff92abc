import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, nkeys, StringCodec } from "nats";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { watchEvents } from "../../../cli/commands/events.js";
import { loadCoordinatorConfig } from "../../../coordinator/src/config.js";
import { openCoordinatorEventBus } from "../../../coordinator/src/event-bus.js";
import { makeEvent } from "../../../shared/src/events/index.js";
import { createNatsEventBus, type NatsAuth } from "../../../shared/src/events/nats-bus.js";
import { type NatsServerHandle, startNatsServer } from "../../helpers/nats-server.js";

// The coordinator may write its federation's subjects and create its stream; the watcher may
// only read (stream info, an ordered consumer). Neither may purge or delete: this is the
// snippet docs/deploy.md gives.
const PERMISSIONS = `
authorization {
  users = [
    { user: coordinator, password: "coordinator-secret", permissions: {
        publish: ["fl.fedA.>", "$JS.API.INFO", "$JS.API.STREAM.INFO.FL_fedA", "$JS.API.STREAM.CREATE.FL_fedA"]
        subscribe: ["_INBOX.>"] } }
    { user: watcher, password: "watcher-secret", permissions: {
        publish: ["$JS.API.INFO", "$JS.API.STREAM.NAMES", "$JS.API.STREAM.INFO.FL_fedA", "$JS.API.CONSUMER.CREATE.FL_fedA.>",
                  "$JS.API.CONSUMER.INFO.FL_fedA.>", "$JS.API.CONSUMER.DELETE.FL_fedA.>", "$JS.API.CONSUMER.MSG.NEXT.FL_fedA.>"]
        subscribe: ["_INBOX.>"] } }
  ]
}
`;

const dirs: string[] = [];
const cleanups: Array<() => Promise<void>> = [];
let secrets: string;

beforeAll(() => {
  secrets = mkdtempSync(join(tmpdir(), "fl-nats-auth-"));
  dirs.push(secrets);
  writeFileSync(join(secrets, "coordinator.pass"), "coordinator-secret\n", { mode: 0o600 });
  writeFileSync(join(secrets, "watcher.pass"), "watcher-secret\n", { mode: 0o600 });
  writeFileSync(join(secrets, "wrong.pass"), "guess\n", { mode: 0o600 });
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function server(options: Parameters<typeof startNatsServer>[0]): Promise<NatsServerHandle> {
  const handle = await startNatsServer(options);
  cleanups.push(() => handle.stop());
  return handle;
}

async function bus(url: string, federationId: string, auth?: NatsAuth, stream?: string) {
  const opened = await createNatsEventBus({
    url,
    federationId,
    publishTimeoutMs: 1_000,
    closeTimeoutMs: 1_000,
    log: () => {},
    ...(auth && { auth }),
    ...(stream && { jetstream: { stream } }),
  });
  cleanups.push(() => opened.close());
  return opened;
}

/** Everything the watcher user can read from the stream (replayed), once `count` arrived. */
async function readAs(url: string, auth: NatsAuth, count: number): Promise<string[]> {
  const out: string[] = [];
  const abort = new AbortController();
  const printed = await watchEvents(
    { url, federationId: "fedA", auth, replay: true, count, json: true },
    { out: (line) => out.push(line), err: () => {}, signal: abort.signal },
  );
  expect(printed).toBe(count);
  return out.map((line) => (JSON.parse(line) as { type: string }).type);
}

describe("NATS credentials", () => {
  it("user/password: anonymous and wrong credentials are refused; the coordinator's config works; only it can write, nobody can purge", async () => {
    const nats = await server({ jetstream: true, config: PERMISSIONS });
    await expect(bus(nats.url, "fedA")).rejects.toMatchObject({
      code: "FL_INVALID_CONFIG",
      message: expect.stringContaining("refused an unauthenticated connection"),
    });
    await expect(
      bus(nats.url, "fedA", { user: "coordinator", passwordFile: join(secrets, "wrong.pass") }),
    ).rejects.toMatchObject({ message: expect.stringContaining("refused the configured credentials") });

    // The coordinator's own config, with a relative password file, as an operator writes it.
    const dir = mkdtempSync(join(tmpdir(), "fl-nats-auth-config-"));
    dirs.push(dir);
    writeFileSync(join(dir, "nats.pass"), "coordinator-secret\n", { mode: 0o600 });
    writeFileSync(
      join(dir, "coordinator.json"),
      JSON.stringify({
        federationId: "fedA",
        insecure: true,
        stateDir: ".",
        identity: "coordinator.identity.json",
        sitesDir: "sites",
        nats: { url: nats.url, jetstream: true, auth: { user: "coordinator", passwordFile: "nats.pass" } },
        model: { architecture: "small-cnn", imageSize: 16, widths: [2], numClasses: 4, seed: 3 },
        plan: { phases: [{ name: "p", task: "classify", rounds: 1 }], minSites: 1 },
      }),
    );
    const config = loadCoordinatorConfig(join(dir, "coordinator.json"));
    expect(config.nats?.auth).toEqual({ user: "coordinator", passwordFile: join(dir, "nats.pass") });
    const coordinator = await openCoordinatorEventBus(config, () => {});
    cleanups.push(() => coordinator.close());
    await coordinator.publish(makeEvent("round.started", "fedA", { round: 1 }));
    await coordinator.publish(makeEvent("round.completed", "fedA", { round: 1 }));

    const watcher: NatsAuth = { user: "watcher", passwordFile: join(secrets, "watcher.pass") };
    expect(await readAs(nats.url, watcher, 2)).toEqual(["round.started", "round.completed"]);

    // The read-only user can neither forge an event nor purge the audit log.
    const raw = await connect({ servers: nats.url, user: "watcher", pass: "watcher-secret" });
    cleanups.push(() => raw.close());
    const forged = StringCodec().encode(JSON.stringify(makeEvent("round.completed", "fedA", { round: 99 })));
    await expect(
      raw.jetstream().publish("fl.fedA.round.completed", forged, { timeout: 1_000 }),
    ).rejects.toThrow();
    const jsm = await raw.jetstreamManager();
    await expect(jsm.streams.purge("FL_fedA")).rejects.toThrow();
    // Nor can the coordinator's own user: the stream is created with deny_purge and deny_delete.
    const owner = await connect({ servers: nats.url, user: "coordinator", pass: "coordinator-secret" });
    cleanups.push(() => owner.close());
    const ownerJsm = await owner.jetstreamManager();
    expect((await ownerJsm.streams.info("FL_fedA")).config).toMatchObject({
      deny_purge: true,
      deny_delete: true,
    });
    expect((await jsm.streams.info("FL_fedA")).state.messages).toBe(2);
  }, 60_000);

  it("token: refused without it, accepted from a token file", async () => {
    const nats = await server({ config: 'authorization { token: "t0ken-s3cret" }' });
    writeFileSync(join(secrets, "token"), "t0ken-s3cret\n", { mode: 0o600 });
    await expect(bus(nats.url, "fedK")).rejects.toMatchObject({ code: "FL_INVALID_CONFIG" });
    const publisher = await bus(nats.url, "fedK", { tokenFile: join(secrets, "token") });
    const observer = await bus(nats.url, "fedK", { tokenFile: join(secrets, "token") });
    const seen: string[] = [];
    observer.subscribe((event) => seen.push(event.type));
    await observer.flush();
    await publisher.publish(makeEvent("site.joined", "fedK", { siteId: "a" }));
    await expect.poll(() => seen, { timeout: 5_000 }).toEqual(["site.joined"]);
  }, 30_000);

  it("nkey: refused without it, accepted from a seed file", async () => {
    const user = nkeys.createUser();
    const nats = await server({
      config: `authorization { users = [ { nkey: "${user.getPublicKey()}" } ] }`,
    });
    writeFileSync(join(secrets, "user.nk"), `${new TextDecoder().decode(user.getSeed())}\n`, { mode: 0o600 });
    await expect(bus(nats.url, "fedN")).rejects.toMatchObject({ code: "FL_INVALID_CONFIG" });
    const publisher = await bus(nats.url, "fedN", { nkeySeedFile: join(secrets, "user.nk") });
    await expect(publisher.flush()).resolves.toBeUndefined();
  }, 30_000);

  it("TLS from the coordinator's config: CA and client certificate together with credentials", async () => {
    const certs = mkdtempSync(join(tmpdir(), "fl-nats-auth-certs-"));
    dirs.push(certs);
    execFileSync(
      "bash",
      ["deploy/tls/make-certs.sh", "--out", certs, "--nats-san", "DNS:localhost,IP:127.0.0.1", "--site", "a"],
      { stdio: "pipe" },
    );
    const nats = await server({
      config: 'authorization { token: "t0ken-s3cret" }',
      tls: {
        certFile: join(certs, "nats.crt"),
        keyFile: join(certs, "nats.key"),
        caFile: join(certs, "ca.crt"),
        verify: true,
      },
    });
    writeFileSync(join(secrets, "token"), "t0ken-s3cret\n", { mode: 0o600 });
    const coordinatorBus = (tls: { ca?: string; cert?: string; key?: string }) =>
      openCoordinatorEventBus(
        {
          federationId: "fedL",
          nats: {
            url: nats.url,
            jetstream: false,
            subjectPrefix: "fl",
            tls,
            auth: { tokenFile: join(secrets, "token") },
          },
        },
        () => {},
      );
    await expect(coordinatorBus({ ca: join(certs, "ca.crt") })).rejects.toMatchObject({
      code: "FL_INVALID_CONFIG",
    });
    const ok = await coordinatorBus({
      ca: join(certs, "ca.crt"),
      cert: join(certs, "a.crt"),
      key: join(certs, "a.key"),
    });
    cleanups.push(() => ok.close());
    const observer = await createNatsEventBus({
      url: nats.url,
      federationId: "fedL",
      tls: { caFile: join(certs, "ca.crt"), certFile: join(certs, "a.crt"), keyFile: join(certs, "a.key") },
      auth: { tokenFile: join(secrets, "token") },
      log: () => {},
    });
    cleanups.push(() => observer.close());
    const seen: string[] = [];
    observer.subscribe((event) => seen.push(`${event.type}@${event.siteId}`));
    await observer.flush();
    await ok.publish(makeEvent("site.joined", "fedL", { siteId: "a" }));
    await expect.poll(() => seen, { timeout: 5_000 }).toEqual(["site.joined@a"]);
  }, 30_000);
});
