import { type Command, InvalidArgumentError } from "commander";
import { runPaperBench } from "../bench/paper.js";

function positive(value: string): number {
  const n = Number(value);
  if (!(n > 0)) throw new InvalidArgumentError("expected a number > 0");
  return n;
}

function seedList(value: string): number[] {
  const seeds = value.split(",").map((s) => Number(s.trim()));
  if (seeds.length === 0 || seeds.some((s) => !Number.isInteger(s) || s < 0)) {
    throw new InvalidArgumentError("expected comma-separated non-negative integers, e.g. 1,2,3");
  }
  return seeds;
}

export function registerBenchCommands(program: Command): void {
  const bench = program.command("bench").description("repeatable experiments");
  bench
    .command("paper")
    .description(
      "the paper's comparison, federated on synthetic hospitals: {scratch, MoCo, inpainting} × {classification, multi-task} × {10%, 100% labels} × seeds, plus centralised and local-only baselines of the best setting",
    )
    .option(
      "--scale <s>",
      "size multiplier (images, rounds; ≥4: 64 px; ≥8: ResNet-18 for GPU hosts)",
      positive,
      1,
    )
    .option("--seeds <list>", "seeds, comma-separated", seedList, [1, 2, 3])
    .option("--preset <name>", "synthetic hospitals preset", "3-hospitals")
    .option("--backend <name>", "TensorFlow.js backend for the hospitals", "auto")
    .option(
      "-o, --out <dir>",
      "output folder (an existing one resumes)",
      `runs/paper-${new Date().toISOString().slice(0, 10)}`,
    )
    .action(
      async (options: { scale: number; seeds: number[]; preset: string; backend: string; out: string }) => {
        await runPaperBench({
          outDir: options.out,
          scale: options.scale,
          seeds: options.seeds,
          preset: options.preset,
          backend: options.backend,
          say: (line) => process.stdout.write(`${line}\n`),
        });
        process.stdout.write(`results: ${options.out}/table.md, results.json, macro-f1.png\n`);
      },
    );
}
