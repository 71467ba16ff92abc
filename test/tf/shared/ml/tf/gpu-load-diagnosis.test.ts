import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, isFlError } from "../../../../../shared/src/errors.js";
import { type BackendLoaderDeps, loadBackend } from "../../../../../shared/src/ml/tf/backend.js";
import { TFJS_NODE_GPU_LIBRARIES } from "../../../../../shared/src/ml/tf/gpu-diagnosis.js";
import { tf } from "../../../../helpers/tf-backends.js";

const CUDA12_HOST = ["libcuda.so.1", "libcudart.so.12", "libcublas.so.12", "libcudnn.so.9"];
const CUDA11_HOST = ["libcuda.so.1", ...TFJS_NODE_GPU_LIBRARIES.map((l) => l.soname)];

/** A CUDA machine whose tfjs-node-gpu import does what `gpuImport` says; wasm and cpu load for real. */
function deps(
  hostLibraries: readonly string[],
  gpuImport: () => unknown,
): BackendLoaderDeps & { imported: string[] } {
  const imported: string[] = [];
  return {
    imported,
    probeCuda: () => ({ available: true, evidence: "/dev/nvidiactl" }),
    scanGpuLibraries: () => hostLibraries,
    importModule: async (specifier) => {
      imported.push(specifier);
      if (specifier === "@tensorflow/tfjs-node-gpu") return gpuImport();
      if (specifier === "@tensorflow/tfjs-node") {
        throw Object.assign(new Error(`Cannot find package '${specifier}'`), {
          code: "ERR_MODULE_NOT_FOUND",
        });
      }
      return import(specifier);
    },
  };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error: unknown) {
    return error as Error;
  }
  throw new Error("expected a rejection");
}

afterEach(async () => {
  await tf.setBackend("cpu");
});

describe("loadBackend on a GPU host without CUDA 11", () => {
  it("does not import tfjs-node-gpu (it would train on the CPU) and names what is missing", async () => {
    const fake = deps(CUDA12_HOST, () => {
      throw new Error("must not be imported");
    });
    const error = await rejection(loadBackend({ prefer: "tensorflow-gpu", log: () => {} }, fake));
    expect(isFlError(error) && error.code).toBe(ErrorCode.Unsupported);
    expect(error.message).toContain("would run on the CPU: missing libcudart.so.11.0 (CUDA 11 runtime)");
    expect(error.message).toContain("libcudnn.so.8 (cuDNN 8)");
    expect(error.message).toContain("found libcudart.so.12, libcublas.so.12, libcudnn.so.9 only");
    expect(error.message).toContain("this host has CUDA 12 and cuDNN 9");
    expect(error.message).toContain("deploy/docker/Dockerfile.cuda");
    expect(fake.imported).toEqual([]);
  });

  it("falls back under auto with the diagnosis in its one log line", async () => {
    const lines: string[] = [];
    const fake = deps(CUDA12_HOST, () => {
      throw new Error("must not be imported");
    });
    const loaded = await loadBackend({ prefer: "auto", log: (line) => lines.push(line) }, fake);
    expect(loaded.name).toBe("wasm");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(
      "tensorflow-gpu: @tensorflow/tfjs-node-gpu would run on the CPU: missing libcudart.so.11.0",
    );
    expect(fake.imported).not.toContain("@tensorflow/tfjs-node-gpu");
  });

  it("turns a dlopen error at import into the same kind of sentence", async () => {
    const fake = deps(CUDA11_HOST, () => {
      throw new Error("libtensorflow.so.2: cannot open shared object file: No such file or directory");
    });
    const error = await rejection(loadBackend({ prefer: "tensorflow-gpu", log: () => {} }, fake));
    expect(error.message).toContain(
      "@tensorflow/tfjs-node-gpu failed to load: libtensorflow.so.2: cannot open shared object file: No such file or directory: libtensorflow.so.2 is missing",
    );
    expect(error.message).toContain("did not download libtensorflow");
    expect(fake.imported).toEqual(["@tensorflow/tfjs-node-gpu"]);
  });
});
