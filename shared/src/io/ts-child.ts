import { type ChildProcess, type ForkOptions, fork } from "node:child_process";

/**
 * Forks a TypeScript entry file as a child process with IPC. Node loads it through tsx, resolved
 * to an absolute URL so that the child works whatever the current directory is. Advanced
 * serialisation passes typed arrays (weights, images) without JSON.
 */
export function forkTypeScript(
  entry: string,
  args: readonly string[],
  options: ForkOptions = {},
): ChildProcess {
  return fork(entry, [...args], {
    ...options,
    execArgv: ["--import", import.meta.resolve("tsx")],
    serialization: "advanced",
  });
}
