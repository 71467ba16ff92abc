/**
 * The NATS adapter of the event bus: the only file in `shared/` that imports `nats`.
 * Core NATS is fire-and-forget (observers connected at the time see the event); with JetStream
 * every event is stored in a file-backed stream, the federation's audit log.
 */
import {
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
  NatsError,
  nkeyAuthenticator,
  StorageType,
  type StreamInfo,
} from "nats";
import { readFileBytes } from "../config/load.js";
import { ErrorCode, errorMessage, FlError } from "../errors.js";
import { decodeEvent, encodeEvent } from "./codec.js";
import { createHandlerRegistry, defaultEventLog } from "./handlers.js";
import {
  DEFAULT_SUBJECT_PREFIX,
  eventSubject,
  federationSubjects,
  subjectCovers,
  subjectPrefixProblem,
  subjectTokenProblem,
} from "./subject.js";
import type { EventBus, FlEvent } from "./types.js";

const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
const DEFAULT_PUBLISH_TIMEOUT_MS = 2_000;
const DEFAULT_CLOSE_TIMEOUT_MS = 5_000;
/** Events kept while JetStream is unreachable; beyond this the oldest are dropped (and logged). */
const DEFAULT_BACKLOG_LIMIT = 10_000;
/** Attempts to store one backlogged event after a reconnect before it is dropped. */
const FLUSH_ATTEMPTS = 5;

export interface NatsTlsOptions {
  /** PEM file of the CA that signed the NATS server's certificate. */
  caFile?: string;
  /** PEM client certificate, when the server requires mutual TLS. */
  certFile?: string;
  /** PEM private key of `certFile`. */
  keyFile?: string;
}

/**
 * How the bus proves who it is to nats-server, so that the server's permissions decide who may
 * publish to (forge) or purge a federation's subjects and stream. Secrets are read from files,
 * never from the URL or the command line, and never logged.
 */
export type NatsAuth =
  | { readonly user: string; readonly passwordFile: string }
  | { readonly tokenFile: string }
  /** A `.creds` file (user JWT and nkey seed) from `nsc`, for operator/account deployments. */
  | { readonly credsFile: string }
  /** A file holding a user nkey seed (`SU…`), for servers that list users by nkey. */
  | { readonly nkeySeedFile: string };

export interface NatsEventBusOptions {
  /** Server URL, e.g. `nats://nats:4222` or `tls://nats.example.org:4222`. Credentials in it are never logged. */
  url: string;
  /** The federation whose events this bus publishes and receives; one subject token. */
  federationId: string;
  /** First subject tokens (default {@link DEFAULT_SUBJECT_PREFIX}); events go to `${prefix}.${federationId}.${type}`. */
  subjectPrefix?: string;
  /**
   * When set, events are published through JetStream and acknowledged by a file-backed stream
   * named `stream` (created if missing, extended to this federation's subjects if it exists),
   * giving a durable audit log. While the server is unreachable they are queued (up to
   * `backlogLimit`) and stored after the reconnect.
   */
  jetstream?: {
    /** Stream name (letters, digits, '-', '_'). */
    stream: string;
    /** Drop stored events older than this (default: keep forever). */
    maxAgeMs?: number;
    /** See {@link DEFAULT_BACKLOG_LIMIT}. */
    backlogLimit?: number;
  };
  /** Diagnostics sink: connection changes, dropped and malformed events (default: stderr). */
  log?: (line: string) => void;
  /** TLS to the NATS server (a `tls://` URL also turns it on). */
  tls?: NatsTlsOptions;
  /** Credentials; without them the bus connects anonymously. */
  auth?: NatsAuth;
  /** Connection name shown in the server's monitoring (default `fl-<federationId>`). */
  name?: string;
  /** Give up on the first connection after this long (default {@link DEFAULT_CONNECT_TIMEOUT_MS}). */
  connectTimeoutMs?: number;
  /** Wait this long for a JetStream acknowledgement (default {@link DEFAULT_PUBLISH_TIMEOUT_MS}). */
  publishTimeoutMs?: number;
  /** `close()` drains for at most this long, then closes hard (default {@link DEFAULT_CLOSE_TIMEOUT_MS}). */
  closeTimeoutMs?: number;
}

/** The NATS bus, with one extra operation for callers that need ordering guarantees. */
export interface NatsEventBus extends EventBus {
  /**
   * Resolves once the server has processed everything this bus sent so far, subscriptions
   * included (so a publisher elsewhere can be started knowing this bus will see its events).
   * Rejects with `FlError(Timeout)` if the server does not answer within the publish timeout.
   */
  flush(): Promise<void>;
}

/** Removes user:password from a URL so that it can appear in logs and errors. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^/@]*@/, "//***@");
}

function validateOptions(options: NatsEventBusOptions): string {
  const problems: string[] = [];
  if (typeof options.url !== "string" || options.url.trim().length === 0) problems.push("nats url is empty");
  const idProblem = subjectTokenProblem(options.federationId ?? "");
  if (idProblem !== undefined) problems.push(`federationId "${options.federationId}" ${idProblem}`);
  const prefix = options.subjectPrefix ?? DEFAULT_SUBJECT_PREFIX;
  const prefixProblem = subjectPrefixProblem(prefix);
  if (prefixProblem !== undefined) problems.push(`subjectPrefix "${prefix}" ${prefixProblem}`);
  const stream = options.jetstream?.stream;
  if (stream !== undefined && !/^[A-Za-z0-9_-]+$/.test(stream)) {
    problems.push(`jetstream stream name "${stream}" may only contain letters, digits, '-' and '_'`);
  }
  if (problems.length > 0) {
    throw new FlError(ErrorCode.InvalidConfig, `invalid NATS event bus options: ${problems.join("; ")}`);
  }
  return prefix;
}

function isNotFound(error: unknown): boolean {
  return error instanceof NatsError && error.api_error?.err_code === 10059;
}

async function ensureStream(
  jsm: JetStreamManager,
  options: NonNullable<NatsEventBusOptions["jetstream"]>,
  subjects: string,
  log: (line: string) => void,
): Promise<void> {
  let info: StreamInfo | undefined;
  try {
    info = await jsm.streams.info(options.stream);
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  if (info === undefined) {
    await jsm.streams.add({
      name: options.stream,
      subjects: [subjects],
      storage: StorageType.File,
      // An audit log: no API call may delete or purge single events; only deleting the whole
      // stream can, and nats-server permissions decide who may do that.
      deny_delete: true,
      deny_purge: true,
      ...(options.maxAgeMs === undefined ? {} : { max_age: options.maxAgeMs * 1_000_000 }),
    });
    log(`created JetStream stream ${options.stream} on ${subjects}`);
    return;
  }
  if (info.config.storage !== StorageType.File) {
    log(
      `JetStream stream ${options.stream} uses ${info.config.storage} storage: events will not survive a server restart`,
    );
  }
  const existing = info.config.subjects ?? [];
  if (!existing.some((pattern) => subjectCovers(pattern, subjects))) {
    await jsm.streams.update(options.stream, { subjects: [...existing, subjects] });
    log(`added ${subjects} to JetStream stream ${options.stream}`);
  }
}

/** Secret files are read once, here; a trailing newline (as editors write) is not part of the secret. */
function authOptions(auth: NatsAuth | undefined): Partial<ConnectionOptions> {
  if (auth === undefined) return {};
  const secret = (path: string, what: string) => readFileBytes(path, what).toString("utf8").trim();
  if ("user" in auth) return { user: auth.user, pass: secret(auth.passwordFile, "NATS password file") };
  if ("tokenFile" in auth) return { token: secret(auth.tokenFile, "NATS token file") };
  if ("credsFile" in auth)
    return { authenticator: credsAuthenticator(readFileBytes(auth.credsFile, "NATS credentials file")) };
  return {
    authenticator: nkeyAuthenticator(
      new TextEncoder().encode(secret(auth.nkeySeedFile, "NATS nkey seed file")),
    ),
  };
}

async function connectOrExplain(options: NatsEventBusOptions): Promise<NatsConnection> {
  const connectionOptions: ConnectionOptions = {
    servers: options.url,
    name: options.name ?? `fl-${options.federationId}`,
    timeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    // A coordinator runs for days; it must ride out any broker outage.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1_000,
  };
  if (options.tls !== undefined) {
    connectionOptions.tls = {
      ...(options.tls.caFile === undefined ? {} : { caFile: options.tls.caFile }),
      ...(options.tls.certFile === undefined ? {} : { certFile: options.tls.certFile }),
      ...(options.tls.keyFile === undefined ? {} : { keyFile: options.tls.keyFile }),
    };
  }
  Object.assign(connectionOptions, authOptions(options.auth));
  try {
    return await connect(connectionOptions);
  } catch (error) {
    if (error instanceof NatsError && error.isAuthError()) {
      throw new FlError(
        ErrorCode.InvalidConfig,
        `NATS at ${redactUrl(options.url)} refused ${options.auth === undefined ? "an unauthenticated connection" : "the configured credentials"} (${errorMessage(error)}). ` +
          "Configure the credentials nats-server expects (nats.auth: user and passwordFile, tokenFile, credsFile " +
          "or nkeySeedFile; `fl events watch`: --user/--password-file, --token-file, --creds or --nkey-seed).",
        { cause: error },
      );
    }
    const usesTls = options.tls !== undefined || options.url.startsWith("tls://");
    throw new FlError(
      ErrorCode.InvalidConfig,
      `cannot connect to NATS at ${redactUrl(options.url)}: ${errorMessage(error)}. ` +
        "Check that nats-server is running there and reachable from this host (for a local one: " +
        "`nats-server -js`), or leave NATS out of the configuration to use the in-process event bus." +
        (usesTls
          ? " With TLS, also check that caFile is the CA that signed the server's certificate, that the " +
            "certificate names this host, and, if the server verifies clients, that certFile and keyFile are set."
          : ""),
      { cause: error },
    );
  }
}

async function setUpJetStream(
  nc: NatsConnection,
  options: NatsEventBusOptions,
  subjects: string,
  log: (line: string) => void,
): Promise<JetStreamClient | undefined> {
  const jetstream = options.jetstream;
  if (jetstream === undefined) return undefined;
  let jsm: JetStreamManager;
  try {
    jsm = await nc.jetstreamManager();
  } catch (error) {
    throw new FlError(
      ErrorCode.InvalidConfig,
      `JetStream is not available on the NATS server at ${redactUrl(options.url)} (${errorMessage(error)}). ` +
        "Start nats-server with JetStream (`nats-server -js -sd <store dir>`) or turn the jetstream option off.",
      { cause: error },
    );
  }
  try {
    await ensureStream(jsm, jetstream, subjects, log);
  } catch (error) {
    throw new FlError(
      ErrorCode.InvalidConfig,
      `cannot set up JetStream stream ${jetstream.stream} on ${subjects}: ${errorMessage(error)}. ` +
        "Another stream may already capture these subjects; use that stream's name or another subject prefix.",
      { cause: error },
    );
  }
  return nc.jetstream();
}

/** Logs each loss and return of the connection once (not every reconnect attempt) and reports it. */
function monitorConnection(
  nc: NatsConnection,
  where: string,
  log: (line: string) => void,
  onChange: (connected: boolean) => void,
): void {
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") {
        onChange(false);
        log(`disconnected from NATS at ${where}; reconnecting`);
      } else if (status.type === "reconnect") {
        onChange(true);
        log(`reconnected to NATS at ${where}`);
      } else if (status.type === "error") {
        log(`NATS error: ${String(status.data)}`);
      }
    }
  })().catch((error: unknown) => log(`NATS status monitor stopped: ${errorMessage(error)}`));
}

/** The event in a message from the broker (untrusted), or undefined (logged) when it is not one of ours. */
function acceptMessage(
  prefix: string,
  federationId: string,
  subject: string,
  data: Uint8Array,
  log: (line: string) => void,
): FlEvent | undefined {
  const decoded = decodeEvent(data);
  if (!decoded.ok) {
    log(`ignored malformed event on ${subject}: ${decoded.reason}`);
    return undefined;
  }
  const event = decoded.event;
  if (event.federationId !== federationId || subject !== eventSubject(prefix, federationId, event.type)) {
    log(`ignored ${event.type} event of federation ${event.federationId} received on ${subject}`);
    return undefined;
  }
  return event;
}

/**
 * Connects to NATS and returns a bus for one federation. Throws `FlError(InvalidConfig)` with the
 * (redacted) URL and a hint when options are invalid, the server cannot be reached, or JetStream
 * is requested but unavailable. After that first connection the bus reconnects forever.
 */
export async function createNatsEventBus(options: NatsEventBusOptions): Promise<NatsEventBus> {
  const prefix = validateOptions(options);
  const log = options.log ?? defaultEventLog;
  const federationId = options.federationId;
  const subjects = federationSubjects(prefix, federationId);
  const publishTimeoutMs = options.publishTimeoutMs ?? DEFAULT_PUBLISH_TIMEOUT_MS;
  const closeTimeoutMs = options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
  const backlogLimit = options.jetstream?.backlogLimit ?? DEFAULT_BACKLOG_LIMIT;
  const streamName = options.jetstream?.stream;
  const where = redactUrl(options.url);

  const nc = await connectOrExplain(options);
  let js: JetStreamClient | undefined;
  try {
    js = await setUpJetStream(nc, options, subjects, log);
  } catch (error) {
    await nc.close();
    throw error;
  }

  const handlers = createHandlerRegistry(log);
  let connected = true;
  let closed = false;
  let natsSubscribed = false;
  const backlog: { subject: string; bytes: Uint8Array; type: string }[] = [];
  let droppedFromBacklog = 0;
  let flushing: Promise<void> | undefined;
  const timers = new Set<NodeJS.Timeout>();

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });

  const storeInJetStream = async (subject: string, bytes: Uint8Array) => {
    if (js === undefined) throw new FlError(ErrorCode.Internal, "JetStream client missing");
    await js.publish(subject, bytes, {
      timeout: publishTimeoutMs,
      ...(streamName === undefined ? {} : { expect: { streamName } }),
    });
  };

  const enqueue = (item: { subject: string; bytes: Uint8Array; type: string }) => {
    backlog.push(item);
    if (backlog.length > backlogLimit) {
      backlog.shift();
      droppedFromBacklog += 1;
      if (droppedFromBacklog === 1)
        log(`backlog full (${backlogLimit} events): dropping the oldest queued events`);
    }
  };

  const flushBacklog = async () => {
    while (backlog.length > 0 && connected && !closed) {
      const head = backlog[0];
      if (head === undefined) break;
      let stored = false;
      for (let attempt = 1; attempt <= FLUSH_ATTEMPTS && connected && !closed; attempt++) {
        try {
          await storeInJetStream(head.subject, head.bytes);
          stored = true;
          break;
        } catch (error) {
          // Right after a restart JetStream may still be recovering its streams.
          if (attempt === FLUSH_ATTEMPTS) log(`dropped queued ${head.type} event: ${errorMessage(error)}`);
          else await pause(250 * attempt);
        }
      }
      if (!connected && !stored) break;
      if (backlog[0] === head) backlog.shift();
    }
    if (droppedFromBacklog > 0 && backlog.length === 0) {
      log(
        `${droppedFromBacklog} events were dropped while NATS was unreachable (backlog limit ${backlogLimit})`,
      );
      droppedFromBacklog = 0;
    }
  };

  const startFlush = (): Promise<void> => {
    flushing ??= flushBacklog().finally(() => {
      flushing = undefined;
    });
    return flushing;
  };

  monitorConnection(nc, where, log, (up) => {
    connected = up;
    if (up && js !== undefined && backlog.length > 0) void startFlush();
  });

  const onMessage = (subject: string, data: Uint8Array) => {
    const event = acceptMessage(prefix, federationId, subject, data, log);
    if (event !== undefined) handlers.dispatch(event);
  };

  const ensureNatsSubscription = () => {
    if (natsSubscribed) return;
    natsSubscribed = true;
    nc.subscribe(subjects, {
      callback: (error, msg) => {
        if (error !== null) log(`subscription to ${subjects} failed: ${error.message}`);
        else onMessage(msg.subject, msg.data);
      },
    });
  };

  const publish = async (event: FlEvent): Promise<void> => {
    if (event.federationId !== federationId) {
      throw new FlError(
        ErrorCode.InvalidArgument,
        `cannot publish a ${event.type} event of federation "${event.federationId}" on the bus of "${federationId}"`,
      );
    }
    const bytes = encodeEvent(event);
    const subject = eventSubject(prefix, federationId, event.type);
    if (closed) {
      log(`bus is closed; dropped ${event.type} event`);
      return;
    }
    if (js === undefined) {
      try {
        nc.publish(subject, bytes);
      } catch (error) {
        log(`dropped ${event.type} event: ${errorMessage(error)}`);
      }
      return;
    }
    // Keep the audit log in order: once anything is queued, later events queue behind it.
    if (!connected || backlog.length > 0) {
      enqueue({ subject, bytes, type: event.type });
      if (connected) void startFlush();
      return;
    }
    try {
      await storeInJetStream(subject, bytes);
    } catch (error) {
      if (!connected && !closed) enqueue({ subject, bytes, type: event.type });
      else log(`dropped ${event.type} event: ${errorMessage(error)}`);
    }
  };

  return {
    publish,
    subscribe(handler, filter) {
      if (closed) {
        log("bus is closed; subscription ignored");
        return () => {};
      }
      const unsubscribe = handlers.add(handler, filter);
      ensureNatsSubscription();
      return unsubscribe;
    },
    async flush() {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new FlError(ErrorCode.Timeout, `NATS at ${where} did not answer within ${publishTimeoutMs} ms`),
            ),
          publishTimeoutMs,
        );
      });
      try {
        await Promise.race([nc.flush(), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      if (closed) return;
      const deadline = new Promise<"timeout">((resolve) => {
        const timer = setTimeout(() => resolve("timeout"), closeTimeoutMs);
        timer.unref();
      });
      if (js !== undefined && backlog.length > 0 && connected) {
        await Promise.race([startFlush(), deadline]);
      }
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      if (backlog.length > 0) log(`closing with ${backlog.length} queued events not stored in JetStream`);
      handlers.clear();
      if (connected) {
        const drained = await Promise.race([nc.drain().then(() => "drained" as const), deadline]);
        if (drained === "timeout") log(`NATS drain did not finish within ${closeTimeoutMs} ms; closing`);
      }
      if (!nc.isClosed()) await nc.close();
    },
  };
}

export interface EventFeedOptions extends Omit<NatsEventBusOptions, "jetstream" | "publishTimeoutMs"> {
  /** With a JetStream stream: deliver the events already stored first, then the new ones. */
  replay?: boolean;
}

/** Where a feed reads from. */
export type EventFeedSource =
  /** A stream: every stored event exactly once, in order, across reconnects and server restarts. */
  | { readonly kind: "jetstream"; readonly stream: string; readonly stored: number }
  /** No stream stores the federation's subjects: live events only, lost while disconnected. */
  | { readonly kind: "core"; readonly reason: string };

export interface EventFeed {
  readonly source: EventFeedSource;
  /** Stops delivery and drains the connection. Idempotent. */
  close(): Promise<void>;
}

/**
 * Follows one federation's events for observers (`fl events watch`). When a JetStream stream
 * stores the federation's subjects, events come from it through an ordered consumer that starts
 * at an explicit stream sequence and, after any reconnect or server restart, resumes after the
 * last one delivered: none lost, none repeated. Otherwise it falls back to a live core
 * subscription and says why in `source`.
 */
export async function followEvents(
  options: EventFeedOptions,
  handler: (event: FlEvent) => void,
): Promise<EventFeed> {
  const prefix = validateOptions(options);
  const log = options.log ?? defaultEventLog;
  const { federationId } = options;
  const subjects = federationSubjects(prefix, federationId);
  const where = redactUrl(options.url);
  const closeTimeoutMs = options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
  const nc = await connectOrExplain(options);
  monitorConnection(nc, where, log, () => {});
  let closed = false;
  const deliver = (subject: string, data: Uint8Array) => {
    if (closed) return;
    const event = acceptMessage(prefix, federationId, subject, data, log);
    if (event !== undefined) handler(event);
  };
  const close = async () => {
    if (closed) return;
    closed = true;
    const deadline = new Promise<"timeout">((resolve) =>
      setTimeout(() => resolve("timeout"), closeTimeoutMs).unref(),
    );
    await Promise.race([nc.drain(), deadline]).catch(() => {});
    if (!nc.isClosed()) await nc.close();
  };

  try {
    const stored = await storedStream(nc, subjects);
    if (typeof stored === "string") {
      nc.subscribe(subjects, {
        callback: (error, msg) => {
          if (error !== null) log(`subscription to ${subjects} failed: ${error.message}`);
          else deliver(msg.subject, msg.data);
        },
      });
      await nc.flush();
      return { source: { kind: "core", reason: stored }, close };
    }
    const startSeq = options.replay ? Math.max(1, stored.firstSeq) : stored.lastSeq + 1;
    const consumer = await nc.jetstream().consumers.get(stored.stream, {
      filterSubjects: subjects,
      opt_start_seq: startSeq,
    });
    const messages = await consumer.consume();
    // The ordered consumer already resumes after the last delivered sequence; this guard makes
    // "never twice" hold even if a reset replayed one.
    let lastSeq = startSeq - 1;
    void (async () => {
      for await (const message of messages) {
        if (message.seq <= lastSeq) continue;
        lastSeq = message.seq;
        deliver(message.subject, message.data);
      }
    })().catch((error: unknown) => {
      if (!closed) log(`reading stream ${stored.stream} stopped: ${errorMessage(error)}`);
    });
    return {
      source: { kind: "jetstream", stream: stored.stream, stored: stored.count },
      close: async () => {
        if (!closed) await messages.close().catch(() => {});
        await close();
      },
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** The stream holding `subjects` and what it holds of them, or why there is none. */
async function storedStream(
  nc: NatsConnection,
  subjects: string,
): Promise<{ stream: string; count: number; firstSeq: number; lastSeq: number } | string> {
  let jsm: JetStreamManager;
  try {
    jsm = await nc.jetstreamManager();
  } catch (error) {
    return `JetStream is not available on this server (${errorMessage(error)})`;
  }
  let stream: string;
  try {
    stream = await jsm.streams.find(subjects);
  } catch {
    return `no JetStream stream stores ${subjects}`;
  }
  const info = await jsm.streams.info(stream, { subjects_filter: subjects });
  const count = Object.values(info.state.subjects ?? {}).reduce((sum, n) => sum + n, 0);
  return { stream, count, firstSeq: info.state.first_seq, lastSeq: info.state.last_seq };
}
