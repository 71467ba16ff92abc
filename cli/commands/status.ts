/**
 * `fl status`: what a running coordinator's operator endpoint says of its federation.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import type { FederationStatus, SiteStatus } from "../../coordinator/src/admin/status.js";
import { ErrorCode, errorMessage, FlError } from "../../shared/src/errors.js";

/** Where to ask and with which token: `--url` and `--token-file`, or a run folder of `fl simulate`. */
export function statusTarget(options: { url?: string; tokenFile?: string; run?: string }): {
  url: string;
  tokenFile: string;
} {
  if (options.run !== undefined) {
    const addrFile = join(options.run, "admin.addr");
    let address: string;
    try {
      address = readFileSync(addrFile, "utf8").trim();
    } catch (error) {
      throw new FlError(
        ErrorCode.InvalidConfig,
        `cannot read ${addrFile} (${errorMessage(error)}): is ${options.run} the folder of a run whose coordinator has its operator endpoint on (fl simulate, or admin: in coordinator.yaml)?`,
      );
    }
    return {
      url: options.url ?? `http://${address}`,
      tokenFile: options.tokenFile ?? join(options.run, "admin.token"),
    };
  }
  if (options.url === undefined || options.tokenFile === undefined)
    throw new FlError(
      ErrorCode.InvalidConfig,
      "say which coordinator to ask: --url http://HOST:PORT --token-file FILE (admin.listen and admin.tokenFile of its config), or --run DIR for a run folder of fl simulate",
    );
  return { url: options.url, tokenFile: options.tokenFile };
}

function readToken(path: string): string {
  try {
    const token = readFileSync(path, "utf8").trim();
    if (token) return token;
  } catch (error) {
    throw new FlError(ErrorCode.InvalidConfig, `cannot read the token file ${path}: ${errorMessage(error)}`);
  }
  throw new FlError(ErrorCode.InvalidConfig, `the token file ${path} is empty`);
}

/**
 * One request to the operator endpoint; errors say what went wrong in the operator's terms (not
 * running, wrong token), and a refusal of the request itself carries the coordinator's reason.
 */
export async function adminRequest<T>(
  target: { url: string; tokenFile: string },
  path: string,
  init: { method?: "GET" | "POST"; body?: string } = {},
): Promise<T> {
  const token = readToken(target.tokenFile);
  const url = new URL(path, target.url);
  let response: Response;
  try {
    response = await fetch(url, {
      method: init.method ?? "GET",
      headers: {
        authorization: `Bearer ${token}`,
        ...(init.body !== undefined && { "content-type": "application/json" }),
      },
      ...(init.body !== undefined && { body: init.body }),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const why =
      cause?.code === "ECONNREFUSED"
        ? "connection refused: is the coordinator running, with admin.listen set to this address?"
        : (cause?.message ?? errorMessage(error));
    throw new FlError(
      ErrorCode.FailedPrecondition,
      `cannot reach the operator endpoint at ${url.origin}: ${why}`,
    );
  }
  if (response.status === 401)
    throw new FlError(
      ErrorCode.Unauthenticated,
      `the operator endpoint at ${url.origin} refused the token in ${target.tokenFile} (401): use the file named by admin.tokenFile in the coordinator's config`,
    );
  if (!response.ok) {
    const text = await response.text();
    let reason = text.slice(0, 300);
    try {
      reason = (JSON.parse(text) as { error?: string }).error ?? reason;
    } catch {
      // Not JSON: the text as it came.
    }
    throw new FlError(
      response.status === 404 ? ErrorCode.NotFound : ErrorCode.FailedPrecondition,
      `the operator endpoint at ${url.origin} answered ${response.status}: ${reason}`,
    );
  }
  return (await response.json()) as T;
}

/** GET /status. */
export function fetchStatus(target: { url: string; tokenFile: string }): Promise<FederationStatus> {
  return adminRequest<FederationStatus>(target, "/status");
}

/** How long ago, in the largest whole unit: "4 s ago", "12 min ago". */
function ago(iso: string | null, nowMs: number): string {
  if (iso === null) return "-";
  const seconds = Math.max(0, Math.round((nowMs - Date.parse(iso)) / 1000));
  if (seconds < 120) return `${seconds} s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

function taskText(task: SiteStatus["task"]): string {
  if (!task) return "-";
  return `${task.kind} r${task.round} ${Math.round(task.progress * 100)}% ${task.status}`.trim();
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** The human form of a status: the federation, then one row per site. */
export function formatStatus(status: FederationStatus, nowMs: number): string {
  const { plan, updates } = status;
  const rounds = `${plan.completedRounds}/${plan.totalRounds ?? "?"} rounds done`;
  const current =
    plan.round === null
      ? "no round started yet"
      : `round ${plan.round}${plan.attempt && plan.attempt > 1 ? ` (attempt ${plan.attempt})` : ""}, phase ${plan.phase ?? "?"}`;
  const rejected = Object.entries(updates.rejected);
  const lines = [
    `federation ${status.federationId}: ${status.state}${status.reason ? ` (${status.reason})` : ""}; ${rounds}; ${current}`,
    `updates: ${updates.accepted} accepted, ${rejected.reduce((n, [, count]) => n + count, 0)} rejected${
      rejected.length > 0 ? ` (${rejected.map(([code, count]) => `${code} ${count}`).join(", ")})` : ""
    }`,
  ];
  if (status.privacy)
    lines.push(
      `differential privacy: ε ${status.privacy.epsilon.toFixed(3)} spent at δ ${status.privacy.delta}${
        status.privacy.budget === undefined ? "" : ` (budget ${status.privacy.budget})`
      }`,
    );
  if (status.lastRound)
    lines.push(
      `last round: ${status.lastRound.round} ${status.lastRound.outcome} ${ago(status.lastRound.at, nowMs)}${
        status.lastRound.reason ? `: ${status.lastRound.reason}` : ""
      }`,
    );
  if (status.lastEvaluation) {
    const metrics = Object.entries(status.lastEvaluation.pooled)
      .filter(([name]) => name !== "count")
      .map(([name, value]) => `${name} ${value.toFixed(3)}`)
      .join(", ");
    lines.push(
      `last evaluation: model v${status.lastEvaluation.modelVersion ?? "?"}: ${metrics || "no metrics"} (${ago(status.lastEvaluation.at, nowMs)})`,
    );
  }
  lines.push(
    "",
    ...table(
      ["SITE", "STATE", "LAST SEEN", "BACKEND", "TASK"],
      status.sites.map((site) => [
        site.siteId,
        site.state === "lost" && site.lostReason ? `lost (${site.lostReason})` : site.state,
        ago(site.lastSeen, nowMs),
        site.backend ?? "-",
        taskText(site.task),
      ]),
    ),
  );
  return `${lines.join("\n")}\n`;
}

export function registerStatusCommand(program: Command): void {
  program
    .command("status")
    .description("show a running coordinator's federation: sites, rounds, task progress, updates")
    .option("--url <url>", "the coordinator's operator endpoint, http://HOST:PORT (admin.listen)")
    .option("--token-file <file>", "the operator token (admin.tokenFile of the coordinator's config)")
    .option("--run <dir>", "a run folder of fl simulate: reads its admin.addr and admin.token")
    .option("--json", "print the status as JSON", false)
    .action(async (options: { url?: string; tokenFile?: string; run?: string; json: boolean }) => {
      const target = statusTarget(options);
      const status = await fetchStatus(target);
      process.stdout.write(
        options.json
          ? `${JSON.stringify(status, null, 2)}\n`
          : // The token stays in its file, off the screen and out of shell history.
            `${formatStatus(status, Date.now())}\ndashboard: ${new URL("/dashboard", target.url)}?token=<the token in ${target.tokenFile}>\n`,
      );
    });
}
