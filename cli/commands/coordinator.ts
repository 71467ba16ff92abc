import type { Command } from "commander";
import { loadCoordinatorConfig } from "../../coordinator/src/config.js";
import { runCoordinator } from "../../coordinator/src/main.js";
import { lineLogger } from "../log.js";

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
      const ipc = options.ipc && process.send ? (message: unknown) => process.send?.(message) : undefined;
      const result = await runCoordinator(config, {
        log: lineLogger("coordinator"),
        ...(ipc && {
          onEvent: (event) => ipc({ type: "event", event }),
          onProgress: (progress) => ipc({ type: "progress", progress }),
          onListening: (address) => ipc({ type: "listening", address }),
        }),
        onStarted: (stop) => {
          const onSignal = () => stop();
          process.once("SIGINT", onSignal);
          process.once("SIGTERM", onSignal);
        },
      });
      process.exitCode = result.status === "completed" ? 0 : 1;
      if (process.channel) process.disconnect();
    });
}
