/**
 * `fl sites`: the allowlist of a running coordinator, changed without a restart.
 */
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { readPublicIdentityFile } from "../../shared/src/config/key-files.js";
import { describePublicIdentity } from "./keys.js";
import { adminRequest, statusTarget } from "./status.js";

interface TargetOptions {
  url?: string;
  tokenFile?: string;
  run?: string;
}

interface SiteRow {
  id: string;
  signing: string;
  encryption: string;
}

function withTarget(command: Command): Command {
  return command
    .option("--url <url>", "the coordinator's operator endpoint, http://HOST:PORT (admin.listen)")
    .option("--token-file <file>", "the operator token (admin.tokenFile of the coordinator's config)")
    .option("--run <dir>", "a run folder of fl simulate: reads its admin.addr and admin.token");
}

export function registerSitesCommands(program: Command): void {
  const sites = program
    .command("sites")
    .description("enrol and revoke hospitals at a running coordinator (takes effect at once)");
  withTarget(sites.command("list").description("the enrolled sites and their key fingerprints")).action(
    async (options: TargetOptions) => {
      const { sites: rows } = await adminRequest<{ sites: SiteRow[] }>(statusTarget(options), "/sites");
      for (const row of rows)
        process.stdout.write(`${row.id}  signing ${row.signing}  encryption ${row.encryption}\n`);
    },
  );
  withTarget(
    sites
      .command("add")
      .description(
        "enrol a hospital from its <id>.public.json; compare the fingerprints printed first with the ones its owner reads out",
      )
      .argument("<file>", "the hospital's public identity file"),
  ).action(async (file: string, options: TargetOptions) => {
    // Read and checked here first, so that a wrong file is named before anything is sent.
    process.stdout.write(`${describePublicIdentity(readPublicIdentityFile(file))}\n`);
    const answer = await adminRequest<{ enrolled: boolean; site: SiteRow }>(statusTarget(options), "/sites", {
      method: "POST",
      body: readFileSync(file, "utf8"),
    });
    process.stdout.write(
      answer.enrolled
        ? `enrolled ${answer.site.id}\n`
        : `${answer.site.id} was already enrolled with this key\n`,
    );
  });
  withTarget(
    sites
      .command("revoke")
      .description("revoke a hospital: its session ends, its task fails, its uploads and joins are refused")
      .argument("<site>", "the site id")
      .option("--reason <text>", "why (kept in the log and the audit events)", "revoked by the operator"),
  ).action(async (site: string, options: TargetOptions & { reason: string }) => {
    await adminRequest(statusTarget(options), `/sites/${encodeURIComponent(site)}/revoke`, {
      method: "POST",
      body: JSON.stringify({ reason: options.reason }),
    });
    process.stdout.write(`revoked ${site}\n`);
  });
}
