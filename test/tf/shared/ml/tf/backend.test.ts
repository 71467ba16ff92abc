import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import { getKernel } from "@tensorflow/tfjs-core";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, isFlError } from "../../../../../shared/src/errors.js";
import {
  type BackendLoaderDeps,
  backendCandidates,
  initBackend,
  loadBackend,
  parseBackendPreference,
} from "../../../../../shared/src/ml/tf/backend.js";
import { probeCuda } from "../../../../../shared/src/ml/tf/cuda.js";
import { tf } from "../../../../helpers/tf-backends.js";

function notInstalled(specifier: string): Error {
  return Object.assign(
    new Error(`Cannot find package '${specifier}' imported from /app/shared/src/tf/backend.ts`),
    {
      code: "ERR_MODULE_NOT_FOUND",
    },
  );
}

/** Fake package loader: native packages are missing unless given; wasm and cpu load for real. */
function fakeDeps(options: {
  cuda: boolean;
  native?: Partial<Record<string, () => void>>;
}): BackendLoaderDeps & { imported: string[] } {
  const imported: string[] = [];
  return {
    imported,
    probeCuda: () => ({
      available: options.cuda,
      evidence: options.cuda ? "/dev/nvidiactl" : "no NVIDIA driver",
    }),
    importModule: async (specifier) => {
      imported.push(specifier);
      const native = options.native?.[specifier];
      if (native !== undefined) return native();
      if (specifier.startsWith("@tensorflow/tfjs-node")) throw notInstalled(specifier);
      return import(specifier);
    },
  };
}

afterEach(async () => {
  if (tf.findBackend("tensorflow") !== null || tf.findBackendFactory("tensorflow") !== null) {
    tf.removeBackend("tensorflow");
  }
  await tf.setBackend("cpu");
});

describe("backendCandidates", () => {
  it("tries the GPU build first only where CUDA is present", () => {
    expect(backendCandidates({ prefer: "auto", cudaAvailable: true })).toEqual([
      "tensorflow-gpu",
      "tensorflow",
      "wasm",
      "cpu",
    ]);
    expect(backendCandidates({ prefer: "auto", cudaAvailable: false })).toEqual([
      "tensorflow",
      "wasm",
      "cpu",
    ]);
  });

  it("tries only the forced backend", () => {
    expect(backendCandidates({ prefer: "cpu", cudaAvailable: true })).toEqual(["cpu"]);
    expect(backendCandidates({ prefer: "tensorflow-gpu", cudaAvailable: false })).toEqual(["tensorflow-gpu"]);
  });
});

describe("parseBackendPreference", () => {
  it("accepts the backend names and auto", () => {
    expect(parseBackendPreference("auto")).toBe("auto");
    expect(parseBackendPreference("wasm")).toBe("wasm");
  });

  it("rejects anything else with the accepted names", () => {
    try {
      parseBackendPreference("gpu");
      expect.unreachable();
    } catch (error) {
      expect(isFlError(error, ErrorCode.InvalidConfig)).toBe(true);
      expect((error as Error).message).toContain("tensorflow-gpu");
    }
  });
});

describe("loadBackend", () => {
  it("falls back to wasm without CUDA or libtensorflow, saying why in one line", async () => {
    const deps = fakeDeps({ cuda: false });
    const lines: string[] = [];
    const handlers = () =>
      process.listeners("uncaughtException").length + process.listeners("unhandledRejection").length;
    const handlersBefore = handlers();
    const loaded = await loadBackend({ log: (line) => lines.push(line) }, deps);
    // Emscripten's rethrowing handlers are removed: a crash prints the error, not the runtime.
    expect(handlers()).toBe(handlersBefore);
    expect(loaded.name).toBe("wasm");
    expect(loaded.tf.getBackend()).toBe("wasm");
    expect(deps.imported).not.toContain("@tensorflow/tfjs-node-gpu");
    expect(lines).toEqual([loaded.detail]);
    expect(loaded.detail).toContain("tf backend: wasm");
    expect(loaded.detail).toContain("@tensorflow/tfjs-node not installed");
    expect(loaded.detail).toContain("no NVIDIA driver");
    expect(getKernel("Conv2DBackpropFilter", "wasm")).toBeDefined();
  });

  it("picks tfjs-node-gpu on a machine with CUDA", async () => {
    const deps = fakeDeps({
      cuda: true,
      native: {
        // What the real package does on import: register the native backend as "tensorflow".
        "@tensorflow/tfjs-node-gpu": () => tf.registerBackend("tensorflow", () => new MathBackendCPU(), 3),
      },
    });
    const loaded = await loadBackend({ log: () => {} }, deps);
    expect(deps.imported[0]).toBe("@tensorflow/tfjs-node-gpu");
    expect(loaded.name).toBe("tensorflow-gpu");
    expect(loaded.tf.getBackend()).toBe("tensorflow");
  });

  it("moves on when the GPU build is installed but cannot load its libraries", async () => {
    const deps = fakeDeps({
      cuda: true,
      native: {
        "@tensorflow/tfjs-node-gpu": () => {
          throw new Error("libcudart.so.11.0: cannot open shared object file\nmore detail");
        },
      },
    });
    const loaded = await loadBackend({ log: () => {} }, deps);
    expect(deps.imported.slice(0, 3)).toEqual([
      "@tensorflow/tfjs-node-gpu",
      "@tensorflow/tfjs-node",
      "@tensorflow/tfjs-backend-wasm",
    ]);
    expect(loaded.name).toBe("wasm");
    expect(loaded.detail).toContain("libcudart.so.11.0: cannot open shared object file");
    expect(loaded.detail).not.toContain("more detail");
  });

  it("rejects a forced backend that does not load, naming the package", async () => {
    const deps = fakeDeps({ cuda: false });
    await expect(loadBackend({ prefer: "tensorflow", log: () => {} }, deps)).rejects.toSatisfy(
      (error: unknown) =>
        isFlError(error, ErrorCode.Unsupported) && (error as Error).message.includes("@tensorflow/tfjs-node"),
    );
  });

  it("uses a forced backend even where a faster one exists", async () => {
    const loaded = await loadBackend({ prefer: "cpu", log: () => {} }, fakeDeps({ cuda: true }));
    expect(loaded.name).toBe("cpu");
    expect(loaded.detail).toContain("forced");
  });
});

describe("initBackend", () => {
  it("loads once per process and logs once", async () => {
    const lines: string[] = [];
    const first = await initBackend({ log: (line) => lines.push(line) });
    const second = await initBackend({ prefer: "cpu", log: (line) => lines.push(line) });
    expect(second).toBe(first);
    expect(lines).toHaveLength(1);
    // This machine has no libtensorflow: the real packages fall back to wasm.
    expect(first.name).toBe("wasm");
    expect(first.detail).toContain("@tensorflow/tfjs-node not installed");
  });
});

describe("probeCuda", () => {
  it("reports the first driver file found", () => {
    const dir = mkdtempSync(join(tmpdir(), "cuda-probe-"));
    try {
      const file = join(dir, "nvidiactl");
      writeFileSync(file, "");
      expect(probeCuda([join(dir, "missing"), file])).toEqual({ available: true, evidence: file });
      expect(probeCuda([join(dir, "missing")]).available).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
