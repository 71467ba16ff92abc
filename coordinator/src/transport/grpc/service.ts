import * as grpc from "@grpc/grpc-js";
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
  type UploadMessage,
  type UploadVerdict,
} from "../../../../proto/gen/fl/v1/federation.js";
import { ErrorCode, errorMessage, FlError } from "../../../../shared/src/errors.js";
import type { CoordinatorService, UploadSink } from "../../../../shared/src/fl/ports.js";
import { rejectionVerdict } from "../../../../shared/src/fl/verdict.js";
import { toServiceError } from "../../../../shared/src/transport/grpc-errors.js";
import { GRPC_CHANNEL_OPTIONS } from "../../../../shared/src/transport/grpc-options.js";
import { chunkBytes, DEFAULT_CHUNK_BYTES } from "../../../../shared/src/weights/index.js";
import {
  challengeToWire,
  evaluationFromWire,
  heartbeatFromWire,
  joinGrantToWire,
  joinRequestFromWire,
  pullOutcomeToWire,
  uploadHeaderFromWire,
  verdictToWire,
} from "./wire.js";

export interface ServerTls {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** CA that client certificates must chain to; with requireClientCert this is mutual TLS. */
  readonly ca?: Buffer;
  readonly requireClientCert: boolean;
}

/** Adapts a coordinator to the generated gRPC service: wire types in, domain calls, wire types out. */
function createFederationServer(service: CoordinatorService, log: (line: string) => void): FederationServer {
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
    getChallenge: unary<ChallengeRequest, ChallengeResponse>("GetChallenge", (request) =>
      challengeToWire(service.getChallenge(request.siteId)),
    ),

    join: unary<JoinRequest, JoinResponse>("Join", (request, call) => {
      assertCertificateMatches(call.getAuthContext(), request.siteId);
      return joinGrantToWire(service.join(joinRequestFromWire(request)));
    }),

    pullTask: unary<PullTaskRequest, PullTaskResponse>("PullTask", async (request, call) => {
      const abort = new AbortController();
      call.on("cancelled", () => abort.abort());
      return pullOutcomeToWire(await service.pullTask(request.sessionToken, request.waitMs, abort.signal));
    }),

    heartbeat: unary<HeartbeatRequest, HeartbeatResponse>("Heartbeat", (request) =>
      service.heartbeat(request.sessionToken, heartbeatFromWire(request)),
    ),

    downloadModel: (call: grpc.ServerWritableStream<DownloadModelRequest, ModelChunk>) => {
      void streamModel(service, call).catch((error: unknown) => {
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
      let sink: UploadSink | undefined;
      let answered = false;
      const answer = (verdict: UploadVerdict) => {
        if (answered) return;
        answered = true;
        callback(null, verdict);
      };
      const rejectWith = (error: unknown) => {
        try {
          answer(verdictToWire(rejectionVerdict(error)));
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
            sink = service.beginUpload(part.value.sessionToken, uploadHeaderFromWire(part.value));
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
      call.on("end", () => {
        if (answered) return;
        if (call.cancelled) {
          sink?.abort("client cancelled the upload");
          return;
        }
        try {
          if (!sink) throw new FlError(ErrorCode.InvalidArgument, "upload stream ended without a header");
          sink.finish();
          answer(verdictToWire({ accepted: true }));
        } catch (error) {
          rejectWith(error);
        }
      });
      call.on("error", (error) => sink?.abort(errorMessage(error)));
      call.on("cancelled", () => sink?.abort("client cancelled the upload"));
    },

    reportEvaluation: unary<EvaluationReport, EvaluationAck>("ReportEvaluation", (request) => {
      service.reportEvaluation(request.sessionToken, evaluationFromWire(request));
      return { accepted: true, message: "recorded" };
    }),

    leave: unary<LeaveRequest, LeaveResponse>("Leave", (request) => {
      service.leave(request.sessionToken, request.reason);
      return {};
    }),
  };
}

/**
 * Under mutual TLS the client certificate's common name must be the site that joins, so a stolen
 * certificate of one hospital cannot be used with another hospital's key, and vice versa.
 */
function assertCertificateMatches(
  auth: ReturnType<grpc.ServerUnaryCall<unknown, unknown>["getAuthContext"]>,
  siteId: string,
): void {
  const certificate = auth.sslPeerCertificate;
  if (!certificate || Object.keys(certificate).length === 0) return;
  const commonName = certificate.subject?.CN;
  if (commonName !== siteId) {
    throw new FlError(
      ErrorCode.Unauthenticated,
      `the client certificate is issued to "${String(commonName)}" but the client joins as "${siteId}"`,
    );
  }
}

/** Streams the model in 1 MiB chunks, waiting for the stream to drain (back-pressure). */
async function streamModel(
  service: CoordinatorService,
  call: grpc.ServerWritableStream<DownloadModelRequest, ModelChunk>,
): Promise<void> {
  const { bytes, sha256 } = service.model(call.request.sessionToken, call.request.modelVersion);
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

export interface StartedServer {
  readonly port: number;
  readonly server: grpc.Server;
  shutdown(graceMs?: number): Promise<void>;
}

/** Binds the service; resolves once the port is bound (bindAsync's callback is readiness). */
export function startGrpcServer(
  service: CoordinatorService,
  options: { listen: string; tls?: ServerTls; log: (line: string) => void },
): Promise<StartedServer> {
  const server = new grpc.Server({ ...GRPC_CHANNEL_OPTIONS, "grpc.keepalive_permit_without_calls": 1 });
  server.addService(FederationService, createFederationServer(service, options.log));
  const credentials = options.tls
    ? grpc.ServerCredentials.createSsl(
        options.tls.ca ?? null,
        [{ cert_chain: options.tls.cert, private_key: options.tls.key }],
        options.tls.requireClientCert,
      )
    : grpc.ServerCredentials.createInsecure();
  return new Promise((resolve, reject) => {
    server.bindAsync(options.listen, credentials, (error, port) => {
      if (error) {
        reject(
          new FlError(ErrorCode.InvalidConfig, `cannot listen on ${options.listen}: ${error.message}`, {
            cause: error,
          }),
        );
        return;
      }
      resolve({
        port,
        server,
        shutdown: (graceMs = 5000) =>
          new Promise<void>((done) => {
            const timer = setTimeout(() => {
              server.forceShutdown();
              done();
            }, graceMs);
            server.tryShutdown(() => {
              clearTimeout(timer);
              done();
            });
          }),
      });
    });
  });
}
