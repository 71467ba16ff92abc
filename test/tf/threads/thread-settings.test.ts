import { describe, expect, it } from "vitest";
import { TRAINER_THREADS_PER_SLOT } from "../../../cli/simulate/slots.js";
import { ClientConfigSchema } from "../../../client/src/config.js";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import { MAX_WASM_THREADS, resolveThreads } from "../../../shared/src/ml/tf/threads/thread-count.js";

const BASE = {
  siteId: "h1",
  federationId: "f",
  coordinator: "127.0.0.1:1",
  identity: "id.json",
  coordinatorPublicKey: "coord.json",
  insecure: true,
  data: {},
  workDir: "work",
};

describe("training.threads", () => {
  it("defaults to 1 and takes auto or 1 to 8", () => {
    expect(ClientConfigSchema.parse(BASE).training).toEqual({ threads: 1 });
    expect(ClientConfigSchema.parse({ ...BASE, training: { threads: 4 } }).training.threads).toBe(4);
    expect(ClientConfigSchema.parse({ ...BASE, training: {} }).training.threads).toBe(1);
    expect(ClientConfigSchema.parse({ ...BASE, training: { threads: "auto" } }).training.threads).toBe(
      "auto",
    );
  });

  it("rejects other values, saying what it takes", () => {
    for (const threads of [0, 9, 1.5, "many", -2]) {
      const result = ClientConfigSchema.safeParse({ ...BASE, training: { threads } });
      expect(result.success, String(threads)).toBe(false);
      expect(JSON.stringify(result.error?.issues)).toContain(
        "threads must be auto or a whole number from 1 to 8",
      );
    }
    expect(ClientConfigSchema.safeParse({ ...BASE, training: { thread: 2 } }).success).toBe(false);
  });

  it("resolves auto to the cores, up to the threaded build's pool", () => {
    expect(resolveThreads("auto", 1)).toBe(1);
    expect(resolveThreads("auto", 2)).toBe(2);
    expect(resolveThreads("auto", 6)).toBe(6);
    expect(resolveThreads("auto", 64)).toBe(MAX_WASM_THREADS);
    expect(resolveThreads(3, 64)).toBe(3);
    expect(resolveThreads(4, 2)).toBe(4);
  });

  it("refuses a count the build cannot run", () => {
    for (const threads of [0, MAX_WASM_THREADS + 1, 2.5]) {
      expect(() => resolveThreads(threads, 4)).toThrow(
        expect.objectContaining({
          code: ErrorCode.InvalidConfig,
          message: expect.stringContaining("auto or a whole number"),
        }),
      );
      expect(() => resolveThreads(threads, 4)).toThrow(FlError);
    }
  });

  it("gives each simulated hospital one thread, whatever the machine", () => {
    const simulated = ClientConfigSchema.parse({ ...BASE, training: { threads: TRAINER_THREADS_PER_SLOT } });
    for (const cores of [1, 2, 16]) expect(resolveThreads(simulated.training.threads, cores)).toBe(1);
  });
});
