import { existsSync } from "node:fs";

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
