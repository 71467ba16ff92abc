import type { Command } from "commander";
import { loadClientConfig } from "../../client/src/config.js";
import { runClient } from "../../client/src/main.js";
import { ipcSlots, unlimitedSlots } from "../../client/src/training-slots.js";
import { structuredLogger } from "../log.js";
import { stopWhenParentDies } from "../parent-watch.js";

export function registerClientCommand(program: Command): void {
  program
    .command("client")
    .description("run a hospital client: join the federation, train locally, send encrypted updates")
    .requiredOption("-c, --config <file>", "client config (YAML or JSON); see docs/configuration.md")
    .option("--backend <name>", "force a TensorFlow.js backend: tensorflow-gpu, tensorflow, wasm or cpu")
    .option(
      "--insecure",
      "dial the coordinator in plaintext without TLS (as insecure: true in the config): for a lab on a trusted network only",
      false,
    )
    .option(
      "--ipc",
      "take training slots and report progress through the parent process (used by fl simulate)",
      false,
    )
    .action(async (options: { config: string; backend?: string; insecure: boolean; ipc: boolean }) => {
      const loaded = loadClientConfig(options.config, { insecure: options.insecure });
      const config = options.backend ? { ...loaded, backend: options.backend } : loaded;
      const ipc = options.ipc && process.send ? (message: unknown) => process.send?.(message) : undefined;
      let stopRun: (() => void) | undefined;
      const unwatch = ipc ? stopWhenParentDies(() => stopRun?.()) : undefined;
      // The channel is closed however the run ends (a failed start included): an open one
      // would keep this process alive after its error.
      try {
        const result = await runClient(config, {
          // Under fl simulate the parent keeps these lines in logs/<site>.log and quotes the last
          // ones when a site fails, for a person to read: text, unless the config asks for JSON.
          log: structuredLogger(config.siteId, {
            level: config.log.level,
            format: ipc && config.log.format === "auto" ? "text" : config.log.format,
          }),
          slots: ipc ? ipcSlots() : unlimitedSlots,
          ...(ipc && {
            onProgress: (progress) => ipc({ type: "progress", siteId: config.siteId, progress }),
            onReady: (info) => ipc({ type: "ready", siteId: config.siteId, ...info }),
          }),
          onStarted: (stop) => {
            process.once("SIGINT", stop);
            process.once("SIGTERM", stop);
            stopRun = stop;
          },
        });
        process.exitCode = result.exitCode;
      } finally {
        unwatch?.();
        if (process.channel) process.disconnect();
      }
    });
}
