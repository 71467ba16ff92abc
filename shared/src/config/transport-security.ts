import type { z } from "zod";

/**
 * The one rule for both ends of the gRPC channel: TLS, or plaintext only when asked for in as
 * many words (`insecure: true`, or `--insecure`), never both. `refusal` says what plaintext
 * would give away at that end and how to configure TLS.
 */
export function checkTransportSecurity(
  config: { readonly tls?: unknown; readonly insecure: boolean },
  ctx: z.RefinementCtx,
  refusal: string,
): void {
  if (config.tls === undefined && !config.insecure)
    ctx.addIssue({ code: "custom", path: ["tls"], message: refusal });
  if (config.tls !== undefined && config.insecure)
    ctx.addIssue({
      code: "custom",
      path: ["insecure"],
      message: "insecure (or --insecure) asks for plaintext but tls is configured: remove one of them",
    });
}

/** A raw config with the `--insecure` flag applied, as `insecure: true` in the file. */
export function withInsecureFlag(raw: unknown, insecure: boolean | undefined): unknown {
  return insecure && typeof raw === "object" && raw !== null && !Array.isArray(raw)
    ? { ...raw, insecure: true }
    : raw;
}
