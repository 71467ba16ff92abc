import cliProgress from "cli-progress";
import type { FlEvent } from "../../shared/src/events/types.js";

/**
 * Shows a federation's progress: on a terminal, one bar for the rounds and one per client;
 * elsewhere (CI, pipes), one line per event.
 */
export class SimulationProgress {
  private readonly multi: cliProgress.MultiBar | undefined;
  private readonly roundBar: cliProgress.SingleBar | undefined;
  private readonly siteBars = new Map<string, cliProgress.SingleBar>();

  constructor(
    private readonly options: {
      sites: readonly string[];
      totalRounds: number;
      interactive: boolean;
      write: (line: string) => void;
    },
  ) {
    if (!options.interactive) return;
    this.multi = new cliProgress.MultiBar(
      {
        format: " {name} |{bar}| {value}/{total} {status}",
        barsize: 30,
        hideCursor: true,
        clearOnComplete: false,
        autopadding: true,
      },
      cliProgress.Presets.shades_classic,
    );
    this.roundBar = this.multi.create(options.totalRounds, 0, {
      name: "rounds".padEnd(12),
      status: "waiting for clients",
    });
    for (const site of options.sites)
      this.siteBars.set(site, this.multi.create(100, 0, { name: site.padEnd(12), status: "starting" }));
  }

  line(text: string): void {
    if (this.multi) this.multi.log(`${text}\n`);
    else this.options.write(`${text}\n`);
  }

  site(siteId: string, percent: number, status: string): void {
    this.siteBars.get(siteId)?.update(Math.round(percent), { status });
  }

  event(event: FlEvent): void {
    const d = event.data as Record<string, unknown>;
    switch (event.type) {
      case "site.joined":
        this.line(`  ${event.siteId} joined (backend ${String(d.backend)})`);
        this.site(event.siteId ?? "", 0, "joined");
        break;
      case "round.started":
        this.roundBar?.update({ status: `round ${event.round} training` });
        this.line(`round ${event.round}: started with ${(d.sampled as string[]).join(", ")}`);
        break;
      case "update.accepted": {
        const m = d.trainMetrics as Record<string, number> | undefined;
        this.line(
          `  round ${event.round}: update from ${event.siteId} accepted (${String(d.numExamples)} images, local loss ${m?.loss?.toFixed(3) ?? "?"})`,
        );
        break;
      }
      case "update.rejected": {
        // An unverifiable upload is published without the round its manifest claims.
        const where = event.round === undefined ? "" : `round ${event.round}: `;
        this.line(
          `  ${where}update from ${event.siteId} REJECTED: ${String(d.code)} ${String(d.message ?? "")}`,
        );
        break;
      }
      case "round.completed":
        this.roundBar?.update(event.round ?? 0, { status: `model v${String(d.modelVersion)}` });
        this.line(
          `round ${event.round}: completed, model v${String(d.modelVersion)} from ${String(d.accepted)} updates`,
        );
        break;
      case "round.failed":
        this.line(`round ${event.round}: FAILED: ${String(d.reason)}`);
        break;
      case "evaluation.completed": {
        const pooled = d.pooled as { accuracy: number; macroF1: number; count: number };
        this.line(
          `round ${event.round}: global model v${String(d.modelVersion)} on ${pooled.count} test images: accuracy ${pooled.accuracy.toFixed(3)}, macro-F1 ${pooled.macroF1.toFixed(3)}`,
        );
        break;
      }
      case "site.left":
        this.line(`  ${event.siteId} left (${String(d.reason)})`);
        break;
      case "federation.completed":
        this.roundBar?.update({ status: "done" });
        break;
      default:
        break;
    }
  }

  stop(): void {
    this.multi?.stop();
  }
}
