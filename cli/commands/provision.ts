/**
 * `fl provision`: the operator turns hospitals' request files into start-up kits (as NVIDIA
 * FLARE's provisioning does), without ever holding a hospital's private key.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { readPublicIdentityFile } from "../../shared/src/config/key-files.js";
import { readTextFile } from "../../shared/src/config/load.js";
import { ErrorCode, FlError } from "../../shared/src/errors.js";
import {
  enrol,
  enrolmentState,
  issueClientCertificate,
  keepIssuedCertificate,
  readCa,
  readKitData,
  writeKit,
} from "../provision/kit.js";
import { type VerifiedRequest, verifySiteRequest } from "../provision/request.js";
import { describePublicIdentity, describeRequest } from "./keys.js";

interface ProvisionOptions {
  ca: string;
  coordinator: string;
  federationId: string;
  coordinatorPublicKey: string;
  sitesDir: string;
  out: string;
  days: string;
  force: boolean;
  data?: string;
  workDir?: string;
}

export function registerProvisionCommand(program: Command): void {
  program
    .command("provision")
    .description(
      "sign hospitals' TLS requests with the federation CA, enrol their public identities and write one start-up kit per hospital",
    )
    .argument("<requests...>", "<id>.request.json files from 'fl keys request' at each hospital")
    .requiredOption(
      "--ca <dir>",
      "folder with ca.crt and ca.key (as deploy/tls/make-certs.sh writes); each issued certificate is kept here as <id>.crt, for make-certs.sh --revoke",
    )
    .requiredOption(
      "--coordinator <host:port>",
      "the address hospitals dial (a name in the coordinator's certificate)",
    )
    .requiredOption("--federation-id <id>", "the coordinator's federationId")
    .requiredOption("--coordinator-public-key <file>", "the coordinator's coordinator.public.json")
    .requiredOption(
      "--sites-dir <dir>",
      "the coordinator's sitesDir: each hospital's <id>.public.json is enrolled here",
    )
    .option("--out <dir>", "where the kits are written, one folder per hospital", "kits")
    .option("--days <n>", "client certificate validity in days (as make-certs.sh)", "825")
    .option(
      "--data <file>",
      "a data section (YAML/JSON, or a config with data:) written into every kit's client.yaml, paths as the hospitals' clients see them; default: a placeholder each hospital edits",
    )
    .option(
      "--work-dir <dir>",
      "the kits' workDir (cache and local state) as the clients see it; default ./work, next to client.yaml",
    )
    .option("--force", "replace an existing kit folder (re-issues its certificate)", false)
    .action(async (files: string[], options: ProvisionOptions) => {
      const days = Number(options.days);
      if (!Number.isInteger(days) || days < 1)
        throw new FlError(
          ErrorCode.InvalidArgument,
          `--days ${options.days}: give a whole number of days, at least 1`,
        );
      if (
        !/^[^\s:]+:\d{1,5}$/.test(options.coordinator) ||
        Number(options.coordinator.split(":").pop()) > 65535
      )
        throw new FlError(
          ErrorCode.InvalidArgument,
          `--coordinator ${options.coordinator}: give host:port, the address hospitals dial (e.g. fl.example.org:7443)`,
        );
      if (options.federationId.trim() === "")
        throw new FlError(
          ErrorCode.InvalidArgument,
          "--federation-id is empty: give the coordinator's federationId",
        );
      if (options.workDir !== undefined && options.workDir.trim() === "")
        throw new FlError(
          ErrorCode.InvalidArgument,
          "--work-dir is empty: give a folder, or leave the option out",
        );
      const data = options.data === undefined ? undefined : readKitData(options.data);
      const coordinatorKey = readPublicIdentityFile(options.coordinatorPublicKey);
      const ca = await readCa(options.ca);

      // Everything is checked before anything is written, so a bad request leaves no half-provisioned federation.
      const requests: VerifiedRequest[] = [];
      for (const file of files) {
        const request = await verifySiteRequest(readTextFile(file, "request file"), file);
        if (requests.some((r) => r.identity.id === request.identity.id))
          throw new FlError(
            ErrorCode.InvalidArgument,
            `${file}: a second request for ${request.identity.id}; give one per hospital`,
          );
        const kit = `${options.out}/${request.identity.id}`;
        if (existsSync(kit) && !options.force)
          throw new FlError(
            ErrorCode.InvalidConfig,
            `${kit} already exists: nothing was written. Pass --force to re-issue ${request.identity.id}'s kit`,
          );
        enrolmentState(options.sitesDir, request.identity);
        requests.push(request);
      }

      process.stdout.write(
        `${describePublicIdentity(coordinatorKey)}  (read this out to each hospital)\n` +
          "compare each line below with the one its hospital reads out to you; provision only when they match:\n",
      );
      for (const request of requests) {
        const certPem = await issueClientCertificate(ca, request, days);
        // Where make-certs.sh keeps what it issued, so that `make-certs.sh --revoke <id>` finds it.
        keepIssuedCertificate(options.ca, request.identity.id, certPem);
        const state = enrolmentState(options.sitesDir, request.identity);
        if (state === "new") enrol(options.sitesDir, request.identity);
        const dir = writeKit(options.out, ca, request.identity, certPem, {
          federationId: options.federationId,
          coordinator: options.coordinator,
          coordinatorPublicKeyFile: options.coordinatorPublicKey,
          ...(data && { data }),
          ...(options.workDir !== undefined && { workDir: options.workDir }),
        });
        process.stdout.write(
          `${describeRequest(request.identity, request.tlsKeyFingerprint)}\n` +
            `  ${state === "new" ? "enrolled" : "already enrolled"} in ${options.sitesDir}; certificate kept in ${join(options.ca, `${request.identity.id}.crt`)}; kit ${dir}/ (send it to the hospital)\n`,
        );
      }
    });
}
