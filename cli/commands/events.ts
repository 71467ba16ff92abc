/**
 * `fl events …`: watch a federation's events on NATS from any machine that can reach the broker.
 */
import { type Command, InvalidArgumentError } from "commander";
import { ErrorCode, errorMessage, FlError } from "../../shared/src/errors.js";
import {
  DEFAULT_SUBJECT_PREFIX,
  EVENT_TYPES,
  type FlEventType,
  formatEventJson,
  formatEventLine,
  isFlEventType,
} from "../../shared/src/events/index.js";
import { createNatsEventBus, type NatsTlsOptions, redactUrl } from "../../shared/src/events/nats-bus.js";

/**
 * Parses `--types a,b`: trims, drops empties and duplicates; throws FlError(InvalidConfig) on unknown names.
 * @internal Exported for its unit test; `fl events watch` is the interface.
 */
export function parseEventTypes(list: string): FlEventType[] {
  const names = [...new Set(list.split(",").map((name) => name.trim()))].filter((name) => name.length > 0);
  const unknown = names.filter((name) => !isFlEventType(name));
  if (unknown.length > 0) {
    throw new FlError(
      ErrorCode.InvalidConfig,
      `unknown event type${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")}; known types: ${EVENT_TYPES.join(", ")}`,
    );
  }
  return names as FlEventType[];
}

/** @internal Options of {@link watchEvents}. */
export interface WatchEventsOptions {
  /** NATS server URL. */
  url: string;
  federationId: string;
  subjectPrefix?: string;
  /** Only these types; all when absent or empty. */
  types?: readonly FlEventType[];
  /** JSON lines instead of human-readable lines. */
  json?: boolean;
  /** Stop after this many events (for scripts and tests). */
  count?: number;
  tls?: NatsTlsOptions;
}

/** @internal Where {@link watchEvents} writes, and what stops it. */
export interface WatchEventsIo {
  /** One output line per event (no trailing newline). */
  out: (line: string) => void;
  /** Diagnostics. */
  err: (line: string) => void;
  /** Aborting stops the watch; the bus drains before the returned promise resolves. */
  signal: AbortSignal;
}

/**
 * Prints events as they arrive until `signal` aborts or `count` events were printed; returns how many.
 * @internal Exported for its integration test (which drives it with its own io and signal).
 */
export async function watchEvents(options: WatchEventsOptions, io: WatchEventsIo): Promise<number> {
  const bus = await createNatsEventBus({
    url: options.url,
    federationId: options.federationId,
    subjectPrefix: options.subjectPrefix ?? DEFAULT_SUBJECT_PREFIX,
    name: `fl-events-watch-${options.federationId}`,
    log: io.err,
    ...(options.tls === undefined ? {} : { tls: options.tls }),
  });
  let printed = 0;
  const done = new Promise<void>((resolve) => {
    if (io.signal.aborted) resolve();
    io.signal.addEventListener("abort", () => resolve(), { once: true });
    bus.subscribe(
      (event) => {
        if (options.count !== undefined && printed >= options.count) return;
        io.out(options.json ? formatEventJson(event) : formatEventLine(event));
        printed += 1;
        if (options.count !== undefined && printed >= options.count) resolve();
      },
      options.types === undefined ? undefined : { types: options.types },
    );
  });
  try {
    await bus.flush();
    io.err(
      `watching ${options.subjectPrefix ?? DEFAULT_SUBJECT_PREFIX}.${options.federationId}.> on ${redactUrl(options.url)}` +
        (options.types?.length ? ` (types: ${options.types.join(", ")})` : ""),
    );
    await done;
  } finally {
    await bus.close();
  }
  return printed;
}

function parseTypesOption(value: string): FlEventType[] {
  try {
    return parseEventTypes(value);
  } catch (error) {
    throw new InvalidArgumentError(errorMessage(error));
  }
}

function parseCountOption(value: string): number {
  const count = Number(value);
  if (!Number.isSafeInteger(count) || count < 1) throw new InvalidArgumentError("must be a positive integer");
  return count;
}

interface WatchFlags {
  nats: string;
  federation: string;
  types?: FlEventType[];
  json?: boolean;
  subjectPrefix: string;
  count?: number;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

export function registerEventsCommands(program: Command): void {
  const events = program.command("events").description("observe federation events published on NATS");

  events
    .command("watch")
    .description("print a federation's events as they arrive (one line each) until Ctrl-C")
    .requiredOption("--nats <url>", "NATS server URL, e.g. nats://localhost:4222")
    .requiredOption("--federation <id>", "federation id (the coordinator's federationId)")
    .option("--types <list>", `comma-separated event types (${EVENT_TYPES.join(", ")})`, parseTypesOption)
    .option("--json", "print JSON lines instead of human-readable lines")
    .option(
      "--subject-prefix <prefix>",
      "subject prefix the coordinator publishes under",
      DEFAULT_SUBJECT_PREFIX,
    )
    .option("--count <n>", "exit after printing n events", parseCountOption)
    .option("--tls-ca <file>", "CA certificate (PEM) of the NATS server")
    .option("--tls-cert <file>", "client certificate (PEM) when NATS requires mutual TLS")
    .option("--tls-key <file>", "private key (PEM) of --tls-cert")
    .action(async (flags: WatchFlags) => {
      const abort = new AbortController();
      const stop = () => abort.abort();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      const tls: NatsTlsOptions = {
        ...(flags.tlsCa === undefined ? {} : { caFile: flags.tlsCa }),
        ...(flags.tlsCert === undefined ? {} : { certFile: flags.tlsCert }),
        ...(flags.tlsKey === undefined ? {} : { keyFile: flags.tlsKey }),
      };
      try {
        const printed = await watchEvents(
          {
            url: flags.nats,
            federationId: flags.federation,
            subjectPrefix: flags.subjectPrefix,
            ...(flags.types === undefined ? {} : { types: flags.types }),
            ...(flags.json === undefined ? {} : { json: flags.json }),
            ...(flags.count === undefined ? {} : { count: flags.count }),
            ...(Object.keys(tls).length === 0 ? {} : { tls }),
          },
          {
            out: (line) => process.stdout.write(`${line}\n`),
            err: (line) => process.stderr.write(`${line}\n`),
            signal: abort.signal,
          },
        );
        process.stderr.write(`stopped after ${printed} event${printed === 1 ? "" : "s"}\n`);
      } finally {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
      }
    });
}
