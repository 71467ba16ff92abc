/**
 * Starts a real `nats-server` (Debian package `nats-server`) for integration tests.
 *
 * The server binds 127.0.0.1 on a port it picks itself (`-p -1`), and readiness is read from
 * its log ("Listening for client connections on …" then "Server is ready"), so there is no
 * port race between picking a port and binding it, and no sleeping.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface NatsServerOptions {
  /** Enable JetStream with a store in a fresh temp folder (removed by `stop()`). */
  jetstream?: boolean;
  /** Port to bind; a free one is picked by the server when omitted. */
  port?: number;
  /** How long to wait for the server to report readiness (default 15 s). */
  readyTimeoutMs?: number;
  /** Require TLS from clients with this server certificate; `verify` also demands client certificates. */
  tls?: { certFile: string; keyFile: string; caFile?: string; verify?: boolean };
  /** nats-server configuration text (e.g. an `authorization` block), passed with `-c`. */
  config?: string;
}

export interface NatsServerHandle {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Kills the server (if running) and removes its temp folders. Idempotent. */
  stop(): Promise<void>;
  /** Kills the server and starts it again on the same port with the same JetStream store. */
  restart(): Promise<void>;
  /** Kills the server without removing its store, to simulate an outage; `restart()` brings it back. */
  kill(): Promise<void>;
  /** Log lines the server wrote so far (useful in failure messages). */
  output(): string;
}

const CANDIDATE_BINARIES = [
  "nats-server",
  "/usr/sbin/nats-server",
  "/usr/bin/nats-server",
  "/usr/local/bin/nats-server",
];
const INSTALL_HINT =
  "nats-server is not installed. Install it with `apt-get install -y nats-server` (Debian/Ubuntu) " +
  "or put the binary from https://github.com/nats-io/nats-server/releases on PATH.";

let cachedBinary: string | undefined;

function findBinary(): string {
  if (cachedBinary !== undefined) return cachedBinary;
  for (const candidate of CANDIDATE_BINARIES) {
    const probe = spawnSync(candidate, ["--version"], { encoding: "utf8" });
    if (probe.error === undefined && probe.status === 0) {
      cachedBinary = candidate;
      return candidate;
    }
  }
  throw new Error(INSTALL_HINT);
}

const LISTENING = /Listening for client connections on [^\s]*:(\d+)/;
const READY = /Server is ready/;

interface RunningServer {
  child: ChildProcess;
  port: number;
}

function launch(binary: string, args: string[], readyTimeoutMs: number, appendOutput: (s: string) => void) {
  return new Promise<RunningServer>((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    let port: number | undefined;
    let settled = false;
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) {
        child.kill("SIGKILL");
        reject(error);
      } else if (port !== undefined) {
        resolve({ child, port });
      }
    };
    const timer = setTimeout(
      () =>
        finish(new Error(`nats-server did not become ready within ${readyTimeoutMs} ms. Output:\n${log}`)),
      readyTimeoutMs,
    );
    const onData = (chunk: Buffer) => {
      const text = chunk.toString("utf8");
      log += text;
      appendOutput(text);
      const listening = LISTENING.exec(log);
      if (listening?.[1] !== undefined) port = Number(listening[1]);
      if (port !== undefined && READY.test(log)) finish();
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("error", (error) => finish(new Error(`cannot start nats-server: ${error.message}`)));
    child.once("exit", (code, signal) =>
      finish(
        new Error(`nats-server exited before it was ready (code ${code}, signal ${signal}). Output:\n${log}`),
      ),
    );
  });
}

/** SIGTERM lets JetStream flush its store; SIGKILL follows if the server hangs. */
function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const hardKill = setTimeout(() => child.kill("SIGKILL"), 5_000);
    child.once("exit", () => {
      clearTimeout(hardKill);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/** Starts a nats-server on 127.0.0.1; throws with an install hint when the binary is missing. */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const binary = findBinary();
  const readyTimeoutMs = options.readyTimeoutMs ?? 15_000;
  const storeDir = options.jetstream ? await mkdtemp(join(tmpdir(), "fl-nats-js-")) : undefined;
  const configDir = options.config === undefined ? undefined : await mkdtemp(join(tmpdir(), "fl-nats-conf-"));
  if (configDir !== undefined) await writeFile(join(configDir, "nats.conf"), options.config ?? "");
  const removeTemp = async () => {
    for (const dir of [storeDir, configDir])
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  };
  let output = "";
  const append = (s: string) => {
    output += s;
  };

  const argsFor = (port: number) => {
    // -c first: the flags that follow override the file (address, port, store).
    const args = configDir === undefined ? [] : ["-c", join(configDir, "nats.conf")];
    args.push("-a", "127.0.0.1", "-p", String(port));
    if (storeDir !== undefined) args.push("-js", "-sd", storeDir);
    const tls = options.tls;
    if (tls !== undefined) {
      args.push("--tls", "--tlscert", tls.certFile, "--tlskey", tls.keyFile);
      if (tls.caFile !== undefined) args.push("--tlscacert", tls.caFile);
      if (tls.verify) args.push("--tlsverify");
    }
    return args;
  };

  let current: RunningServer | undefined;
  try {
    current = await launch(binary, argsFor(options.port ?? -1), readyTimeoutMs, append);
  } catch (error) {
    await removeTemp();
    throw error;
  }
  const port = current.port;
  let stopped = false;

  const kill = async () => {
    if (current === undefined) return;
    const { child } = current;
    current = undefined;
    await terminate(child);
  };

  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    output: () => output,
    kill,
    async restart() {
      if (stopped) throw new Error("nats-server handle was stopped; start a new one");
      await kill();
      current = await launch(binary, argsFor(port), readyTimeoutMs, append);
    },
    async stop() {
      stopped = true;
      await kill();
      await removeTemp();
    },
  };
}
