import * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import {
  type ChallengeRequest,
  type ChallengeResponse,
  type DownloadModelRequest,
  type EvaluationAck,
  type EvaluationReport,
  type FederationServer,
  FederationService,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type JoinRequest,
  type JoinResponse,
  type LeaveRequest,
  type LeaveResponse,
  type ModelChunk,
  type PullTaskRequest,
  type PullTaskResponse,
  type SecAggRequest,
  type SecAggResponse,
  type UploadMessage,
  type UploadVerdict,
} from "../../../../proto/gen/fl/v1/federation.js";
import { ErrorCode, errorMessage, FlError } from "../../../../shared/src/errors.js";
import { INTERNAL_ERROR_MESSAGE } from "../../../../shared/src/fl/limits.js";
import type { Caller, RequestAuth } from "../../../../shared/src/fl/messages.js";
import type { CoordinatorService, UploadSink } from "../../../../shared/src/fl/ports.js";
import { rejectionVerdict } from "../../../../shared/src/fl/verdict.js";
import { channelBindingOfFingerprint } from "../../../../shared/src/transport/channel-binding.js";
import { toServiceError } from "../../../../shared/src/transport/grpc-errors.js";
import { GRPC_CHANNEL_OPTIONS } from "../../../../shared/src/transport/grpc-options.js";
import { secAggAnswerToWire, secAggRequestFromWire } from "../../../../shared/src/transport/grpc-secagg.js";
import { chunkBytes, DEFAULT_CHUNK_BYTES } from "../../../../shared/src/weights/index.js";
import { caNameOf, type ServerSecurity, type ServerTls, tlsServerOptions } from "./credentials.js";
import { createRefusalReporter, type RefusalReporter } from "./refusal-log.js";
import type { RevocationList } from "./revocation.js";
import { listenTls, type TlsListener } from "./tls-listener.js";
import { revokedRefusal, type TlsRefusalReason } from "./tls-refusal.js";
import { DEFAULT_MAX_CONCURRENT_UPLOADS, UploadSlots } from "./upload-slots.js";
import {
  challengeToWire,
  evaluationFromWire,
  heartbeatAckToWire,
  heartbeatFromWire,
  joinGrantToWire,
  joinRequestFromWire,
  pullOutcomeToWire,
  requestAuthFromWire,
  uploadHeaderFromWire,
  verdictToWire,
} from "./wire.js";

/** Adapts a coordinator to the generated gRPC service: wire types in, domain calls, wire types out. */
function createFederationServer(
  service: CoordinatorService,
  log: (line: string) => void,
  refusals: RefusalReporter,
  slots: UploadSlots,
  revocation?: RevocationList,
): FederationServer {
  // Every call names its channel; a revoked client certificate is refused before anything else,
  // and the operator reads which one in the log.
  const bound = (call: AnyCall): string => {
    const certificate = peerCertificate(call);
    try {
      revocation?.check(certificate?.serialNumber);
    } catch (error) {
      const commonName = certificate?.subject?.CN;
      refusals.refused(
        call.getPeer(),
        revokedRefusal(errorMessage(error), commonName === undefined ? undefined : String(commonName)),
      );
      throw error;
    }
    return channelBindingOfFingerprint(certificate?.fingerprint256);
  };
  const session = (request: WireAuth, call: AnyCall): RequestAuth & Caller => ({
    ...requestAuthFromWire(request),
    channelBinding: bound(call),
  });

  const unary =
    <Req, Res>(
      name: string,
      handler: (request: Req, call: grpc.ServerUnaryCall<Req, Res>) => Res | Promise<Res>,
    ): grpc.handleUnaryCall<Req, Res> =>
    (call, callback) => {
      Promise.resolve()
        .then(() => handler(call.request, call))
        .then(
          (response) => callback(null, response),
          (error: unknown) => {
            if (!(error instanceof FlError) || error.code === ErrorCode.Internal)
              log(`${name} failed: ${errorMessage(error)}`);
            callback(toServiceError(error));
          },
        );
    };

  return {
    getChallenge: unary<ChallengeRequest, ChallengeResponse>("GetChallenge", (request, call) =>
      challengeToWire(
        service.getChallenge({
          siteId: request.siteId,
          clientNonce: new Uint8Array(request.clientNonce),
          channelBinding: bound(call),
        }),
      ),
    ),

    join: unary<JoinRequest, JoinResponse>("Join", (request, call) => {
      assertCertificateMatches(peerCertificate(call), request.siteId);
      return joinGrantToWire(service.join({ ...joinRequestFromWire(request), channelBinding: bound(call) }));
    }),

    pullTask: unary<PullTaskRequest, PullTaskResponse>("PullTask", async (request, call) => {
      const abort = new AbortController();
      call.on("cancelled", () => abort.abort());
      return pullOutcomeToWire(await service.pullTask(session(request, call), request.waitMs, abort.signal));
    }),

    heartbeat: unary<HeartbeatRequest, HeartbeatResponse>("Heartbeat", (request, call) =>
      heartbeatAckToWire(service.heartbeat(session(request, call), heartbeatFromWire(request))),
    ),

    downloadModel: (call: grpc.ServerWritableStream<DownloadModelRequest, ModelChunk>) => {
      void streamModel(service, call, session).catch((error: unknown) => {
        if (!(error instanceof FlError)) log(`DownloadModel failed: ${errorMessage(error)}`);
        // grpc-js turns an "error" event on a server stream into its status and ends the call;
        // destroy() would tear the stream down without any status, and the client would wait
        // out its deadline instead of rejoining or giving up.
        call.emit("error", toServiceError(error));
      });
    },

    uploadUpdate: (
      call: grpc.ServerReadableStream<UploadMessage, UploadVerdict>,
      callback: grpc.sendUnaryData<UploadVerdict>,
    ) => {
      // Not read until it has a slot (UploadSlots): the client waits on flow control meanwhile.
      call.pause();
      let release = () => {};
      let sink: UploadSink | undefined;
      let answered = false;
      const answer = (verdict: UploadVerdict) => {
        if (answered) return;
        answered = true;
        release();
        callback(null, verdict);
      };
      // Whatever ends the stream ends the upload with it, so no buffer outlives its stream.
      const drop = (reason: string) => {
        sink?.abort(reason);
        sink = undefined;
        release();
      };
      const rejectWith = (error: unknown) => {
        drop("the upload was answered");
        try {
          answer(verdictToWire(rejectionVerdict(publicUploadError(error, log))));
        } catch (sessionError) {
          if (!answered) {
            answered = true;
            callback(toServiceError(sessionError));
          }
        }
        call.removeAllListeners("data");
        call.resume();
      };
      call.on("data", (message: UploadMessage) => {
        if (answered) return;
        try {
          const part = message.part;
          if (part?.$case === "header") {
            if (sink) throw new FlError(ErrorCode.InvalidArgument, "a second header arrived in one upload");
            sink = service.beginUpload(
              session(part.value, call),
              uploadHeaderFromWire(part.value),
              rejectWith,
            );
          } else if (part?.$case === "chunk") {
            if (!sink)
              throw new FlError(ErrorCode.InvalidArgument, "a chunk arrived before the upload header");
            sink.addChunk(part.value.index, new Uint8Array(part.value.ciphertext));
          } else {
            throw new FlError(ErrorCode.InvalidArgument, "empty upload message");
          }
        } catch (error) {
          rejectWith(error);
        }
      });
      call.on("end", async () => {
        if (answered) return;
        if (call.cancelled) {
          drop("client cancelled the upload");
          return;
        }
        try {
          if (!sink) throw new FlError(ErrorCode.InvalidArgument, "upload stream ended without a header");
          const finishing = sink;
          sink = undefined;
          await finishing.finish();
          answer(verdictToWire({ accepted: true }));
        } catch (error) {
          rejectWith(error);
        }
      });
      call.on("error", (error) => drop(errorMessage(error)));
      call.on("cancelled", () => drop("client cancelled the upload"));
      release = slots.acquire(() => call.resume());
    },

    reportEvaluation: unary<EvaluationReport, EvaluationAck>("ReportEvaluation", (request, call) => {
      service.reportEvaluation(session(request, call), evaluationFromWire(request));
      return { accepted: true, message: "recorded" };
    }),

    leave: unary<LeaveRequest, LeaveResponse>("Leave", (request, call) => {
      service.leave(session(request, call), request.reason);
      return {};
    }),

    secAggExchange: unary<SecAggRequest, SecAggResponse>("SecAggExchange", async (request, call) => {
      if (!service.secAggExchange)
        throw new FlError(ErrorCode.Unsupported, "this coordinator runs no secure aggregation");
      const abort = new AbortController();
      call.on("cancelled", () => abort.abort());
      const answer = await service.secAggExchange(
        session(request, call),
        secAggRequestFromWire(request),
        abort.signal,
      );
      return secAggAnswerToWire(answer);
    }),
  };
}

type AnyCall = Pick<grpc.ServerUnaryCall<unknown, unknown>, "getAuthContext" | "getPeer">;
type PeerCertificate = NonNullable<ReturnType<AnyCall["getAuthContext"]>["sslPeerCertificate"]>;

/**
 * The caller's verified client certificate, the one source of the revocation check, the site's
 * name check and the channel binding; undefined without mutual TLS. The TLS socket is ours
 * (tls-listener.ts) and grpc-js serves it as plaintext HTTP/2, yet getAuthContext() still finds
 * the certificate: it asks the session's socket, which is that TLSSocket, so no table of
 * certificates by peer address is needed (test/integration/coordinator/tls-refusals.test.ts
 * checks that the binding still comes through).
 */
function peerCertificate(call: AnyCall): PeerCertificate | undefined {
  const certificate = call.getAuthContext().sslPeerCertificate;
  return certificate && Object.keys(certificate).length > 0 ? certificate : undefined;
}

type WireAuth = { sessionToken: string; sequence: number; mac: Buffer };

/**
 * An upload's refusal as the site may see it: an internal failure (a store error, a bug) keeps its
 * text in the coordinator's log and goes over the wire as FL_INTERNAL with a generic message.
 */
function publicUploadError(error: unknown, log: (line: string) => void): FlError {
  const flError = FlError.from(error);
  if (flError.code !== ErrorCode.Internal || flError.message === INTERNAL_ERROR_MESSAGE) return flError;
  log(`UploadUpdate failed: ${errorMessage(error)}`);
  return new FlError(ErrorCode.Internal, INTERNAL_ERROR_MESSAGE);
}

/**
 * Streams one connection may have open at once. A site needs a handful (long-poll, heartbeat,
 * download, upload); the cap keeps one connection from opening streams without end.
 */
export const MAX_CONCURRENT_STREAMS = 32;

/**
 * Under mutual TLS the client certificate's common name must be the site that joins, so a stolen
 * certificate of one hospital cannot be used with another hospital's key, and vice versa.
 */
function assertCertificateMatches(certificate: PeerCertificate | undefined, siteId: string): void {
  if (!certificate) return;
  const commonName = certificate.subject?.CN;
  if (commonName !== siteId) {
    // Not Unauthenticated: that tells a client to join again, and this will not change by retrying.
    throw new FlError(
      ErrorCode.UnknownSite,
      `the client certificate is issued to "${String(commonName)}" but the client joins as "${siteId}": each hospital's tls.cert must be its own`,
    );
  }
}

/** Streams the model in 1 MiB chunks, waiting for the stream to drain (back-pressure). */
async function streamModel(
  service: CoordinatorService,
  call: grpc.ServerWritableStream<DownloadModelRequest, ModelChunk>,
  session: (request: WireAuth, call: AnyCall) => RequestAuth & Caller,
): Promise<void> {
  const { bytes, sha256 } = service.model(session(call.request, call), call.request.modelVersion);
  const chunks = chunkBytes(bytes, DEFAULT_CHUNK_BYTES);
  let offset = 0;
  for (const [i, data] of chunks.entries()) {
    if (call.cancelled) return;
    const last = i === chunks.length - 1;
    const ok = call.write({
      offset,
      data: Buffer.from(data.buffer, data.byteOffset, data.byteLength),
      totalBytes: bytes.length,
      sha256: last ? sha256 : "",
    });
    offset += data.length;
    if (!ok) await new Promise<void>((resolve) => call.once("drain", resolve));
  }
  call.end();
}

/** The names the standard health service (grpc.health.v1) answers for: the server, and the federation service. */
const HEALTH_SERVICES = ["", "fl.v1.Federation"] as const;

export interface StartedServer {
  readonly port: number;
  readonly server: grpc.Server;
  /** grpc.health.v1: SERVING from the start; `false` once the federation is done or failed. */
  setServing(serving: boolean): void;
  shutdown(graceMs?: number): Promise<void>;
}

/**
 * Listens; resolves once the port is bound. With TLS the coordinator terminates it itself
 * (tls-listener.ts) and injects each established connection into grpc-js, so that a refused
 * handshake is logged with its reason and counted; plaintext binds through grpc-js.
 */
export async function startGrpcServer(
  service: CoordinatorService,
  options: {
    listen: string;
    security: ServerSecurity;
    log: (line: string) => void;
    /** Client certificates revoked under mutual TLS (tls.crl). */
    revocation?: RevocationList;
    /** Each refused TLS client, by reason: fl_tls_handshake_failures_total. */
    onTlsRefusal?: (reason: TlsRefusalReason) => void;
    /** Uploads read at once (limits.maxConcurrentUploads); the others wait their turn. */
    maxConcurrentUploads?: number;
  },
): Promise<StartedServer> {
  const server = new grpc.Server({
    ...GRPC_CHANNEL_OPTIONS,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.max_concurrent_streams": MAX_CONCURRENT_STREAMS,
  });
  const refusals = createRefusalReporter({ log: options.log, count: options.onTlsRefusal });
  server.addService(
    FederationService,
    createFederationServer(
      service,
      options.log,
      refusals,
      new UploadSlots(options.maxConcurrentUploads ?? DEFAULT_MAX_CONCURRENT_UPLOADS),
      options.revocation,
    ),
  );
  const health = new HealthImplementation(
    Object.fromEntries(HEALTH_SERVICES.map((name) => [name, "SERVING"])),
  );
  health.addToServer(server);
  let port: number;
  let listener: TlsListener | undefined;
  try {
    if (options.security === "insecure") port = await bindPlaintext(server, options.listen);
    else {
      listener = await listenWithTls(server, options.security, options.listen, refusals, options.log);
      port = listener.port;
    }
  } catch (error) {
    server.forceShutdown();
    throw error;
  }
  return {
    port,
    server,
    setServing: (serving) => {
      for (const name of HEALTH_SERVICES) health.setStatus(name, serving ? "SERVING" : "NOT_SERVING");
    },
    shutdown: async (graceMs = 5000) => {
      const closed = listener?.close();
      await new Promise<void>((done) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          done();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          done();
        });
      });
      listener?.destroyConnections();
      await closed;
    },
  };
}

function bindPlaintext(server: grpc.Server, listen: string): Promise<number> {
  return new Promise((resolve, reject) => {
    // bindAsync's callback is readiness.
    server.bindAsync(listen, grpc.ServerCredentials.createInsecure(), (error, port) => {
      if (error)
        reject(
          new FlError(ErrorCode.InvalidConfig, `cannot listen on ${listen}: ${error.message}`, {
            cause: error,
          }),
        );
      else resolve(port);
    });
  });
}

async function listenWithTls(
  server: grpc.Server,
  security: ServerTls,
  listen: string,
  refusals: RefusalReporter,
  log: (line: string) => void,
): Promise<TlsListener> {
  // The connections arrive decrypted: grpc-js serves them as plaintext HTTP/2, and still reads
  // the client certificate from the TLS socket underneath (peerCertificate).
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  return listenTls({
    listen,
    tls: tlsServerOptions(security),
    caName: caNameOf(security),
    onSecure: (socket) => injector.injectConnection(socket),
    onRefused: (peer, refusal) => refusals.refused(peer, refusal),
    onServerError: (error) =>
      log(`the gRPC listener on ${listen} failed to accept a connection: ${errorMessage(error)}`),
  });
}
