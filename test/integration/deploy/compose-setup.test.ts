import { spawnSync } from "node:child_process";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { loadClientConfig } from "../../../client/src/config.js";
import { loadCoordinatorConfig } from "../../../coordinator/src/config.js";
import { readIdentityFile, readPublicIdentityFile } from "../../../shared/src/config/key-files.js";
import { publicIdentity, publicIdentityToJson } from "../../../shared/src/crypto/index.js";
import { planData } from "../../../shared/src/ml/data/config.js";

// Docker is not here, so the compose demo is checked the way `docker compose up` would meet it:
// deploy/compose/provision.sh runs as documented (fl keys request per hospital, fl provision,
// fl data synth) in a copy of deploy/, then every path the compose file mounts must exist, and
// every config a service is started with is read by the real loaders with each path mapped
// through that service's own mounts, as its container would see it.
const REPO = fileURLToPath(new URL("../../../", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "fl-compose-"));
const compose = join(root, "deploy", "compose");
const CONTAINER_UID = 10001;
const HOSPITALS = ["metro-icu", "community"];
let provisionOutput = "";

interface Mount {
  readonly target: string;
  /** A host path for a bind mount; undefined for a named volume. */
  readonly source?: string;
  readonly volume?: string;
  readonly readOnly: boolean;
}

interface Service {
  readonly command: string[];
  readonly volumes?: string[];
  readonly ports?: string[];
  readonly read_only?: boolean;
}

/** `${VAR:-default}` as compose expands it with VAR unset. */
const expand = (text: string) => text.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, "$1");

function mountsOf(service: Service): Mount[] {
  return (service.volumes ?? []).map((spec) => {
    const [source = "", target = "", mode] = expand(spec).split(":");
    const readOnly = mode === "ro";
    return source.startsWith(".") || source.startsWith("/")
      ? { target, source: resolve(compose, source), readOnly }
      : { target, volume: source, readOnly };
  });
}

/**
 * Where a path a loader produced lies, for the container: a loader resolves relative paths against
 * the config's host path (which is inside a bind mount), and leaves the config's absolute
 * container paths as they are.
 */
function locate(mounts: readonly Mount[], path: string) {
  const bind = mounts.find((m) => m.source && (path === m.source || path.startsWith(`${m.source}/`)));
  const container = bind?.source ? bind.target + path.slice(bind.source.length) : path;
  const mount = mounts
    .filter((m) => container === m.target || container.startsWith(`${m.target}/`))
    .sort((a, b) => b.target.length - a.target.length)[0];
  if (!mount) throw new Error(`${container} is on no mount of the service: the container has no such file`);
  const host = mount.source ? mount.source + container.slice(mount.target.length) : undefined;
  return { container, mount, host };
}

/** The host file behind a container path that must be a mounted file. */
function hostFile(mounts: readonly Mount[], path: string): string {
  const { container, host } = locate(mounts, path);
  if (!host) throw new Error(`${container} is on a named volume, not a file the setup provides`);
  expect(existsSync(host), `${container} (${host})`).toBe(true);
  return host;
}

/** True when uid 10001 can read the file, by owner or by the world bits. */
function readableByContainer(path: string): boolean {
  const stats = statSync(path);
  return stats.uid === CONTAINER_UID ? (stats.mode & 0o400) !== 0 : (stats.mode & 0o004) !== 0;
}

const composeFile = () =>
  YAML.parse(readFileSync(join(compose, "docker-compose.yml"), "utf8"), { merge: true }) as {
    services: Record<string, Service>;
    volumes: Record<string, unknown>;
  };
const configPath = (service: Service) => service.command[service.command.indexOf("--config") + 1] ?? "";

beforeAll(() => {
  cpSync(join(REPO, "deploy", "compose"), compose, {
    recursive: true,
    filter: (src) => !/\/(secrets|data)$/.test(src),
  });
  cpSync(join(REPO, "deploy", "tls"), join(root, "deploy", "tls"), { recursive: true });
  const result = spawnSync("bash", [join(compose, "provision.sh"), "--images-per-site", "24"], {
    cwd: compose,
    env: { ...process.env, FL: `${process.execPath} ${join(REPO, "bin", "fl.js")}` },
    encoding: "utf8",
    timeout: 240_000,
  });
  provisionOutput = result.stdout + result.stderr;
  expect(result.status, provisionOutput).toBe(0);
}, 300_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("deploy/compose after provision.sh", () => {
  it("mounts only paths that exist, and its hospitals are the synthetic data's sites", () => {
    const { services, volumes } = composeFile();
    expect(Object.keys(services).filter((name) => services[name]?.command[0] === "client")).toEqual(
      HOSPITALS,
    );
    for (const [name, service] of Object.entries(services)) {
      for (const mount of mountsOf(service)) {
        if (mount.source) expect(existsSync(mount.source), `${name}: ${mount.source}`).toBe(true);
        else expect(Object.keys(volumes), `${name}: volume ${mount.volume}`).toContain(mount.volume);
      }
    }
    // The GPU overlay only changes services the base file has.
    const gpu = YAML.parse(readFileSync(join(compose, "docker-compose.gpu.yml"), "utf8"), {
      merge: true,
    }) as {
      services: Record<string, unknown>;
    };
    for (const name of Object.keys(gpu.services)) expect(Object.keys(services)).toContain(name);
  });

  it("starts the coordinator with a config whose every file is mounted and whose state is writable", () => {
    const { services } = composeFile();
    const service = services.coordinator as Service;
    const mounts = mountsOf(service);
    const config = loadCoordinatorConfig(hostFile(mounts, configPath(service)));
    readIdentityFile(hostFile(mounts, config.identity));
    for (const file of [config.tls?.cert, config.tls?.ca, config.tls?.key])
      hostFile(mounts, file ?? "missing tls file");
    // State, the admin token it creates and `fl sites add|revoke` write; the root file system is read-only.
    expect(service.read_only).toBe(true);
    for (const writable of [config.stateDir, config.sitesDir, config.admin?.tokenFile ?? "no admin"])
      expect(locate(mounts, writable).mount.readOnly, writable).toBe(false);
    // Every hospital's own identity is enrolled, and nothing else.
    const sitesDir = hostFile(mounts, config.sitesDir);
    expect(readdirSync(sitesDir).sort()).toEqual(HOSPITALS.map((id) => `${id}.public.json`).sort());
    for (const id of HOSPITALS)
      expect(readFileSync(join(sitesDir, `${id}.public.json`), "utf8")).toBe(
        publicIdentityToJson(
          publicIdentity(readIdentityFile(join(compose, "secrets", id, `${id}.identity.json`))),
        ),
      );
    // The gRPC port is published to the hospitals, the operator endpoint on loopback only.
    const port = (listen: string) => listen.split(":").pop();
    expect(service.ports?.map(expand)).toEqual([
      `${port(config.listen)}:${port(config.listen)}`,
      `127.0.0.1:${port(config.admin?.listen ?? "")}:${port(config.admin?.listen ?? "")}`,
    ]);
  });

  for (const id of HOSPITALS)
    it(`starts ${id} with its kit's client.yaml, its own keys and images it can read`, async () => {
      const { services } = composeFile();
      const service = services[id] as Service;
      const mounts = mountsOf(service);
      const coordinatorService = services.coordinator as Service;
      const coordinator = loadCoordinatorConfig(
        hostFile(mountsOf(coordinatorService), configPath(coordinatorService)),
      );
      const configFile = hostFile(mounts, configPath(service));
      // Unchanged from what fl provision wrote: no hand-written hospital config.
      expect(readFileSync(configFile, "utf8")).toBe(
        readFileSync(join(compose, "secrets", "kits", id, "client.yaml"), "utf8"),
      );
      const config = loadClientConfig(configFile);
      expect(config).toMatchObject({ siteId: id, federationId: coordinator.federationId });

      const identity = readIdentityFile(hostFile(mounts, config.identity));
      expect(identity.id).toBe(id);
      expect(readPublicIdentityFile(hostFile(mounts, config.coordinatorPublicKey))).toEqual(
        readPublicIdentityFile(join(compose, "secrets", "coordinator", "coordinator.public.json")),
      );

      // It dials a service of this compose file, on the port the coordinator listens on, by a
      // name its certificate holds, and its own certificate is the CA's, for its key.
      const [host, port] = config.coordinator.split(":");
      expect(Object.keys(services)).toContain(host);
      expect(port).toBe(coordinator.listen.split(":").pop());
      const ca = new X509Certificate(readFileSync(hostFile(mounts, config.tls?.ca ?? "")));
      const server = new X509Certificate(
        readFileSync(hostFile(mountsOf(coordinatorService), coordinator.tls?.cert ?? "")),
      );
      expect(server.checkHost(host ?? "")).toBe(host);
      const cert = new X509Certificate(readFileSync(hostFile(mounts, config.tls?.cert ?? "")));
      expect(cert.verify(ca.publicKey)).toBe(true);
      expect(cert.subject).toBe(`CN=${id}`);
      expect(
        cert.checkPrivateKey(createPrivateKey(readFileSync(hostFile(mounts, config.tls?.key ?? "")))),
      ).toBe(true);

      // The work dir is a writable volume (the root file system is read-only).
      expect(service.read_only).toBe(true);
      const work = locate(mounts, config.workDir);
      expect(work.mount.volume).toBeDefined();
      expect(work.mount.readOnly).toBe(false);

      // The data section names a mounted folder with this site's images, at the model's size.
      const data = config.data as { root: string; imageSize: number };
      expect(data.imageSize).toBe(coordinator.model.imageSize);
      const dataRoot = locate(mounts, data.root);
      expect(dataRoot.mount.readOnly).toBe(true);
      const plan = await planData({ ...config.data, root: dataRoot.host ?? "" } as Parameters<
        typeof planData
      >[0]);
      expect(plan.partition.get(id)?.length).toBe(24);
      expect(plan.badItems.all).toEqual([]);

      // The container's uid reads its keys and the images (owned by it under root, else by chown).
      const mountedFiles = (dir: string) =>
        readdirSync(dir, { recursive: true, encoding: "utf8" })
          .map((name) => join(dir, name))
          .filter((path) => statSync(path).isFile());
      const images = mountedFiles(dataRoot.host ?? "").filter((f) => /\.(dcm|csv)$/.test(f));
      expect(images.length).toBeGreaterThan(24);
      for (const file of images) expect(readableByContainer(file), file).toBe(true);
      const folders = readdirSync(dataRoot.host ?? "", { recursive: true, encoding: "utf8" })
        .map((name) => join(dataRoot.host ?? "", name))
        .filter((path) => statSync(path).isDirectory());
      for (const folder of [dataRoot.host ?? "", ...folders])
        expect((statSync(folder).mode & 0o005) === 0o005, folder).toBe(true);
      const secrets = mountedFiles(hostFile(mounts, "/etc/fl"));
      if (process.getuid?.() === 0)
        for (const file of secrets) expect(readableByContainer(file), file).toBe(true);
      else expect(provisionOutput).toContain("sudo chown -R 10001:10001");
      // A hospital holds its own private keys and no one else's.
      expect(
        secrets.map((f) => f.split("/").pop()).filter((f) => /identity\.json$|\.key$/.test(f ?? "")),
      ).toEqual(expect.arrayContaining([`${id}.identity.json`, `${id}.tls.key`]));
      expect(
        secrets.filter((f) => /identity\.json$|\.key$/.test(f) && !f.split("/").pop()?.startsWith(`${id}.`)),
      ).toEqual([]);
    });

  it("keeps the keys, kits and images when run again", () => {
    const before = readFileSync(join(compose, "secrets", "metro-icu", "metro-icu.identity.json"), "utf8");
    const again = spawnSync("bash", [join(compose, "provision.sh")], {
      cwd: compose,
      env: { ...process.env, FL: `${process.execPath} ${join(REPO, "bin", "fl.js")}` },
      encoding: "utf8",
      timeout: 120_000,
    });
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toContain(`keeping the images in ${join(compose, "data")}`);
    expect(readFileSync(join(compose, "secrets", "metro-icu", "metro-icu.identity.json"), "utf8")).toBe(
      before,
    );
  });

  it("revokes a kit's certificate with make-certs.sh, as §3.5 says", () => {
    const tls = join(compose, "secrets", "tls");
    const revoked = spawnSync(
      "bash",
      [join(root, "deploy", "tls", "make-certs.sh"), "--out", tls, "--revoke", "community"],
      {
        encoding: "utf8",
      },
    );
    expect(revoked.status, revoked.stderr).toBe(0);
    const kitCert = new X509Certificate(readFileSync(join(compose, "secrets", "community", "community.crt")));
    const crl = spawnSync("openssl", ["crl", "-in", join(tls, "ca.crl"), "-noout", "-text"], {
      encoding: "utf8",
    });
    expect(crl.stdout.replace(/\s/g, "")).toContain(`SerialNumber:${kitCert.serialNumber}`);
    const other = new X509Certificate(readFileSync(join(compose, "secrets", "metro-icu", "metro-icu.crt")));
    expect(crl.stdout.replace(/\s/g, "")).not.toContain(other.serialNumber);
  });

  it("refuses a hospital id the synthetic data has no images for", () => {
    const result = spawnSync("bash", [join(compose, "provision.sh"), "--site", "hospital-z"], {
      cwd: compose,
      env: { ...process.env, FL: "false" },
      encoding: "utf8",
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("hospital-z is not a site of the synthetic data");
  });
});
