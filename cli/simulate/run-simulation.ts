import type { ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import type { VirtualSite } from "../../client/src/virtual/sites.js";
import { CoordinatorConfigSchema } from "../../coordinator/src/config.js";
import { planProblems, totalRounds as totalRoundsOf } from "../../coordinator/src/plan.js";
import { parseConfig } from "../../shared/src/config/load.js";
import { ErrorCode, FlError } from "../../shared/src/errors.js";
import type { FlEvent } from "../../shared/src/events/types.js";
import { MIN_HEARTBEAT_TIMEOUT_MS } from "../../shared/src/fl/protocol-constants.js";
import { writeFileAtomic } from "../../shared/src/io/atomic-file.js";
import { forkTypeScript } from "../../shared/src/io/ts-child.js";
import { writeIdentityFiles } from "../commands/keys.js";
import { analyseAndReport } from "../report/after-run.js";
import { referenceEvaluation } from "./central-reference.js";
import { writeFederationCertificates } from "./certificates.js";
import type { SimulationConfig } from "./config.js";
import { SimulationProgress } from "./progress.js";
import { LineTail, restartDelayMs } from "./restarts.js";
import { freePort, previousPort, refuseChangedSettings, removeFailedStart } from "./run-folder.js";
import { SlotHolder, SlotPool, TRAINER_THREADS_PER_SLOT } from "./slots.js";
import { writeManyIdentityFiles } from "./virtual-keys.js";
import {
  cohortSettings,
  VIRTUAL_HEARTBEAT_INTERVAL_MS,
  VIRTUAL_HEARTBEAT_TIMEOUT_SEC,
  virtualEvaluationTimeoutSec,
} from "./virtual-plan.js";
import { startVirtualHospitals } from "./virtual-sites.js";

const FL_ENTRY = fileURLToPath(new URL("../fl.ts", import.meta.url));

export interface SimulationResult {
  /** `interrupted`: stopped by a signal before the plan's end (the same command resumes it). */
  readonly status: "completed" | "failed" | "interrupted";
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
    /**
     * What follows the run: the analysis (saliency, shortcut tests) and the report (default),
     * or the report alone — a benchmark of many runs analyses only the run it shows.
     */
    afterRun?: "analyse-and-report" | "report";
    /** Runs these hospitals in one process on a pool of trainer workers (`sites` are their ids). */
    virtualSites?: readonly VirtualSite[];
  },
): Promise<SimulationResult> {
  const runDir = resolve(options.runDir);
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  const startedAt = Date.now();
  const say = (line: string) => write(`${line}\n`);
  const modelSpec = config.model ?? {
    architecture: "small-cnn" as const,
    imageSize: config.imageSize,
    widths: config.widths,
    numClasses: 4,
    seed: config.seed + 1,
  };
  const central = referenceEvaluation(config);
  const virtual = options.virtualSites;
  const workers = virtual ? (config.workers ?? availableParallelism()) : undefined;
  const federationConfig = {
    federationId: config.federationId,
    stateDir: ".",
    identity: "keys/coordinator.identity.json",
    sitesDir: "keys/sites",
    // The operator endpoint, for `fl status --run <runDir>` while the simulation runs.
    admin: { listen: "127.0.0.1:0", tokenFile: "admin.token" },
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
      ...(config.privacy && { privacy: config.privacy }),
      ...(config.secureAggregation && {
        secureAggregation: config.secureAggregation === true ? {} : config.secureAggregation,
      }),
      // Under secure aggregation every sampled hospital is needed by default: a sum of two
      // reveals each to the other.
      ...cohortSettings({
        sites: sites.length,
        virtual: options.virtualSites !== undefined,
        fraction: config.fraction,
        minSites: config.minSites,
        secureAggregation: Boolean(config.secureAggregation),
      }),
      ...(workers !== undefined && {
        evaluationTimeoutSec: virtualEvaluationTimeoutSec(sites.length, workers),
      }),
      roundTimeoutSec: config.roundTimeoutSec,
      evaluateEvery: config.evaluateEvery,
      seed: config.seed,
    },
    // The soonest a lost client can be noticed without dropping the ones waiting for a task.
    limits: {
      heartbeatIntervalMs: virtual ? VIRTUAL_HEARTBEAT_INTERVAL_MS : 1000,
      heartbeatTimeoutSec: virtual ? VIRTUAL_HEARTBEAT_TIMEOUT_SEC : MIN_HEARTBEAT_TIMEOUT_MS / 1000,
      maxUpdateBytes: 512 << 20,
    },
    ...(config.natsUrl && { nats: { url: config.natsUrl, jetstream: false } }),
    ...(central && { centralEvaluation: central }),
  };
  // Checked before anything is written, so that a mistake leaves no half-made run folder, and in
  // the config's own words rather than in a child process's log.
  const checked = parseConfig(
    CoordinatorConfigSchema,
    { ...federationConfig, listen: "127.0.0.1:0", insecure: true },
    "the simulation's coordinator config",
  );
  const problems = planProblems(checked.plan, checked.model);
  if (problems.length > 0)
    throw new FlError(
      ErrorCode.InvalidConfig,
      `invalid simulation config:\n${problems.map((p) => `  - ${p}`).join("\n")}`,
    );
  const settings = { simulation: config, sites };
  refuseChangedSettings(runDir, settings);

  const resuming = existsSync(join(runDir, "state.db"));
  const freshRun = !existsSync(runDir) || readdirSync(runDir).length === 0;
  const createdRunDir = !existsSync(runDir);
  if (resuming) say(`resuming the federation in ${runDir}`);
  mkdirSync(join(runDir, "logs"), { recursive: true });
  mkdirSync(join(runDir, "clients"), { recursive: true });
  const keysDir = join(runDir, "keys");
  if (!existsSync(join(keysDir, "coordinator.identity.json"))) {
    writeIdentityFiles("coordinator", keysDir);
    if (virtual) await writeManyIdentityFiles(sites, join(keysDir, "sites"));
    else for (const site of sites) writeIdentityFiles(site, join(keysDir, "sites"));
  }
  // Every start issues a fresh CA whose key is never stored: all processes start anew with it,
  // so nothing but this run can hold a certificate the federation trusts.
  const tls = config.insecure ? undefined : await writeFederationCertificates(join(runDir, "tls"), sites);
  // A real port, written down, so that a coordinator restarted by hand is found where the client
  // configs say; the previous one is kept while it is free.
  const grpcPort = await freePort(previousPort(join(runDir, "coordinator.yaml")));
  const listen = `127.0.0.1:${grpcPort}`;
  // The operator endpoint too, so that `fl status --url` and a Prometheus scrape config written
  // for this run keep working after a restart.
  const adminPort = await freePort(previousPort(join(runDir, "coordinator.yaml"), "admin"), [grpcPort]);
  const coordinatorConfig = {
    ...federationConfig,
    listen,
    admin: { ...federationConfig.admin, listen: `127.0.0.1:${adminPort}` },
    ...(tls
      ? {
          tls: {
            cert: relative(runDir, tls.coordinator.cert),
            key: relative(runDir, tls.coordinator.key),
            ca: relative(runDir, tls.ca),
            requireClientCert: true,
          },
        }
      : { insecure: true }),
  };
  const totalRounds = totalRoundsOf(checked.plan);
  writeFileAtomic(join(runDir, "coordinator.yaml"), YAML.stringify(coordinatorConfig));
  writeFileAtomic(join(runDir, "config.json"), `${JSON.stringify(settings, null, 2)}\n`);

  const cores = availableParallelism();
  const slots = new SlotPool(Math.max(1, Math.min(cores, sites.length)));
  say(
    `federation "${config.federationId}": ${sites.length} hospitals (${virtual ? `${sites[0]} … ${sites.at(-1)}` : sites.join(", ")}), ${totalRounds} rounds, images ${config.imageSize}x${config.imageSize}`,
  );
  say(
    `${cores} CPU core${cores === 1 ? "" : "s"}: at most ${slots.capacity} client${slots.capacity === 1 ? "" : "s"} train at once (one training process per core, on ${TRAINER_THREADS_PER_SLOT} thread)`,
  );
  say(
    tls
      ? `gRPC over mutual TLS, with a CA and certificates made for this run in ${dirname(tls.ca)}`
      : "gRPC in PLAINTEXT (--insecure): no TLS",
  );
  say(
    config.restartClients > 0
      ? `a hospital process that crashes is restarted up to ${config.restartClients} time${config.restartClients === 1 ? "" : "s"} (--restart-clients)`
      : "a hospital process that crashes fails the run (--restart-clients 0)",
  );
  say(`run folder: ${runDir}`);
  say(`watch it from another terminal: fl status --run ${runDir}`);

  if (virtual)
    say(
      `${sites.length} virtual hospitals in one process, their tasks run by ${workers} trainer worker${workers === 1 ? "" : "s"}; each round trains ${Math.ceil(checked.plan.fraction * sites.length)} of them`,
    );
  const progress = new SimulationProgress({
    // A bar per hospital is unreadable with hundreds of them: their joins and updates show as lines.
    sites: virtual ? [] : sites,
    totalRounds,
    interactive: options.interactive,
    write,
  });
  const backends: Record<string, { backend: string; backendDetail: string }> = {};
  const children: ChildProcess[] = [];
  let finalEvent: FlEvent | undefined;
  let stopping = false;
  let coordinatorExited = false;
  /** Exits from now on are the end of the run, not crashes to restart or report. */
  const ending = () => stopping || coordinatorExited || finalEvent !== undefined;
  const restarts: Record<string, number> = {};
  const failed: ClientFailure[] = [];
  const logPath = (name: string) => join(runDir, "logs", `${name}.log`);
  const logStream = (name: string) => createWriteStream(logPath(name), { flags: "a" });

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

  let coordinatorResult: { status?: string; reason?: string } = {};
  const started = await new Promise<{ address: string } | { completedAt: string } | { exit: number | null }>(
    (settle) => {
      coordinator.on(
        "message",
        (message: {
          type: string;
          address?: string;
          completedAt?: string;
          status?: string;
          reason?: string;
          event?: FlEvent;
          progress?: { siteId: string; progress: number; status: string; kind: string };
        }) => {
          if (message.type === "listening" && message.address) settle({ address: message.address });
          if (message.type === "already-completed" && message.completedAt)
            settle({ completedAt: message.completedAt });
          if (message.type === "result") coordinatorResult = message;
          if (message.type === "event" && message.event) {
            progress.event(message.event);
            if (message.event.type === "federation.completed") finalEvent = message.event;
          }
        },
      );
      coordinator.once("exit", (code) => settle({ exit: code }));
    },
  );
  if ("exit" in started || "completedAt" in started) {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    progress.stop();
    // Its pipes end the log once its last output is in: that output is quoted below.
    await new Promise((resolve) => {
      if (coordinatorLog.writableFinished) return resolve(null);
      coordinatorLog.once("finish", () => resolve(null));
      setTimeout(resolve, 4 * LAST_OUTPUT_WAIT_MS);
    });
  }
  if ("completedAt" in started) {
    say(`federation "${config.federationId}" already completed at ${started.completedAt}; nothing to do`);
    if (existsSync(join(runDir, "report.md"))) say(readFileSync(join(runDir, "report.md"), "utf8"));
    return { status: "completed", runDir, durationSec: (Date.now() - startedAt) / 1000 };
  }
  if ("exit" in started) {
    const lastLines = readFileSync(logPath("coordinator"), "utf8")
      .trimEnd()
      .split("\n")
      .slice(-CLIENT_TAIL_LINES);
    if (!resuming && freshRun) removeFailedStart(runDir, createdRunDir);
    throw new FlError(
      ErrorCode.FailedPrecondition,
      `the coordinator exited (code ${started.exit}) before listening; its last output:\n${lastLines.map((l) => `    ${l}`).join("\n")}${
        !resuming && freshRun ? `\nnothing was kept in ${runDir}` : `\nfull log: ${logPath("coordinator")}`
      }`,
    );
  }
  const { address } = started;
  const coordinatorExit = new Promise<number | null>((done) =>
    coordinator.once("exit", (code) => {
      coordinatorExited = true;
      done(code);
    }),
  );

  // Client configs name the coordinator's real address, known only once it listens.
  const clientsDir = join(runDir, "clients");
  for (const site of virtual ? [] : sites) {
    const siteTls = tls?.sites[site];
    const clientConfig = {
      siteId: site,
      federationId: config.federationId,
      coordinator: address,
      identity: `../keys/sites/${site}.identity.json`,
      coordinatorPublicKey: "../keys/coordinator.public.json",
      ...(tls && siteTls
        ? {
            tls: {
              ca: relative(clientsDir, tls.ca),
              cert: relative(clientsDir, siteTls.cert),
              key: relative(clientsDir, siteTls.key),
            },
          }
        : { insecure: true }),
      data: config.data,
      workDir: `../work/${site}`,
      backend: config.backend,
      training: { threads: TRAINER_THREADS_PER_SLOT },
      reconnectTimeoutSec: 60,
    };
    writeFileAtomic(join(clientsDir, `${site}.yaml`), YAML.stringify(clientConfig));
  }

  /**
   * Runs one hospital's process; one that crashes or is killed before the federation ends is
   * started again (it joins again, and the coordinator hands it its task anew) until
   * `restartClients` is spent. Resolves once the site's last process has exited.
   */
  const superviseClient = (site: string): Promise<void> =>
    new Promise((done) => {
      let exits = 0;
      const start = () => {
        const child = forkTypeScript(
          FL_ENTRY,
          ["client", "--config", join(clientsDir, `${site}.yaml`), "--ipc"],
          {
            stdio: ["ignore", "pipe", "pipe", "ipc"],
          },
        );
        children.push(child);
        // Both streams write into one file, so neither may end it; "close" does, once both are drained.
        const log = logStream(site);
        const tail = new LineTail(CLIENT_TAIL_LINES);
        child.stdout?.pipe(log, { end: false });
        child.stderr?.pipe(log, { end: false });
        child.stderr?.on("data", (chunk: Buffer) => tail.write(chunk));
        const held = new SlotHolder(slots);
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
              void held.acquire().then((granted) => {
                // A child that dies after this cannot be told; its "close" hands the slot back.
                if (granted) child.send({ type: "slot.granted", id }, () => {});
              });
            } else if (message.type === "slot.release") {
              held.release();
            } else if (message.type === "progress" && message.progress) {
              progress.site(
                site,
                message.progress.fraction * 100,
                `round ${message.progress.round} ${message.progress.status}`,
              );
            } else if (message.type === "ready") {
              backends[site] = {
                backend: message.backend ?? "?",
                backendDetail: message.backendDetail ?? "",
              };
            }
          },
        );
        // Its trainer child writes to the same pipes and can outlive a killed client for a while,
        // so the pipes close when both are gone: the log ends then, the decision cannot wait.
        child.once("close", () => log.end());
        child.once("exit", async (code, signal) => {
          held.close();
          await new Promise((settled) => {
            child.once("close", settled);
            setTimeout(settled, LAST_OUTPUT_WAIT_MS);
          });
          if (ending()) return done();
          exits++;
          const how = signal ?? `code ${code}`;
          // A clean exit is the client's own decision (it heard the federation end, say): restarting
          // it would not change that, and the coordinator may now wait for it in vain.
          if (code !== 0 && exits <= config.restartClients) {
            restarts[site] = exits;
            const delayMs = restartDelayMs(exits);
            progress.line(
              `${site} exited (${how}); restarting it in ${delayMs / 1000} s (restart ${exits} of ${config.restartClients}); see ${logPath(site)}`,
            );
            progress.site(site, 0, "restarting");
            setTimeout(() => (ending() ? done() : start()), delayMs);
            return;
          }
          const failure = { siteId: site, exits, lastExit: how, lastLines: tail.lines() };
          failed.push(failure);
          progress.line(describeFailure(failure, config.restartClients, logPath(site)));
          stopAll();
          done();
        });
      };
      start();
    });
  /** The one process of the virtual hospitals: its exit before the federation ends fails the run. */
  const superviseVirtual = (all: readonly VirtualSite[], count: number): Promise<void> =>
    new Promise((done) => {
      const child = startVirtualHospitals({
        runDir,
        federationId: config.federationId,
        address,
        tls,
        sites: all,
        workers: count,
        backend: config.backend,
        onReady: (ready) => {
          backends.virtual = { backend: ready.backend, backendDetail: ready.backendDetail };
        },
      });
      children.push(child);
      child.once("exit", async (code, signal) => {
        await new Promise((settled) => {
          child.once("close", settled);
          setTimeout(settled, LAST_OUTPUT_WAIT_MS);
        });
        if (ending() && code === 0) return done();
        if (ending() && stopping) return done();
        const log = logPath("virtual-hospitals");
        const lastLines = existsSync(log)
          ? readFileSync(log, "utf8").trimEnd().split("\n").slice(-CLIENT_TAIL_LINES)
          : [];
        const failure = {
          siteId: "virtual-hospitals",
          exits: 1,
          lastExit: signal ?? `code ${code}`,
          lastLines,
        };
        failed.push(failure);
        progress.line(describeFailure(failure, 0, log));
        stopAll();
        done();
      });
    });
  const clientExits =
    virtual && workers !== undefined
      ? [superviseVirtual(virtual, workers)]
      : sites.map((site) => superviseClient(site));

  const coordinatorCode = await coordinatorExit;
  // Clients leave by themselves once they hear "done"; give them a moment, then stop stragglers.
  const timer = setTimeout(stopAll, 15_000);
  await Promise.all(clientExits);
  clearTimeout(timer);
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  progress.stop();

  const durationSec = (Date.now() - startedAt) / 1000;
  const status =
    coordinatorCode === 0 && finalEvent && failed.length === 0
      ? "completed"
      : stopping && failed.length === 0
        ? "interrupted"
        : "failed";
  const run = {
    status,
    ...(status !== "completed" && {
      reason:
        status === "interrupted"
          ? "stopped by a signal before the plan's end; the same command resumes it"
          : failed.length > 0
            ? `${failed.map((f) => f.siteId).join(", ")} failed`
            : (coordinatorResult.reason ?? `the coordinator exited (code ${coordinatorCode})`),
    }),
    federationId: config.federationId,
    startedAt: new Date(startedAt).toISOString(),
    durationSec,
    cores,
    trainingSlots: workers ?? slots.capacity,
    ...(virtual && { virtualSites: sites.length, workers }),
    ...(Object.keys(restarts).length > 0 && { clientRestarts: restarts }),
    ...(failed.length > 0 && { clientsFailed: failed }),
    node: process.version,
    backends,
  };
  writeFileSync(join(runDir, "run.json"), `${JSON.stringify(run, null, 2)}\n`);
  say("");
  if (existsSync(join(runDir, "report.md"))) say(readFileSync(join(runDir, "report.md"), "utf8"));
  // fl analyse reads each hospital's client config, which virtual hospitals do not have.
  if (virtual)
    say("analysis skipped: fl analyse needs one client config per hospital, and virtual hospitals have none");
  await analyseAndReport(runDir, status, say, { analyse: options.afterRun !== "report" && !virtual });
  say(
    `${status === "completed" ? "finished" : status === "interrupted" ? "INTERRUPTED" : "FAILED"} in ${durationSec.toFixed(1)} s${"reason" in run ? ` (${run.reason})` : ""}; backends: ${Object.entries(
      backends,
    )
      .map(([s, b]) => `${s}=${b.backend}`)
      .join(", ")}`,
  );
  // The virtual hospitals' process is never restarted: it would start all of them again.
  const restartsAllowed = virtual ? 0 : config.restartClients;
  for (const failure of failed) say(describeFailure(failure, restartsAllowed, logPath(failure.siteId)));
  say(
    status === "completed"
      ? `results: ${join(runDir, "report.html")} (also report.md, report.json), evaluation.json, rounds.json, model/final.flw; logs in ${join(runDir, "logs")}`
      : `no final model (the plan did not complete); reports up to the last committed round: ${join(runDir, "report.md")}; logs in ${join(runDir, "logs")}`,
  );
  return { status, runDir, durationSec };
}

/** How many of a failed client's last output lines its report quotes. */
const CLIENT_TAIL_LINES = 8;
/** How long an exited client's last output may take to arrive before it is judged. */
const LAST_OUTPUT_WAIT_MS = 500;

interface ClientFailure {
  readonly siteId: string;
  /** How often its process exited before the federation ended. */
  readonly exits: number;
  /** The last exit: a signal name or "code N". */
  readonly lastExit: string;
  readonly lastLines: readonly string[];
}

function describeFailure(failure: ClientFailure, restartClients: number, log: string): string {
  const { siteId, exits, lastExit, lastLines } = failure;
  const what =
    lastExit === "code 0"
      ? `${siteId} left before the federation ended (code 0)`
      : restartClients === 0
        ? `${siteId} exited (${lastExit}) before the federation ended, and restarts are off (--restart-clients 0)`
        : `${siteId} failed: it exited ${exits} times (the last time: ${lastExit}) and its ${restartClients} restart${restartClients === 1 ? " is" : "s are"} spent (--restart-clients ${restartClients})`;
  const quoted =
    lastLines.length > 0 ? `; its last output:\n${lastLines.map((l) => `    ${l}`).join("\n")}\n ` : ";";
  return `${what}${quoted} full log: ${log}`;
}
