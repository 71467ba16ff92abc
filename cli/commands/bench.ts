import { type Command, InvalidArgumentError } from "commander";
import { codeVersion } from "../bench/code-version.js";
import { runPaperBench } from "../bench/paper.js";
import { writePaperReport } from "../bench/paper-report.js";
import type { PaperResults } from "../bench/paper-results.js";
import { registerBenchPrivacyCommand } from "./bench-privacy.js";

function positive(value: string): number {
  const n = Number(value);
  if (!(n > 0)) throw new InvalidArgumentError("expected a number > 0");
  return n;
}

function seedList(value: string): number[] {
  const seeds = value.split(",").map((s) => Number(s.trim()));
  if (seeds.length === 0 || seeds.some((s) => !Number.isInteger(s) || s < 0)) {
    throw new InvalidArgumentError("expected comma-separated non-negative integers, e.g. 1,2,3,4,5");
  }
  if (new Set(seeds).size !== seeds.length) throw new InvalidArgumentError("each seed once, e.g. 1,2,3,4,5");
  return seeds;
}

function nameList(value: string): string[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/**
 * The hook for the benchmark's run report (`fl report`): called once, after results.json,
 * table.md and the charts are written into `dir`.
 */
async function afterPaperBench(dir: string, results: PaperResults): Promise<void> {
  const say = (line: string) => process.stdout.write(`${line}\n`);
  say(`report: ${await writePaperReport(dir, results, say)}`);
}

export const DEFAULT_SEEDS = [1, 2, 3, 4, 5];

export function registerBenchCommands(program: Command): void {
  const bench = program.command("bench").description("repeatable experiments");
  registerBenchPrivacyCommand(bench);
  const defaultOut = `runs/paper-${new Date().toISOString().slice(0, 10)}`;
  bench
    .command("paper")
    .description(
      "the paper's comparison, federated on synthetic hospitals: {scratch, MoCo, inpainting} × {classification, multi-task} × {10%, 100% labels} × seeds, plus centralised and local-only baselines of the best setting; per-setting means with 95 % intervals, differences paired by seed, and which of the paper's findings hold at this scale",
    )
    .option(
      "--scale <s>",
      "size multiplier (images, rounds; ≥4: 64 px; ≥8: ResNet-18 for GPU hosts)",
      positive,
      1,
    )
    .option(
      "--seeds <list>",
      "seeds, comma-separated (5 or more for useful intervals)",
      seedList,
      DEFAULT_SEEDS,
    )
    .option("--preset <name>", "synthetic hospitals preset", "3-hospitals")
    .option("--backend <name>", "TensorFlow.js backend for the hospitals", "auto")
    .option("--settings <names>", "only these grid settings, comma-separated (e.g. moco-mtl-10pct)", nameList)
    .option("--no-baselines", "skip the centralised and local-only runs of the best setting")
    .option(
      "-o, --out <dir>",
      `output folder (default ${defaultOut}). Runs recorded there with exactly these settings and code version are reused (an interrupted benchmark resumes); a folder given with --out that holds other settings is refused, while the default one moves on to ${defaultOut}-2, -3, … (the first with these settings, or a new one)`,
    )
    .option("--fresh", "discard the output folder's earlier results and start again")
    .action(
      async (options: {
        scale: number;
        seeds: number[];
        preset: string;
        backend: string;
        settings?: string[];
        baselines: boolean;
        out?: string;
        fresh?: boolean;
      }) => {
        const { dir, results } = await runPaperBench({
          outDir: options.out ?? defaultOut,
          explicitOut: options.out !== undefined,
          fresh: options.fresh === true,
          scale: options.scale,
          seeds: options.seeds,
          preset: options.preset,
          backend: options.backend,
          ...(options.settings && { settings: options.settings }),
          baselines: options.baselines,
          codeVersion: codeVersion(),
          say: (line) => process.stdout.write(`${line}\n`),
        });
        await afterPaperBench(dir, results);
        process.stdout.write(
          `results: ${dir}/report.html, table.md, results.json, macro-f1.svg, findings.svg\n`,
        );
      },
    );
}
