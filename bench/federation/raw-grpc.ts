/**
 * Raw grpc-js streaming, the yardstick of model transfer: a service that streams bytes the way
 * the federation's Download and Upload calls do (the same chunk sizes, back-pressure on the
 * server's writes, the same channel options and TLS) but carries them as bare messages, with no
 * protobuf, session, hashing or encryption. The server runs in its own process (raw-server.ts),
 * as the coordinator does.
 */
import * as grpc from "@grpc/grpc-js";
import { SITE_CHANNEL_OPTIONS } from "../../client/src/transport/grpc/coordinator-client.js";
import type { Interval } from "./split.js";

const bytesAsIs = {
  requestSerialize: (value: Buffer) => value,
  requestDeserialize: (value: Buffer) => value,
  responseSerialize: (value: Buffer) => value,
  responseDeserialize: (value: Buffer) => value,
};

export const RAW_SERVICE = {
  download: { path: "/bench.Raw/Download", requestStream: false, responseStream: true, ...bytesAsIs },
  upload: { path: "/bench.Raw/Upload", requestStream: true, responseStream: false, ...bytesAsIs },
} satisfies grpc.ServiceDefinition;

/** What a download asks for: so many bytes in chunks of so many. */
export interface RawRequest {
  readonly bytes: number;
  readonly chunkBytes: number;
}

export interface RawTls {
  readonly ca: Uint8Array;
  readonly cert: Uint8Array;
  readonly key: Uint8Array;
}

/** Yields the chunk sizes of `bytes` split into pieces of at most `chunkBytes`. */
export function* chunkSizes({ bytes, chunkBytes }: RawRequest): Generator<number> {
  for (let offset = 0; offset < bytes; offset += chunkBytes) yield Math.min(chunkBytes, bytes - offset);
}

const now = () => performance.timeOrigin + performance.now();

const RawClient = grpc.makeGenericClientConstructor(RAW_SERVICE, "Raw");

/**
 * A client of the raw service with the sites' channel options, so that connections are shared
 * or not as the sites' are (grpc-js pools them across clients of the same target, options and
 * credentials: plaintext sites in one process share one; under mutual TLS each has its own).
 */
export class RawStreams {
  private readonly client: grpc.Client & {
    download(request: Buffer): grpc.ClientReadableStream<Buffer>;
    upload(
      callback: (error: grpc.ServiceError | null, answer?: Buffer) => void,
    ): grpc.ClientWritableStream<Buffer>;
  };

  constructor(port: number, tls?: RawTls) {
    const credentials = tls
      ? grpc.credentials.createSsl(Buffer.from(tls.ca), Buffer.from(tls.key), Buffer.from(tls.cert))
      : grpc.credentials.createInsecure();
    this.client = new RawClient(`127.0.0.1:${port}`, credentials, SITE_CHANNEL_OPTIONS) as never;
  }

  /** Receives `bytes` from the server; the interval is from the call to its last message. */
  download(request: RawRequest): Promise<Interval> {
    const startMs = now();
    return new Promise((resolve, reject) => {
      const call = this.client.download(
        Buffer.from(JSON.stringify(request)),
      ) as grpc.ClientReadableStream<Buffer>;
      let received = 0;
      call.on("data", (chunk: Buffer) => {
        received += chunk.length;
      });
      call.on("error", reject);
      call.on("end", () => {
        if (received !== request.bytes)
          reject(new Error(`raw download received ${received} of ${request.bytes} bytes`));
        else resolve({ startMs, endMs: now() });
      });
    });
  }

  /** Sends `bytes` in chunks, waiting for the stream to drain; the interval ends with the answer. */
  upload(request: RawRequest): Promise<Interval> {
    const startMs = now();
    const chunk = Buffer.alloc(request.chunkBytes, 7);
    return new Promise((resolve, reject) => {
      const call = this.client.upload((error, answer) => {
        if (error) return reject(error);
        const received = Number(answer?.toString());
        if (received !== request.bytes)
          reject(new Error(`raw upload delivered ${received} of ${request.bytes} bytes`));
        else resolve({ startMs, endMs: now() });
      });
      const write = async () => {
        for (const size of chunkSizes(request)) {
          const ok = call.write(size === chunk.length ? chunk : chunk.subarray(0, size));
          if (!ok) await new Promise<void>((drained) => call.once("drain", drained));
        }
        call.end();
      };
      write().catch(reject);
    });
  }

  close(): void {
    this.client.close();
  }
}
