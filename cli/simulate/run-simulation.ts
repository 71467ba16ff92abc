import type { ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import { CoordinatorConfigSchema } from "../../coordinator/src/config.js";
import { planProblems, totalRounds as totalRoundsOf } from "../../coordinator/src/plan.js";
import { parseConfig } from "../../shared/src/config/load.js";
import { ErrorCode, FlError } from "../../shared/src/errors.js";
import type { FlEvent } from "../../shared/src/events/types.js";
import { MIN_HEARTBEAT_TIMEOUT_MS } from "../../shared/src/fl/protocol-constants.js";
import { writeFileAtomic } from "../../shared/src/io/atomic-file.js";
import { forkTypeScript } from "../../shared/src/io/ts-child.js";
import { writeIdentityFiles } from "../commands/keys.js";
import type { SimulationConfig } from "./config.js";
import { SimulationProgress } from "./progress.js";
import { SlotPool } from "./slots.js";

const FL_ENTRY = fileURLToPath(new URL("../fl.ts", import.meta.url));

export interface SimulationResult {
  readonly status: "completed" | "failed";
  readonly runDir: string;
  readonly durationSec: number;
}

/**
 * The one place that knows both sides: writes keys and configs into a run folder, starts the
 * coordinator and one process per hospital (real gRPC over loopback), limits concurrent
 * training to the machine's cores, shows progress, and summarises the result.
 */
export async function runSimulation(
  config: SimulationConfig,
  sites: readonly string[],
  options: {
    runDir: string;
    interactive: boolean;
    /** Where the simulation's own lines go (default stdout); benchmarks send them to a log. */
    write?: (text: string) => void;
  },
): Promise<SimulationResult> {
  const runDir = resolve(options.runDir);
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  const started = Date.now();
  const say = (line: string) => write(`${line}\n`);
  if (existsSync(join(runDir, "state.db"))) say(`resuming the federation in ${runDir}`);
  mkdirSync(join(runDir, "logs"), { recursive: true });
  mkdirSync(join(runDir, "clients"), { recursive: true });
  const keysDir = join(runDir, "keys");
  if (!existsSync(join(keysDir, "coordinator.identity.json"))) {
    writeIdentityFiles("coordinator", keysDir);
    for (const site of sites) writeIdentityFiles(site, join(keysDir, "sites"));
  }

  const modelSpec = config.model ?? {
    architecture: "small-cnn" as const,
    imageSize: config.imageSize,
    widths: config.widths,
    numClasses: 4,
    seed: config.seed + 1,
  };
  const coordinatorConfig = {
    federationId: config.federationId,
    listen: "127.0.0.1:0",
    stateDir: ".",
    identity: "keys/coordinator.identity.json",
    sitesDir: "keys/sites",
    model: modelSpec,
    plan: {
      phases: config.phases ?? [
        {
          name: "supervised",
          task: "classify",
          rounds: config.rounds,
          train: {
            epochs: config.epochs,
            batchSize: config.batchSize,
            learningRate: config.learningRate,
            classWeighting: "inverse-frequency",
            maxStepsPerRound: 0,
          },
        },
      ],
      ...(config.strategy && { strategy: config.strategy }),
      // Every hospital joins before round 1; later rounds survive the loss of one of them.
      minSites: Math.min(sites.length, config.minSites ?? Math.max(1, sites.length - 1)),
      minAvailableSites: sites.length,
      fraction: 1,
      roundTimeoutSec: config.roundTimeoutSec,
      evaluateEvery: config.evaluateEvery,
      seed: config.seed,
    },
    // The soonest a lost client can be noticed without dropping the ones waiting for a task.
    limits: {
      heartbeatIntervalMs: 1000,
      heartbeatTimeoutSec: MIN_HEARTBEAT_TIMEOUT_MS / 1000,
      maxUpdateBytes: 512 << 20,
    },
    ...(config.natsUrl && { nats: { url: config.natsUrl, jetstream: false } }),
  };
  // Fail here, with the config's own words, rather than in a child process's log.
  const checked = parseConfig(
    CoordinatorConfigSchema,
    coordinatorConfig,
    "the simulation's coordinator config",
  );
  const problems = planProblems(checked.plan, checked.model);
  if (problems.length > 0)
    throw new FlError(
      ErrorCode.InvalidConfig,
      `invalid simulation config:\n${problems.map((p) => `  - ${p}`).join("\n")}`,
    );
  const totalRounds = totalRoundsOf(checked.plan);
  writeFileAtomic(join(runDir, "coordinator.yaml"), YAML.stringify(coordinatorConfig));
  writeFileAtomic(join(runDir, "config.json"), `${JSON.stringify({ simulation: config, sites }, null, 2)}\n`);

  const cores = availableParallelism();
  const slots = new SlotPool(Math.max(1, Math.min(cores, sites.length)));
  say(
    `federation "${config.federationId}": ${sites.length} hospitals (${sites.join(", ")}), ${totalRounds} rounds, images ${config.imageSize}x${config.imageSize}`,
  );
  say(
    `${cores} CPU core${cores === 1 ? "" : "s"}: at most ${slots.capacity} client${slots.capacity === 1 ? "" : "s"} train at once (one training process per core)`,
  );
  say(`run folder: ${runDir}`);

  const progress = new SimulationProgress({
    sites,
    totalRounds,
    interactive: options.interactive,
    write,
  });
  const backends: Record<string, { backend: string; backendDetail: string }> = {};
  const children: ChildProcess[] = [];
  let finalEvent: FlEvent | undefined;
  let stopping = false;
  const lost: string[] = [];
  const logStream = (name: string) => createWriteStream(join(runDir, "logs", `${name}.log`), { flags: "a" });

  const coordinator = forkTypeScript(
    FL_ENTRY,
    ["coordinator", "--config", join(runDir, "coordinator.yaml"), "--ipc"],
    { stdio: ["ignore", "pipe", "pipe", "ipc"] },
  );
  children.push(coordinator);
  const coordinatorLog = logStream("coordinator");
  coordinator.stdout?.pipe(coordinatorLog);
  coordinator.stderr?.pipe(coordinatorLog);

  const stopAll = () => {
    stopping = true;
    for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
  };
  const onSignal = () => {
    progress.line("interrupted: stopping the federation (run the same command with --out to resume)");
    stopAll();
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  const address = await new Promise<string>((resolveAddress, reject) => {
    coordinator.on(
      "message",
      (message: {
        type: string;
        address?: string;
        event?: FlEvent;
        progress?: { siteId: string; progress: number; status: string; kind: string };
      }) => {
        if (message.type === "listening" && message.address) resolveAddress(message.address);
        if (message.type === "event" && message.event) {
          progress.event(message.event);
          if (message.event.type === "federation.completed") finalEvent = message.event;
        }
      },
    );
    coordinator.once("exit", (code) =>
      reject(
        new Error(
          `the coordinator exited (code ${code}) before listening; see ${join(runDir, "logs", "coordinator.log")}`,
        ),
      ),
    );
  });

  // Client configs name the coordinator's real address, known only once it listens.
  for (const site of sites) {
    const clientConfig = {
      siteId: site,
      coordinator: address,
      identity: `../keys/sites/${site}.identity.json`,
      coordinatorPublicKey: "../keys/coordinator.public.json",
      data: config.data,
      workDir: `../work/${site}`,
      backend: config.backend,
      reconnectTimeoutSec: 60,
    };
    writeFileAtomic(join(runDir, "clients", `${site}.yaml`), YAML.stringify(clientConfig));
  }
  const clientExits: Array<Promise<number | null>> = [];
  for (const site of sites) {
    const child = forkTypeScript(
      FL_ENTRY,
      ["client", "--config", join(runDir, "clients", `${site}.yaml`), "--ipc"],
      {
        stdio: ["ignore", "pipe", "pipe", "ipc"],
      },
    );
    children.push(child);
    const log = logStream(site);
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    child.on(
      "message",
      (message: {
        type: string;
        id?: number;
        progress?: { fraction: number; status: string; round: number };
        backend?: string;
        backendDetail?: string;
      }) => {
        if (message.type === "slot.acquire" && message.id !== undefined) {
          const id = message.id;
          void slots.acquire().then(() => child.send({ type: "slot.granted", id }));
        } else if (message.type === "slot.release") {
          slots.release();
        } else if (message.type === "progress" && message.progress) {
          progress.site(
            site,
            message.progress.fraction * 100,
            `round ${message.progress.round} ${message.progress.status}`,
          );
        } else if (message.type === "ready") {
          backends[site] = { backend: message.backend ?? "?", backendDetail: message.backendDetail ?? "" };
        }
      },
    );
    clientExits.push(
      new Promise((done) =>
        child.once("exit", (code, signal) => {
          // A simulated hospital that dies before the federation ends would leave the coordinator
          // waiting for it: say which one and where its log is, and stop the run.
          if (!finalEvent && !stopping) {
            lost.push(site);
            progress.line(
              `${site} exited early (${signal ?? `code ${code}`}); see ${join(runDir, "logs", `${site}.log`)}`,
            );
            stopAll();
          }
          done(code);
        }),
      ),
    );
  }

  const coordinatorCode = await new Promise<number | null>((done) =>
    coordinator.once("exit", (code) => done(code)),
  );
  // Clients leave by themselves once they hear "done"; give them a moment, then stop stragglers.
  const timer = setTimeout(stopAll, 15_000);
  await Promise.all(clientExits);
  clearTimeout(timer);
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  progress.stop();

  const durationSec = (Date.now() - started) / 1000;
  const status = coordinatorCode === 0 && finalEvent ? "completed" : "failed";
  const run = {
    status,
    federationId: config.federationId,
    startedAt: new Date(started).toISOString(),
    durationSec,
    cores,
    trainingSlots: slots.capacity,
    ...(lost.length > 0 && { clientsExitedEarly: lost }),
    node: process.version,
    backends,
  };
  writeFileSync(join(runDir, "run.json"), `${JSON.stringify(run, null, 2)}\n`);
  say("");
  if (existsSync(join(runDir, "report.md"))) say(readFileSync(join(runDir, "report.md"), "utf8"));
  say(
    `${status === "completed" ? "finished" : "FAILED"} in ${durationSec.toFixed(1)} s; backends: ${Object.entries(
      backends,
    )
      .map(([s, b]) => `${s}=${b.backend}`)
      .join(", ")}`,
  );
  say(
    `results: ${join(runDir, "report.md")}, evaluation.json, rounds.json, model/final.flw; logs in ${join(runDir, "logs")}`,
  );
  return { status, runDir, durationSec };
}
