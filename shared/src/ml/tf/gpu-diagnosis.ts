/**
 * Turns "tfjs-node-gpu did not get a GPU" into a sentence that names the missing library, the
 * CUDA/cuDNN release it belongs to, what the host has instead, and the fix. Pure: the host scan
 * that feeds it lives in cuda.ts.
 *
 * Two failure shapes reach us. A library that the binding links directly (libtensorflow.so.2)
 * makes the import throw "X: cannot open shared object file". The CUDA libraries themselves are
 * dlopened lazily by libtensorflow 2.9's dso_loader, which only logs "Could not load dynamic
 * library 'X'; dlerror: ..." and then runs on the CPU under the name "tensorflow": hence the
 * loader checks the host for them before importing (tensorflow/tfjs #8362, #8505).
 */

/** What tfjs-node-gpu 4.22 (libtensorflow 2.9.1, built for CUDA 11.2 and cuDNN 8.1) dlopens. */
export interface GpuLibrary {
  /** The exact soname dlopen asks for. */
  readonly soname: string;
  /** The library's stem, e.g. `libcudart`, to recognise other versions of it on the host. */
  readonly stem: string;
  /** Human name and the release family that ships this soname. */
  readonly belongsTo: string;
  /** Ubuntu/NVIDIA-repository package that provides it for CUDA 11.8 (the pinned image's). */
  readonly aptPackage: string;
}

export const TFJS_NODE_GPU_VERSION = "4.22.0";
export const REQUIRED_CUDA = "CUDA 11.2 or a later 11.x";
export const REQUIRED_CUDNN = "cuDNN 8";

/**
 * Sonames are stable within a CUDA major release, which is why any CUDA 11.x (11.8 in
 * Dockerfile.cuda) satisfies a build made against 11.2, and why CUDA 12 (libcudart.so.12,
 * libcublas.so.12, cuDNN 9's libcudnn.so.9) does not.
 */
export const TFJS_NODE_GPU_LIBRARIES: readonly GpuLibrary[] = [
  lib("libcudart.so.11.0", "CUDA 11 runtime", "cuda-cudart-11-8"),
  lib("libcublas.so.11", "cuBLAS of CUDA 11", "libcublas-11-8"),
  lib("libcublasLt.so.11", "cuBLASLt of CUDA 11", "libcublas-11-8"),
  lib("libcufft.so.10", "cuFFT of CUDA 11", "libcufft-11-8"),
  lib("libcurand.so.10", "cuRAND of CUDA 11", "libcurand-11-8"),
  lib("libcusolver.so.11", "cuSOLVER of CUDA 11", "libcusolver-11-8"),
  lib("libcusparse.so.11", "cuSPARSE of CUDA 11", "libcusparse-11-8"),
  lib("libcudnn.so.8", "cuDNN 8", "libcudnn8"),
];

/** Not CUDA, but what the binding links: missing when the install could not download it. */
const LIBTENSORFLOW = "libtensorflow.so.2";
/** The driver's own library; it comes with the NVIDIA driver, not with a CUDA toolkit. */
const LIBCUDA = "libcuda.so.1";

function lib(soname: string, belongsTo: string, aptPackage: string): GpuLibrary {
  return { soname, stem: soname.slice(0, soname.indexOf(".so")), belongsTo, aptPackage };
}

// "libcudnn.so.8: cannot open shared object file" (dlopen via Node) and
// "Could not load dynamic library 'libcudart.so.11.0'" (libtensorflow's dso_loader).
const DLOPEN_ERROR = /(lib[\w+-]+\.so(?:\.\d+)*): cannot open shared object file/g;
const DSO_LOADER_LOG = /Could not load dynamic library '(lib[\w+-]+\.so(?:\.\d+)*)'/g;

/** Sonames named as missing in an import error or in libtensorflow's log, in order, unique. */
export function missingLibrariesIn(text: string): string[] {
  const found: { name: string; at: number }[] = [];
  for (const pattern of [DLOPEN_ERROR, DSO_LOADER_LOG]) {
    for (const match of text.matchAll(pattern)) {
      found.push({ name: match[1] as string, at: match.index });
    }
  }
  found.sort((a, b) => a.at - b.at);
  return [...new Set(found.map((f) => f.name))];
}

const SONAME_IN_PATH = /(lib[\w+-]+\.so(?:\.\d+)*)$/;

/**
 * Library file names listed by `ldconfig -p` ("\tlibcudart.so.12 (libc6,x86-64) => /usr/...").
 * Only the soname before " (" counts: the path may be a differently named file.
 */
export function parseLdconfigCache(output: string): string[] {
  const names: string[] = [];
  for (const line of output.split("\n")) {
    const match = /^\s+(lib\S+\.so\S*)\s+\(/.exec(line);
    if (match) names.push(match[1] as string);
  }
  return [...new Set(names)];
}

/** The soname part of a file path, or undefined when it is not a shared library. */
export function sonameOfPath(path: string): string | undefined {
  return SONAME_IN_PATH.exec(path.split("/").pop() ?? "")?.[1];
}

/** The libraries tfjs-node-gpu needs that are not among the sonames found on the host. */
export function missingRequiredLibraries(hostLibraries: readonly string[]): GpuLibrary[] {
  const present = new Set(hostLibraries);
  return TFJS_NODE_GPU_LIBRARIES.filter((l) => !present.has(l.soname));
}

/** Versions of a library's stem that the host has, e.g. `libcudart.so.12` for `libcudart`. */
function otherVersions(stem: string, hostLibraries: readonly string[]): string[] {
  const prefix = `${stem}.so.`;
  return [...new Set(hostLibraries.filter((name) => name.startsWith(prefix)))].sort();
}

/** "CUDA 12" or "cuDNN 9" read off a soname the host has, to say what it is. */
function releaseOf(soname: string): string | undefined {
  const cudart = /^libcudart\.so\.(\d+)/.exec(soname);
  if (cudart) return `CUDA ${cudart[1]}`;
  const cudnn = /^libcudnn\.so\.(\d+)/.exec(soname);
  if (cudnn) return `cuDNN ${cudnn[1]}`;
  return undefined;
}

export interface GpuDiagnosisInput {
  /** Sonames reported missing (from missingLibrariesIn), or required ones the scan did not find. */
  readonly missing: readonly string[];
  /** Every shared-library soname the host scan found (ldconfig cache, LD_LIBRARY_PATH, CUDA dirs). */
  readonly hostLibraries: readonly string[];
}

/**
 * One paragraph for the loader's log line and FlError: what is missing, where it comes from,
 * what the host has instead, what to do. Empty when nothing is missing.
 */
export function diagnoseGpuLibraries(input: GpuDiagnosisInput): string {
  const missing = [...new Set(input.missing)];
  if (missing.length === 0) return "";
  const parts: string[] = [];
  if (missing.includes(LIBTENSORFLOW)) {
    parts.push(
      `${LIBTENSORFLOW} is missing: the @tensorflow/tfjs-node(-gpu) install did not download libtensorflow (it needs network access at npm install; approve its install script in package.json "allowScripts")`,
    );
  }
  if (missing.includes(LIBCUDA)) {
    parts.push(
      `${LIBCUDA} is missing: no NVIDIA driver is installed or visible (in a container, run with --gpus all and the NVIDIA Container Toolkit)`,
    );
  }
  const cuda = missing
    .map((name) => TFJS_NODE_GPU_LIBRARIES.find((l) => l.soname === name))
    .filter((l): l is GpuLibrary => l !== undefined);
  if (cuda.length > 0) {
    const named = cuda.map((l) => `${l.soname} (${l.belongsTo})`).join(", ");
    const instead = cuda.flatMap((l) => otherVersions(l.stem, input.hostLibraries));
    const releases = [...new Set(instead.map(releaseOf).filter((r) => r !== undefined))];
    const found =
      instead.length > 0
        ? `found ${instead.join(", ")} only${releases.length > 0 ? `: this host has ${releases.join(" and ")}` : ""}`
        : "no CUDA or cuDNN libraries of another version were found either (ldconfig -p, LD_LIBRARY_PATH, /usr/local/cuda*)";
    const packages = [...new Set(cuda.map((l) => l.aptPackage))].join(" ");
    parts.push(
      `missing ${named}; ${found}; tfjs-node-gpu ${TFJS_NODE_GPU_VERSION} needs ${REQUIRED_CUDA} and ${REQUIRED_CUDNN}: use deploy/docker/Dockerfile.cuda, or install them beside the host's CUDA (NVIDIA's apt repository: ${packages}) and add their directory to LD_LIBRARY_PATH`,
    );
  }
  const other = missing.filter(
    (name) => name !== LIBTENSORFLOW && name !== LIBCUDA && !cuda.some((l) => l.soname === name),
  );
  if (other.length > 0) parts.push(`missing ${other.join(", ")}`);
  return parts.join("; ");
}
