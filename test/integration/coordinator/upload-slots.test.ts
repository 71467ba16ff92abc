import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { startGrpcServer } from "../../../coordinator/src/transport/grpc/service.js";
import { FederationClient, type UploadVerdict } from "../../../proto/gen/fl/v1/federation.js";
import type { CoordinatorService, UploadSink } from "../../../shared/src/fl/ports.js";

const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

const header = (uploadId: string) => ({
  part: {
    $case: "header" as const,
    value: {
      sessionToken: "t",
      sequence: 1,
      mac: Buffer.alloc(32),
      manifest: {
        federationId: "f",
        siteId: uploadId,
        round: 1,
        modelVersion: 0,
        taskId: "t",
        uploadId,
        noncePrefix: "AAAAAAAAAAAAAAAAAAAAAA==",
        contentSha256: "0".repeat(64),
        plaintextBytes: 1,
        numChunks: 1,
        numExamples: 1,
        createdAtMs: 0,
      },
      signature: Buffer.alloc(64),
      trainMetrics: {},
    },
  },
});

const tick = () => new Promise((resolve) => setTimeout(resolve, 100));

describe("limits.maxConcurrentUploads over real gRPC", () => {
  it("reads one upload at a time with a limit of 1: the next stream's header waits for the first verdict", async () => {
    const begun: string[] = [];
    const service = {
      beginUpload: (_call: unknown, h: { manifest: { uploadId: string } }): UploadSink => {
        begun.push(h.manifest.uploadId);
        return { addChunk: () => {}, finish: async () => {}, abort: () => {} };
      },
    } as unknown as CoordinatorService;
    const server = await startGrpcServer(service, {
      listen: "127.0.0.1:0",
      security: "insecure",
      log: () => {},
      maxConcurrentUploads: 1,
    });
    closers.push(() => server.server.forceShutdown());
    const client = new FederationClient(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
    closers.push(() => client.close());
    const open = (id: string) => {
      let call: ReturnType<FederationClient["uploadUpdate"]> | undefined;
      const verdict = new Promise<UploadVerdict>((resolve, reject) => {
        call = client.uploadUpdate((error, answer) => (error ? reject(error) : resolve(answer)));
      });
      call!.write(header(id));
      return { verdict, end: () => call!.end() };
    };
    const first = open("first");
    await tick();
    const second = open("second");
    await tick();
    expect(begun).toEqual(["first"]);
    first.end();
    expect(await first.verdict).toMatchObject({ accepted: true });
    await tick();
    expect(begun).toEqual(["first", "second"]);
    second.end();
    expect(await second.verdict).toMatchObject({ accepted: true });
  });
});
