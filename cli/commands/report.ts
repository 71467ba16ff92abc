/**
 * `fl report RUN`: the run's report as HTML, Markdown and JSON, from its folder alone.
 */
import type { Command } from "commander";
import { writeRunReport } from "../report/write-report.js";

export function registerReportCommand(program: Command): void {
  program
    .command("report")
    .description(
      "write a run's report: report.html (self-contained, with charts), report.md and report.json, from its state.db and analysis/",
    )
    .argument("<run>", "run folder (of fl simulate, or a coordinator's stateDir)")
    .action(async (runDir: string) => {
      const started = performance.now();
      const files = await writeRunReport(runDir);
      process.stdout.write(
        `report: ${files.html}\n        ${files.md}\n        ${files.json}\n(${((performance.now() - started) / 1000).toFixed(1)} s)\n`,
      );
    });
}
