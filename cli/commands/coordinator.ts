import type { Command } from "commander";
import { loadCoordinatorConfig } from "../../coordinator/src/config.js";
import { COORDINATOR_EXIT, runCoordinator } from "../../coordinator/src/main.js";
import { structuredLogger } from "../log.js";
import { stopWhenParentDies } from "../parent-watch.js";
import { checkCentralEvaluation, trainerCentralEvaluator } from "./central-evaluator.js";

export function registerCoordinatorCommand(program: Command): void {
  program
    .command("coordinator")
    .description("run the federation coordinator (gRPC server, round engine, SQLite state)")
    .requiredOption("-c, --config <file>", "coordinator config (YAML or JSON); see docs/configuration.md")
    .option(
      "--insecure",
      "serve plaintext gRPC without TLS (as insecure: true in the config): for a lab on a trusted network only",
      false,
    )
    .option("--ipc", "report events and progress to the parent process (used by fl simulate)", false)
    .action(async (options: { config: string; insecure: boolean; ipc: boolean }) => {
      const config = loadCoordinatorConfig(options.config, { insecure: options.insecure });
      const centralSite =
        config.centralEvaluation && (await checkCentralEvaluation(config.centralEvaluation));
      const ipc = options.ipc && process.send ? (message: unknown) => process.send?.(message) : undefined;
      let stopRun: (() => void) | undefined;
      const unwatch = ipc ? stopWhenParentDies(() => stopRun?.()) : undefined;
      // The channel is closed however the run ends (a failed start included): an open one
      // would keep this process alive after its error.
      try {
        const result = await runCoordinator(
          config,
          {
            log: structuredLogger("coordinator", config.log),
            ...(ipc && {
              onEvent: (event) => ipc({ type: "event", event }),
              onProgress: (progress) => ipc({ type: "progress", progress }),
              onListening: (address) => ipc({ type: "listening", address }),
              onAlreadyCompleted: (completedAt) => ipc({ type: "already-completed", completedAt }),
            }),
            onStarted: (stop) => {
              // A signal drains: no new rounds, the state written, the port closed, then the exit.
              const onSignal = () => stop();
              process.once("SIGINT", onSignal);
              process.once("SIGTERM", onSignal);
              stopRun = stop;
            },
          },
          {
            ...(centralSite && {
              centralEvaluator: (central, log) =>
                trainerCentralEvaluator(central, { site: centralSite, stateDir: config.stateDir, log }),
            }),
          },
        );
        ipc?.({ type: "result", status: result.status, reason: result.reason });
        process.exitCode =
          result.status === "completed" ? COORDINATOR_EXIT.completed : COORDINATOR_EXIT.failed;
      } finally {
        unwatch?.();
        if (process.channel) process.disconnect();
      }
    });
}
