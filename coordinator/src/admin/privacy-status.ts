/** The differential privacy a federation has spent, as `fl status` shows it. */
export interface PrivacyStatus {
  readonly epsilon: number;
  readonly delta: number;
  readonly budget?: number;
}

/** The (ε, δ) a round's metrics carry (`privacy.*`), if any. */
export function privacyOf(metrics: unknown): PrivacyStatus | undefined {
  if (typeof metrics !== "object" || metrics === null) return undefined;
  const m = metrics as Record<string, unknown>;
  const epsilon = m["privacy.epsilon"];
  const delta = m["privacy.delta"];
  if (typeof epsilon !== "number" || typeof delta !== "number") return undefined;
  const budget = m["privacy.budget"];
  return { epsilon, delta, ...(typeof budget === "number" && { budget }) };
}
