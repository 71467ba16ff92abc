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
import {
  followEvents,
  type NatsAuth,
  type NatsTlsOptions,
  redactUrl,
} from "../../shared/src/events/nats-bus.js";

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
  /** Print the events the JetStream stream already holds before the new ones. */
  replay?: boolean;
  tls?: NatsTlsOptions;
  auth?: NatsAuth;
}

/** @internal Where {@link watchEvents} writes, and what stops it. */
export interface WatchEventsIo {
  /** One output line per event (no trailing newline). */
  out: (line: string) => void;
  /** Diagnostics. */
  err: (line: string) => void;
  /** Aborting stops the watch; the connection drains before the returned promise resolves. */
  signal: AbortSignal;
}

/**
 * Prints events as they arrive until `signal` aborts or `count` events were printed; returns how many.
 * @internal Exported for its integration test (which drives it with its own io and signal).
 */
export async function watchEvents(options: WatchEventsOptions, io: WatchEventsIo): Promise<number> {
  const prefix = options.subjectPrefix ?? DEFAULT_SUBJECT_PREFIX;
  const subjects = `${prefix}.${options.federationId}.>`;
  let printed = 0;
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const wanted = options.types !== undefined && options.types.length > 0 ? new Set(options.types) : undefined;
  const feed = await followEvents(
    {
      url: options.url,
      federationId: options.federationId,
      subjectPrefix: prefix,
      name: `fl-events-watch-${options.federationId}`,
      log: io.err,
      ...(options.replay === undefined ? {} : { replay: options.replay }),
      ...(options.tls === undefined ? {} : { tls: options.tls }),
      ...(options.auth === undefined ? {} : { auth: options.auth }),
    },
    (event) => {
      if (wanted !== undefined && !wanted.has(event.type)) return;
      if (options.count !== undefined && printed >= options.count) return;
      io.out(options.json ? formatEventJson(event) : formatEventLine(event));
      printed += 1;
      if (options.count !== undefined && printed >= options.count) finish();
    },
  );
  if (io.signal.aborted) finish();
  io.signal.addEventListener("abort", finish, { once: true });
  try {
    const types = options.types?.length ? ` (types: ${options.types.join(", ")})` : "";
    const source = feed.source;
    if (source.kind === "jetstream") {
      io.err(
        `watching ${subjects} on ${redactUrl(options.url)}${types} from JetStream stream ${source.stream}: ` +
          (source.stored === 0
            ? `it holds no events of federation "${options.federationId}" yet (check the federation id and --subject-prefix if one is expected)`
            : `${source.stored} stored event${source.stored === 1 ? "" : "s"} of this federation` +
              (options.replay
                ? ", printed first"
                : "; showing new ones (--replay prints the stored ones first)")),
      );
    } else {
      io.err(
        `watching ${subjects} on ${redactUrl(options.url)}${types}: ${source.reason}, so only live events are shown ` +
          "and those published while this watcher is disconnected are lost. A coordinator with nats.jetstream: " +
          "true stores them; if yours does, check the federation id and --subject-prefix.",
      );
    }
    await done;
  } finally {
    io.signal.removeEventListener("abort", finish);
    await feed.close();
  }
  return printed;
}

/**
 * The credentials of the flags; at most one kind.
 * @internal Exported for its unit test.
 */
export function authOfFlags(flags: {
  user?: string;
  passwordFile?: string;
  tokenFile?: string;
  creds?: string;
  nkeySeed?: string;
}): NatsAuth | undefined {
  const kinds = [
    flags.user !== undefined || flags.passwordFile !== undefined ? "--user/--password-file" : undefined,
    flags.tokenFile !== undefined ? "--token-file" : undefined,
    flags.creds !== undefined ? "--creds" : undefined,
    flags.nkeySeed !== undefined ? "--nkey-seed" : undefined,
  ].filter((kind) => kind !== undefined);
  if (kinds.length > 1) {
    throw new FlError(
      ErrorCode.InvalidConfig,
      `give one kind of NATS credentials, not ${kinds.join(" and ")}`,
    );
  }
  if (flags.user !== undefined || flags.passwordFile !== undefined) {
    if (flags.user === undefined || flags.passwordFile === undefined)
      throw new FlError(ErrorCode.InvalidConfig, "--user and --password-file go together; give both");
    return { user: flags.user, passwordFile: flags.passwordFile };
  }
  if (flags.tokenFile !== undefined) return { tokenFile: flags.tokenFile };
  if (flags.creds !== undefined) return { credsFile: flags.creds };
  if (flags.nkeySeed !== undefined) return { nkeySeedFile: flags.nkeySeed };
  return undefined;
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
  replay?: boolean;
  user?: string;
  passwordFile?: string;
  tokenFile?: string;
  creds?: string;
  nkeySeed?: string;
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
    .option("--replay", "first print the events the federation's JetStream stream already holds")
    .option("--user <name>", "NATS user name (with --password-file)")
    .option("--password-file <file>", "file holding the NATS user's password")
    .option("--token-file <file>", "file holding a NATS authentication token")
    .option("--creds <file>", "NATS .creds file (user JWT and nkey seed, from nsc)")
    .option("--nkey-seed <file>", "file holding a NATS user nkey seed (SU...)")
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
        const auth = authOfFlags(flags);
        const printed = await watchEvents(
          {
            url: flags.nats,
            federationId: flags.federation,
            subjectPrefix: flags.subjectPrefix,
            ...(flags.types === undefined ? {} : { types: flags.types }),
            ...(flags.json === undefined ? {} : { json: flags.json }),
            ...(flags.count === undefined ? {} : { count: flags.count }),
            ...(Object.keys(tls).length === 0 ? {} : { tls }),
            ...(flags.replay === undefined ? {} : { replay: flags.replay }),
            ...(auth === undefined ? {} : { auth }),
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
