import type { FlEvent } from "../../shared/src/events/types.js";
import { LiveRegion } from "./live-region.js";

const BAR_WIDTH = 30;

interface Bar {
  name: string;
  value: number;
  total: number;
  status: string;
}

function drawBar(bar: Bar): string {
  const filled = bar.total > 0 ? Math.round((BAR_WIDTH * Math.min(bar.value, bar.total)) / bar.total) : 0;
  return ` ${bar.name.padEnd(12)} |${"\u2588".repeat(filled)}${"\u2591".repeat(BAR_WIDTH - filled)}| ${bar.value}/${bar.total} ${bar.status}`;
}

/**
 * Shows a federation's progress: on a terminal, one bar for the rounds and one per client kept
 * below the log lines; elsewhere (CI, pipes), one line per event and no escape codes.
 */
export class SimulationProgress {
  private readonly region: LiveRegion | undefined;
  private readonly roundBar: Bar;
  private readonly siteBars = new Map<string, Bar>();

  constructor(
    private readonly options: {
      sites: readonly string[];
      totalRounds: number;
      interactive: boolean;
      write: (line: string) => void;
    },
  ) {
    this.roundBar = { name: "rounds", value: 0, total: options.totalRounds, status: "waiting for clients" };
    for (const site of options.sites)
      this.siteBars.set(site, { name: site, value: 0, total: 100, status: "starting" });
    if (!options.interactive) return;
    this.region = new LiveRegion(process.stdout);
    this.redraw();
  }

  line(text: string): void {
    if (this.region) this.region.log(text);
    else this.options.write(`${text}\n`);
  }

  site(siteId: string, percent: number, status: string): void {
    const bar = this.siteBars.get(siteId);
    if (!bar) return;
    bar.value = Math.round(percent);
    bar.status = status;
    this.redraw();
  }

  private rounds(status: string, completed?: number): void {
    this.roundBar.status = status;
    if (completed !== undefined) this.roundBar.value = completed;
    this.redraw();
  }

  private redraw(): void {
    this.region?.update([this.roundBar, ...this.siteBars.values()].map(drawBar));
  }

  event(event: FlEvent): void {
    const d = event.data as Record<string, unknown>;
    switch (event.type) {
      case "site.joined":
        this.line(`  ${event.siteId} joined (backend ${String(d.backend)})`);
        this.site(event.siteId ?? "", 0, "joined");
        break;
      case "round.started":
        this.rounds(`round ${event.round} training`);
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
        this.rounds(`model v${String(d.modelVersion)}`, event.round ?? 0);
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
        this.rounds("done");
        break;
      default:
        break;
    }
  }

  stop(): void {
    this.region?.stop();
  }
}
