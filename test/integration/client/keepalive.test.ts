import { createConnection, createServer, type Server, type Socket } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { GrpcCoordinatorPort } from "../../../client/src/transport/grpc/coordinator-client.js";
import { FederationService } from "../../../proto/gen/fl/v1/federation.js";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import { GRPC_CHANNEL_OPTIONS } from "../../../shared/src/transport/grpc-options.js";

/**
 * A link that can be cut the way `ip link set … down` cuts one: the sockets stay open and
 * nothing arrives any more, in either direction (no FIN, no RST), so only a keepalive notices.
 */
class CuttableLink {
  private readonly sockets: Socket[] = [];
  private cut = false;
  readonly server: Server;

  constructor(upstreamPort: number) {
    this.server = createServer((downstream) => {
      const upstream = createConnection(upstreamPort, "127.0.0.1");
      this.sockets.push(downstream, upstream);
      downstream.on("data", (data) => this.cut || upstream.write(data));
      upstream.on("data", (data) => this.cut || downstream.write(data));
      for (const s of [downstream, upstream]) s.on("error", () => {});
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    const address = this.server.address();
    if (typeof address !== "object" || !address) throw new Error("no proxy address");
    return address.port;
  }

  cutNow(): void {
    this.cut = true;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function coordinatorThatNeverAnswers(): Promise<{ port: number; pulls: () => number }> {
  const server = new grpc.Server();
  let pulls = 0;
  // A long poll held open for good: only the link's liveness can end it early.
  server.addService(FederationService, {
    pullTask: () => {
      pulls++;
    },
  } as never);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, p) =>
      error ? reject(error) : resolve(p),
    ),
  );
  cleanups.push(() => void server.forceShutdown());
  return { port, pulls: () => pulls };
}

const AUTH = { sessionToken: "t", sequence: 1, mac: new Uint8Array(32) };

describe("the site's gRPC channel notices a dead link", () => {
  it("fails a long poll within 15 s of a silent cut, where the shared 30 s keepalive is still waiting", async () => {
    const coordinator = await coordinatorThatNeverAnswers();
    const link = new CuttableLink(coordinator.port);
    const proxyPort = await link.listen();
    cleanups.push(() => link.close());
    const site = new GrpcCoordinatorPort(`127.0.0.1:${proxyPort}`, "insecure");
    // The control: the options both ends share, whose keepalive (30 s + 10 s) is too slow here.
    const control = new GrpcCoordinatorPort(`127.0.0.1:${proxyPort}`, "insecure", GRPC_CHANNEL_OPTIONS);
    cleanups.push(
      () => site.close(),
      () => control.close(),
    );

    const settle = (p: Promise<unknown>) =>
      p.then(
        () => ({ at: Date.now(), error: undefined as unknown }),
        (error: unknown) => ({ at: Date.now(), error }),
      );
    const siteCall = settle(site.pullTask(AUTH, 60_000));
    const controlCall = settle(control.pullTask(AUTH, 60_000));
    const deadline = Date.now() + 10_000;
    while (coordinator.pulls() < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(coordinator.pulls()).toBe(2);

    link.cutNow();
    const cutAt = Date.now();
    const ended = await Promise.race([
      siteCall,
      new Promise<"pending">((r) => setTimeout(() => r("pending"), 17_000)),
    ]);
    expect(ended).not.toBe("pending");
    if (ended === "pending") return;
    const elapsed = ended.at - cutAt;
    expect(elapsed).toBeLessThanOrEqual(16_000);
    // Not at once either: the first ping after the cut goes unanswered for its 5 s timeout.
    expect(elapsed).toBeGreaterThanOrEqual(4_500);
    // A Timeout error is what makes the node drop its session and join again once the link is back.
    expect(ended.error).toBeInstanceOf(FlError);
    expect((ended.error as FlError).code).toBe(ErrorCode.Timeout);
    const controlState = await Promise.race([controlCall, Promise.resolve("pending" as const)]);
    expect(controlState).toBe("pending");
  }, 40_000);
});
