import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Command, InvalidArgumentError } from "commander";
import { chartSpec, markdownReport } from "../../bench/privacy/report.js";
import { DEFAULT_SIZE, QUICK_SIZE, runPrivacyBench } from "../../bench/privacy/run.js";
import { writeFileAtomic } from "../../shared/src/io/atomic-file.js";
import { parseBackendPreference } from "../../shared/src/ml/tf/backend.js";
import { type ChartSpec, renderChartSvg } from "../report/vega.js";

function epsilonList(value: string): number[] {
  const list = value.split(",").map((s) => Number(s.trim()));
  if (list.length === 0 || list.some((e) => !(e > 0) || !Number.isFinite(e))) {
    throw new InvalidArgumentError("expected comma-separated positive numbers, e.g. 1,8,64");
  }
  return list;
}

function seed(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError("expected an integer ≥ 0");
  return n;
}

/** `fl bench privacy`: registered under `fl bench` by cli/commands/bench.ts. */
export function registerBenchPrivacyCommand(bench: Command): void {
  bench
    .command("privacy")
    .description(
      "the honest-but-curious coordinator against plain FedAvg, secure aggregation, DP at several ε and both: gradient inversion (PSNR/SSIM), gallery linkage and membership inference (AUC) next to macro-F1; writes privacy.json, privacy.md and privacy.svg",
    )
    .option("--quick", "smoke-test size (under a minute)")
    .option("--epsilons <list>", "DP budgets, comma-separated (default 1,8,64; --quick 8)", epsilonList)
    .option("--seed <n>", "data and model seed", seed, 1)
    .option("--preset <name>", "synthetic hospitals preset", "3-hospitals")
    .option("--backend <name>", "TensorFlow.js backend", "auto")
    .option("-o, --out <dir>", "output folder", "bench/results")
    .action(
      async (options: {
        quick?: boolean;
        epsilons?: number[];
        seed: number;
        preset: string;
        backend: string;
        out: string;
      }) => {
        const quick = options.quick === true;
        const base = quick ? QUICK_SIZE : DEFAULT_SIZE;
        const results = await runPrivacyBench({
          size: options.epsilons ? { ...base, epsilons: options.epsilons } : base,
          quick,
          seed: options.seed,
          preset: options.preset,
          backend: parseBackendPreference(options.backend),
          say: (line) => process.stderr.write(`${line}\n`),
        });
        mkdirSync(options.out, { recursive: true });
        const svg = await renderChartSvg(chartSpec(results) as unknown as ChartSpec);
        writeFileAtomic(join(options.out, "privacy.json"), `${JSON.stringify(results, null, 2)}\n`);
        writeFileAtomic(join(options.out, "privacy.md"), markdownReport(results));
        writeFileAtomic(join(options.out, "privacy.svg"), svg);
        process.stdout.write(`results: ${join(options.out, "privacy.md")}, privacy.json, privacy.svg\n`);
      },
    );
}
