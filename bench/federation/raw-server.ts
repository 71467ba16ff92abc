/**
 * The raw grpc-js server of raw-grpc.ts, in its own process as the coordinator is. Told
 * { tls? } over IPC, it answers { port } and serves until its parent disconnects.
 */
import * as grpc from "@grpc/grpc-js";
import { GRPC_CHANNEL_OPTIONS } from "../../shared/src/transport/grpc-options.js";
import { chunkSizes, RAW_SERVICE, type RawRequest, type RawTls } from "./raw-grpc.js";

/** The coordinator's server streams at most this many calls per connection too. */
const MAX_CONCURRENT_STREAMS = 100;

process.once("message", async ({ tls }: { tls?: RawTls }) => {
  const server = new grpc.Server({
    ...GRPC_CHANNEL_OPTIONS,
    "grpc.max_concurrent_streams": MAX_CONCURRENT_STREAMS,
  });
  // One buffer serves every chunk: the yardstick spends nothing on producing bytes.
  let source = Buffer.alloc(0);
  server.addService(RAW_SERVICE, {
    download: async (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      const request = JSON.parse(call.request.toString()) as RawRequest;
      if (source.length < request.chunkBytes) source = Buffer.alloc(request.chunkBytes, 3);
      for (const size of chunkSizes(request)) {
        if (call.cancelled) return;
        if (!call.write(source.subarray(0, size)))
          await new Promise<void>((drained) => call.once("drain", drained));
      }
      call.end();
    },
    upload: (call: grpc.ServerReadableStream<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => {
      let received = 0;
      call.on("data", (chunk: Buffer) => {
        received += chunk.length;
      });
      call.on("end", () => done(null, Buffer.from(String(received))));
      call.on("error", () => {});
    },
  });
  const credentials = tls
    ? grpc.ServerCredentials.createSsl(
        Buffer.from(tls.ca),
        [{ cert_chain: Buffer.from(tls.cert), private_key: Buffer.from(tls.key) }],
        true,
      )
    : grpc.ServerCredentials.createInsecure();
  server.bindAsync("127.0.0.1:0", credentials, (error, port) => {
    if (error) throw error;
    process.send?.({ port });
  });
  process.once("disconnect", () => {
    server.forceShutdown();
    process.exit(0);
  });
});
