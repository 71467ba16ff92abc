/**
 * What `fl simulate` does once a run has ended: the analysis (saliency, shortcut and site tests)
 * and then the report. Neither may change how the run ended: a failure of either is said plainly,
 * with the command that retries it, and the run's status and exit code stay what they were.
 */
import { errorMessage } from "../../shared/src/errors.js";
import { writeRunReport } from "./write-report.js";

export async function analyseAndReport(
  runDir: string,
  status: "completed" | "failed" | "interrupted",
  say: (line: string) => void,
  options: { analyse?: boolean } = {},
): Promise<void> {
  let analysisError: string | undefined;
  if (options.analyse === false) {
    // The caller analyses the runs it shows itself (a benchmark of many runs).
  } else if (status === "interrupted") {
    // Stopped by a signal: the operator wants the machine back, not minutes of analysis.
    say(`analysis skipped (the run was interrupted); run \`fl analyse ${runDir}\` to add it to the report`);
  } else {
    try {
      // Loaded only here: tfjs is not needed by the rest of this process.
      const { analyseRun } = await import("../../client/src/analysis/index.js");
      await analyseRun(runDir, { say: (line) => say(`  ${line}`) });
      say(`analysis: ${runDir}/analysis/analysis.json`);
    } catch (error) {
      analysisError = `fl analyse failed: ${errorMessage(error)}`;
      say(
        `ANALYSIS FAILED (${errorMessage(error)}); the report says so and has no saliency or shortcut tests. Retry: fl analyse ${runDir} && fl report ${runDir}`,
      );
    }
  }
  try {
    const files = await writeRunReport(runDir, analysisError === undefined ? {} : { analysisError });
    say(`report: ${files.html} (also ${files.md}, ${files.json})`);
  } catch (error) {
    say(`REPORT FAILED (${errorMessage(error)}); the run's results are intact. Retry: fl report ${runDir}`);
  }
}
