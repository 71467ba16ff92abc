import { createConnection, createServer, type Server, type Socket } from "node:net";

/**
 * A loopback TCP relay in front of the coordinator for one site, counting the bytes each way on
 * the wire (HTTP/2 frames, headers and all). One relay per site gives each site its own address,
 * so gRPC gives each its own connection and the counts are that site's alone.
 */
export class ByteCounter {
  /** Bytes the site sent to the coordinator, and received from it, so far. */
  sent = 0;
  received = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly address: string,
  ) {}

  static async start(targetPort: number): Promise<ByteCounter> {
    let counter: ByteCounter | undefined;
    const server = createServer((client) => {
      const upstream = createConnection({ host: "127.0.0.1", port: targetPort });
      const self = counter as ByteCounter;
      self.sockets.add(client).add(upstream);
      client.on("data", (chunk: Buffer) => {
        self.sent += chunk.length;
      });
      upstream.on("data", (chunk: Buffer) => {
        self.received += chunk.length;
      });
      client.pipe(upstream).pipe(client);
      const end = () => {
        client.destroy();
        upstream.destroy();
        self.sockets.delete(client);
        self.sockets.delete(upstream);
      };
      client.on("error", end).on("close", end);
      upstream.on("error", end).on("close", end);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("the byte counter has no port");
    counter = new ByteCounter(server, `127.0.0.1:${address.port}`);
    return counter;
  }

  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
