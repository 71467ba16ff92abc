import { expect, it } from "vitest";
import { type RoundSummary, renderMarkdownReport } from "../../../coordinator/src/report.js";

const round = (r: number, metrics: Record<string, number>): RoundSummary => ({
  round: r,
  phase: "p",
  attempts: 1,
  modelVersion: r,
  accepted: 3,
  failures: [],
  metrics,
  durationMs: 1,
});

it("reports ε per round and the reason a federation ended before its plan's end", () => {
  const privacy = (epsilon: number, step: number) => ({
    "privacy.epsilon": epsilon,
    "privacy.epsilonRound": step,
    "privacy.delta": 1e-5,
    "privacy.noiseMultiplier": 1.1,
    "privacy.clipNorm": 0.5,
    "privacy.samplingRate": 1,
    "privacy.budget": 5,
  });
  const text = renderMarkdownReport({
    federationId: "f",
    rounds: [round(1, privacy(2.5, 2.5)), round(2, privacy(3.75, 1.25))],
    final: undefined,
    sites: [],
    completedAt: "2026-12-02T00:00:00.000Z",
    completedEarlyReason: "the privacy budget ε 5 would be exceeded by round 3",
  });
  expect(text).toContain(
    "**Ended early** after round 2: the privacy budget ε 5 would be exceeded by round 3.",
  );
  expect(text).toContain("Site-level (ε, δ) after 2 rounds: ε = 3.750 at δ = 0.00001 (budget 5)");
  expect(text).toContain("| 1 | 2.500 | 2.500 | 1.100 | 0.5000 | 1.000 |");
  expect(text).toContain("| 2 | 3.750 | 1.250 | 1.100 | 0.5000 | 1.000 |");
  const plain = renderMarkdownReport({
    federationId: "f",
    rounds: [round(1, {})],
    final: undefined,
    sites: [],
    completedAt: undefined,
  });
  expect(plain).not.toContain("Differential privacy");
  expect(plain).not.toContain("Ended early");
});
