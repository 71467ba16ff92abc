import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { TFJS_NODE_GPU_LIBRARIES, TFJS_NODE_GPU_VERSION } from "../../../shared/src/ml/tf/gpu-diagnosis.js";

const dockerfile = readFileSync("deploy/docker/Dockerfile.cuda", "utf8");
const packageJson = JSON.parse(readFileSync("package.json", "utf8")) as {
  optionalDependencies?: Record<string, string>;
};

/** Global ARG defaults (`ARG NAME=value` lines), the way docker build reads them. */
function argDefaults(text: string): Map<string, string> {
  const args = new Map<string, string>();
  for (const match of text.matchAll(/^ARG\s+([A-Z_]+)=(\S+)\s*$/gm)) {
    args.set(match[1] as string, match[2] as string);
  }
  return args;
}

const args = argDefaults(dockerfile);

describe("Dockerfile.cuda", () => {
  it("pins a CUDA 11 + cuDNN 8 runtime image by an exact tag", () => {
    const image = args.get("CUDA_IMAGE");
    expect(image).toMatch(/^nvidia\/cuda:11\.\d+\.\d+-cudnn8-runtime-ubuntu\d+\.\d+$/);
    expect(dockerfile).toMatch(/^FROM \$\{CUDA_IMAGE\} AS base$/m);
  });

  it("names the tfjs-node-gpu version that package.json declares and the diagnosis assumes", () => {
    const declared = packageJson.optionalDependencies?.["@tensorflow/tfjs-node-gpu"];
    expect(declared).toBe(TFJS_NODE_GPU_VERSION);
    expect(args.get("TFJS_NODE_GPU_VERSION")).toBe(declared);
  });

  it("checks for exactly the libraries the loader's diagnosis requires", () => {
    const loop = /for lib in ([^;]+); do/.exec(dockerfile)?.[1] ?? "";
    const checked = loop
      .replace(/\\\n/g, " ")
      .split(/\s+/)
      .filter((word) => word !== "");
    expect(checked).toEqual(TFJS_NODE_GPU_LIBRARIES.map((l) => l.soname));
  });

  it("suggests apt packages of the image's own CUDA release", () => {
    const minor = /^nvidia\/cuda:11\.(\d+)\./.exec(args.get("CUDA_IMAGE") ?? "")?.[1];
    const versioned = TFJS_NODE_GPU_LIBRARIES.filter((l) => l.aptPackage !== "libcudnn8");
    expect(versioned.length).toBe(7);
    for (const l of versioned) expect(l.aptPackage).toMatch(new RegExp(`-11-${minor}$`));
  });

  it("is the image the GPU compose overlay builds", () => {
    const overlay = parseYaml(readFileSync("deploy/compose/docker-compose.gpu.yml", "utf8")) as {
      "x-fl-cuda": { build: { dockerfile: string } };
    };
    expect(overlay["x-fl-cuda"].build.dockerfile).toBe("deploy/docker/Dockerfile.cuda");
  });
});
