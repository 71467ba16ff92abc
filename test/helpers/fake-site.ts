import {
  type ClientTls,
  CoordinatorConnection,
  type AssignedTask as Task,
} from "../../client/src/transport/grpc/coordinator-client.js";
import { type PackedUpdate, packUpdate } from "../../client/src/update-packer.js";
import { type Identity, type PublicIdentity, sharedKey, signJoin } from "../../shared/src/crypto/index.js";
import { deserializeWeights, selectTensors } from "../../shared/src/weights/index.js";
import type { ModelWeights } from "../../shared/src/weights/types.js";

/**
 * A scripted hospital for protocol tests: speaks real gRPC through the production client adapter
 * and update packer, but its "training" is a delta the test chooses, so results are exact.
 */
export class FakeSite {
  readonly connection: CoordinatorConnection;
  token = "";
  federationId = "";
  key: Uint8Array;

  constructor(
    address: string,
    readonly identity: Identity,
    coordinator: PublicIdentity,
    tls?: ClientTls,
  ) {
    this.connection = new CoordinatorConnection(address, tls);
    this.key = sharedKey(identity.encryption.secretKey, coordinator.encryptionPublicKey);
  }

  async join(): Promise<void> {
    const challenge = await this.connection.getChallenge(this.identity.id);
    const signature = signJoin(this.identity, challenge.federationId, new Uint8Array(challenge.challenge));
    const joined = await this.connection.join({
      siteId: this.identity.id,
      challenge: challenge.challenge,
      signature: Buffer.from(signature),
      info: {
        trainClassCounts: [1, 1, 1, 1],
        validationCount: 0,
        testCount: 4,
        backend: "test",
        clientVersion: "test",
      },
    });
    this.token = joined.sessionToken;
    this.federationId = joined.federationId;
  }

  /** Long-polls until a task arrives (or "done"), rejoining after a coordinator restart. */
  async nextTask(timeoutMs = 30_000): Promise<Task | "done"> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      try {
        const outcome = await this.connection.pullTask(this.token, 2000);
        if (outcome.kind === "task") return outcome.task;
        if (outcome.kind === "done") return "done";
      } catch {
        await new Promise((r) => setTimeout(r, 200));
        await this.join().catch(() => {});
      }
    }
    throw new Error(`${this.identity.id}: no task within ${timeoutMs} ms`);
  }

  async download(task: Task): Promise<ModelWeights> {
    return deserializeWeights(
      await this.connection.downloadModel(this.token, task.modelVersion, task.modelSha256),
    );
  }

  /** An update whose every shared element is `value` (or what `fill` returns). */
  pack(
    task: Task,
    global: ModelWeights,
    fill: number | ((i: number) => number),
    numExamples: number,
    overrides: Partial<Parameters<typeof packUpdate>[0]> = {},
  ): PackedUpdate {
    const shared = selectTensors(global, "shared");
    const values = new Float32Array(shared.values.length);
    for (let i = 0; i < values.length; i++) values[i] = typeof fill === "number" ? fill : fill(i);
    return packUpdate({
      delta: { manifest: shared.manifest, values },
      identity: this.identity,
      key: this.key,
      federationId: this.federationId,
      round: task.round,
      modelVersion: task.modelVersion,
      taskId: task.taskId,
      numExamples,
      ...overrides,
    });
  }

  upload(packed: PackedUpdate): ReturnType<CoordinatorConnection["uploadUpdate"]> {
    return this.connection.uploadUpdate(this.token, packed, { loss: 1 });
  }

  close(): void {
    this.connection.close();
  }
}
