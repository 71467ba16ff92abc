import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { parseLdconfigCache, sonameOfPath } from "./gpu-diagnosis.js";

/** What a cheap look at the machine says about CUDA. */
export interface CudaProbe {
  /** True when an NVIDIA driver is visible; only then is `@tensorflow/tfjs-node-gpu` worth loading. */
  readonly available: boolean;
  /** The file that convinced us (or what was missing), for the loader's log line. */
  readonly evidence: string;
}

/** Files that exist only where the NVIDIA kernel driver is loaded (`nvidia-smi` needs them too). */
export const NVIDIA_DRIVER_FILES: readonly string[] = [
  "/proc/driver/nvidia/version",
  "/dev/nvidiactl",
  "/dev/nvidia0",
];

/**
 * Detects CUDA without loading anything. Loading tfjs-node-gpu where there is no driver costs
 * seconds and prints libcudart errors, so the loader asks this first.
 */
export function probeCuda(driverFiles: readonly string[] = NVIDIA_DRIVER_FILES): CudaProbe {
  for (const file of driverFiles) {
    if (existsSync(file)) return { available: true, evidence: file };
  }
  return { available: false, evidence: "no NVIDIA driver (/proc/driver/nvidia, /dev/nvidia*)" };
}

/** Where CUDA and cuDNN libraries live when they are not in the ldconfig cache. */
export const CUDA_LIBRARY_DIRS: readonly string[] = [
  "/usr/local/cuda/lib64",
  "/usr/local/cuda/lib",
  "/usr/local/cuda/targets/x86_64-linux/lib",
  "/usr/lib/x86_64-linux-gnu",
  "/usr/lib64",
];

const CUDA_LIBRARY_NAME = /^lib(cuda|cudart|cublas|cublasLt|cufft|curand|cusolver|cusparse|cudnn)\.so/;

export interface GpuLibraryScanOptions {
  /** `ldconfig -p` output; by default the command is run (empty when it cannot be). */
  readonly ldconfigOutput?: string;
  /** Directories to list; by default LD_LIBRARY_PATH's, /usr/local/cuda-*\/lib{64,} and CUDA_LIBRARY_DIRS. */
  readonly directories?: readonly string[];
}

/**
 * The CUDA and cuDNN sonames this host can offer a dlopen: the ldconfig cache plus the
 * directories dlopen also searches (LD_LIBRARY_PATH) or where toolkits install. Cheap (a few
 * directory listings), so the loader runs it before importing tfjs-node-gpu.
 */
export function scanGpuLibraries(options: GpuLibraryScanOptions = {}): string[] {
  const fromCache = parseLdconfigCache(options.ldconfigOutput ?? ldconfigCache());
  const fromDirs = (options.directories ?? defaultLibraryDirs()).flatMap(listSonames);
  return [...new Set([...fromCache, ...fromDirs])].filter((name) => CUDA_LIBRARY_NAME.test(name)).sort();
}

function ldconfigCache(): string {
  for (const command of ["ldconfig", "/sbin/ldconfig"]) {
    try {
      return execFileSync(command, ["-p"], {
        encoding: "utf8",
        timeout: 5_000,
        stdio: ["ignore", "pipe", "ignore"],
      });
    } catch {
      // Not on PATH (or not Linux): try the next spelling, then rely on the directory listings.
    }
  }
  return "";
}

function defaultLibraryDirs(): string[] {
  const fromEnv = (process.env.LD_LIBRARY_PATH ?? "").split(":").filter((dir) => dir !== "");
  let versioned: string[] = [];
  try {
    versioned = readdirSync("/usr/local")
      .filter((name) => name.startsWith("cuda-"))
      // Some toolkits (CUDA 13 on this build machine) put them in lib/, not lib64/.
      .flatMap((name) => [`/usr/local/${name}/lib64`, `/usr/local/${name}/lib`]);
  } catch {
    // No /usr/local: nothing versioned to add.
  }
  return [...fromEnv, ...versioned, ...CUDA_LIBRARY_DIRS];
}

function listSonames(dir: string): string[] {
  try {
    return readdirSync(dir)
      .map(sonameOfPath)
      .filter((name) => name !== undefined);
  } catch {
    return [];
  }
}
