import type { AddressInfo, Socket } from "node:net";
import { createServer, type TLSSocket, type TlsOptions } from "node:tls";
import { ErrorCode, FlError } from "../../../../shared/src/errors.js";
import { classifyHandshakeFailure, type TlsRefusal } from "./tls-refusal.js";

export interface TlsListener {
  readonly port: number;
  /**
   * Stops accepting and drops connections still in their handshake; established ones are
   * grpc-js's to drain. Resolves once every connection has ended.
   */
  close(): Promise<void>;
  /** Ends every connection left, established ones included (after grpc-js's drain). */
  destroyConnections(): void;
}

/**
 * Terminates TLS for the gRPC server. grpc-js 1.14 tells its user nothing about a refused
 * handshake, so the coordinator listens with node:tls itself and hands each established
 * connection to grpc-js (`onSecure`, which injects it), and each refused one to `onRefused`.
 */
export function listenTls(options: {
  listen: string;
  tls: TlsOptions;
  /** The CA's name, for the refusals' explanations. */
  caName: string;
  onSecure: (socket: TLSSocket) => void;
  onRefused: (peer: string, refusal: TlsRefusal) => void;
  /** Errors of the listening socket after it is up (accept failing: out of file descriptors). */
  onServerError: (error: Error) => void;
}): Promise<TlsListener> {
  const { host, port } = parseListen(options.listen);
  const server = createServer(options.tls);
  /** Every TCP connection by its peer ("address:port", unique while it is open). */
  const open = new Map<string, Socket>();
  const established = new Set<string>();
  /**
   * Node verifies a client certificate after the handshake and closes a refused one at once; by the
   * time `tlsClientError` comes the TLS socket no longer knows its peer. The raw socket's "close"
   * runs just before, in the same turn (the TLS socket closes from it), so its address is kept here
   * for that one turn. That order is Node's, not a documented promise: should it change, lines say
   * "an unknown address", which test/integration/coordinator/tls-refusals.test.ts checks for.
   */
  let closingPeer: string | undefined;
  server.on("connection", (raw: Socket) => {
    const peer = peerOf(raw);
    open.set(peer, raw);
    raw.once("close", () => {
      open.delete(peer);
      established.delete(peer);
      closingPeer = peer;
      queueMicrotask(() => {
        if (closingPeer === peer) closingPeer = undefined;
      });
    });
  });
  server.on("secureConnection", (socket: TLSSocket) => {
    established.add(peerOf(socket));
    // Node leaves errors of an established TLS socket to its user; grpc-js's session handles
    // them once injected, but one in between must not reach the process.
    socket.on("error", () => {});
    options.onSecure(socket);
  });
  server.on("tlsClientError", (error: Error & { code?: string }, socket: TLSSocket) => {
    const refusal = classifyHandshakeFailure(
      { code: error.code, message: error.message, authorizationError: verifyCode(socket) },
      options.caName,
    );
    if (!refusal) return;
    const peer = socket.remoteAddress !== undefined ? peerOf(socket) : (closingPeer ?? "an unknown address");
    options.onRefused(peer, refusal);
  });

  return new Promise((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException) => reject(listenError(options.listen, error));
    server.once("error", failed);
    server.listen({ port, ...(host !== undefined && { host }) }, () => {
      server.off("error", failed);
      server.on("error", options.onServerError);
      let closed: Promise<void> | undefined;
      resolve({
        port: (server.address() as AddressInfo).port,
        close() {
          closed ??= new Promise<void>((done) => server.close(() => done()));
          // A connection still in its handshake is nobody's yet: it goes with the listener.
          for (const [peer, raw] of open) if (!established.has(peer)) raw.destroy();
          return closed;
        },
        destroyConnections() {
          for (const raw of open.values()) raw.destroy();
        },
      });
    });
  });
}

/**
 * The OpenSSL verify code Node left on a refused socket. @types/node calls `authorizationError` an
 * Error, but Node sets the code's string (e.g. "CERT_HAS_EXPIRED"); both are read.
 */
function verifyCode(socket: TLSSocket): string | undefined {
  const value: unknown = socket.authorizationError;
  if (typeof value === "string") return value;
  if (value instanceof Error) return (value as NodeJS.ErrnoException).code ?? value.message;
  return undefined;
}

/** "host:port" as grpc-js writes a call's peer (getPeer()), so that one client reads the same in every line. */
function peerOf(socket: Socket): string {
  return `${socket.remoteAddress}:${socket.remotePort}`;
}

/** `listen` as the config has it: "host:port", "[v6]:port", or ":port" for every interface. */
export function parseListen(listen: string): { host: string | undefined; port: number } {
  const colon = listen.lastIndexOf(":");
  const host = listen.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  const portText = listen.slice(colon + 1);
  const port = Number(portText);
  if (colon < 0 || !/^\d+$/.test(portText) || port > 65535)
    throw new FlError(
      ErrorCode.InvalidConfig,
      `listen "${listen}" is not host:port (for example 0.0.0.0:50051, [::]:50051, or 127.0.0.1:0 for a free port)`,
    );
  return { host: host === "" ? undefined : host, port };
}

const LISTEN_HINTS: Record<string, string> = {
  EADDRINUSE: "another process (an earlier coordinator?) listens on that port: stop it or change listen",
  EACCES: "ports below 1024 need privileges: use a higher port",
  EADDRNOTAVAIL: "that address is not one of this host's: use one it has, or 0.0.0.0",
  ENOTFOUND: "that host name does not resolve here",
};

function listenError(listen: string, error: NodeJS.ErrnoException): FlError {
  const hint = error.code === undefined ? undefined : LISTEN_HINTS[error.code];
  return new FlError(
    ErrorCode.InvalidConfig,
    `cannot listen on ${listen}: ${error.message}${hint === undefined ? "" : ` (${hint})`}`,
    { cause: error },
  );
}
