import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { readPublicIdentityFile, SECRET_FILE_MODE } from "../../shared/src/config/key-files.js";
import {
  generateIdentity,
  type Identity,
  identityToJson,
  keyFingerprint,
  type PublicIdentity,
  publicIdentity,
  publicIdentityToJson,
} from "../../shared/src/crypto/index.js";
import { ErrorCode, FlError } from "../../shared/src/errors.js";
import { writeFileAtomic } from "../../shared/src/io/atomic-file.js";
import { createSiteRequest } from "../provision/request.js";

/** Writes <id>.identity.json (secret, mode 600) and <id>.public.json (to enrol at the coordinator). */
export function writeIdentityFiles(
  id: string,
  outDir: string,
  options: { force?: boolean } = {},
): { secretPath: string; publicPath: string; fingerprint: string; identity: Identity } {
  const identity = generateIdentity(id);
  mkdirSync(outDir, { recursive: true });
  const secretPath = join(outDir, `${id}.identity.json`);
  const publicPath = join(outDir, `${id}.public.json`);
  if (!options.force && existsSync(secretPath)) {
    throw new FlError(
      ErrorCode.InvalidConfig,
      `${secretPath} already exists: keep it, or pass --force to replace it (the old key is then no longer enrolled)`,
    );
  }
  // Created 0600 from the first byte (never chmod-ed afterwards), and readIdentityFile refuses
  // a secret file that group or others can read.
  writeFileAtomic(secretPath, identityToJson(identity), { mode: SECRET_FILE_MODE });
  writeFileAtomic(publicPath, publicIdentityToJson(publicIdentity(identity)), { mode: 0o644 });
  return { secretPath, publicPath, fingerprint: keyFingerprint(identity.signing.publicKey), identity };
}

/**
 * The hospital's side of provisioning: its identity, its TLS key and a request file with only the
 * public halves, for the operator's `fl provision`. Both secrets are written 0600 and stay here.
 */
export async function writeSiteRequest(
  id: string,
  outDir: string,
  options: { force?: boolean } = {},
): Promise<{ secretPath: string; tlsKeyPath: string; requestPath: string; description: string }> {
  const tlsKeyPath = join(outDir, `${id}.tls.key`);
  if (!options.force && existsSync(tlsKeyPath)) {
    throw new FlError(
      ErrorCode.InvalidConfig,
      `${tlsKeyPath} already exists: keep it (its certificate may already be issued), or pass --force to replace it and the identity`,
    );
  }
  const { secretPath, identity } = writeIdentityFiles(id, outDir, options);
  const request = await createSiteRequest(identity);
  writeFileAtomic(tlsKeyPath, request.tlsKeyPem, { mode: SECRET_FILE_MODE });
  const requestPath = join(outDir, `${id}.request.json`);
  writeFileAtomic(requestPath, request.requestJson, { mode: 0o644 });
  return {
    secretPath,
    tlsKeyPath,
    requestPath,
    description: describeRequest(publicIdentity(identity), request.tlsKeyFingerprint),
  };
}

/** The line both sides read out and compare: the identity's fingerprints and the TLS key's. */
export function describeRequest(site: PublicIdentity, tlsKeyFingerprint: string): string {
  return `${describePublicIdentity(site)}  tls ${tlsKeyFingerprint}`;
}

export function registerKeysCommands(program: Command): void {
  const keys = program
    .command("keys")
    .description("Ed25519/X25519 identities for hospitals and the coordinator");
  keys
    .command("generate")
    .description(
      "generate an identity: <id>.identity.json (secret, keep at the site) and <id>.public.json (enrol at the coordinator)",
    )
    .requiredOption("--id <id>", "site id, or 'coordinator' (lowercase letters, digits, '.', '_', '-')")
    .option("--out <dir>", "output folder", "keys")
    .option("--force", "overwrite an existing identity", false)
    .action((options: { id: string; out: string; force: boolean }) => {
      const { secretPath, publicPath, fingerprint } = writeIdentityFiles(options.id, options.out, {
        force: options.force,
      });
      process.stdout.write(
        `identity ${options.id} (signing key ${fingerprint})\n  secret: ${secretPath}  (keep private, mode 600)\n  public: ${publicPath}  (copy to the coordinator's sitesDir, or give to clients if this is the coordinator)\n`,
      );
    });
  keys
    .command("request")
    .description(
      "at a hospital: generate its identity and TLS key (both stay here) and <id>.request.json (public only) for the operator's 'fl provision'",
    )
    .requiredOption("--id <id>", "site id (lowercase letters, digits, '.', '_', '-')")
    .option("--out <dir>", "output folder", "keys")
    .option("--force", "overwrite an existing identity and TLS key", false)
    .action(async (options: { id: string; out: string; force: boolean }) => {
      const written = await writeSiteRequest(options.id, options.out, { force: options.force });
      process.stdout.write(
        `${written.description}\n` +
          `  secret: ${written.secretPath}, ${written.tlsKeyPath}  (keep here, mode 600)\n` +
          `  send:   ${written.requestPath}  (public) to the federation operator, and read the fingerprints above out to them over another channel (phone, in person)\n`,
      );
    });
  keys
    .command("fingerprint")
    .description(
      "print the fingerprints of public identity files, to compare with what their owner read out over another channel",
    )
    .argument("<files...>", "<id>.public.json files")
    .action((files: string[]) => {
      for (const file of files)
        process.stdout.write(`${describePublicIdentity(readPublicIdentityFile(file))}  ${file}\n`);
    });
}

/** One line an operator compares with the owner's: id, signing and encryption key fingerprints. */
export function describePublicIdentity(site: PublicIdentity): string {
  return `${site.id}  signing ${keyFingerprint(site.signingPublicKey)}  encryption ${keyFingerprint(site.encryptionPublicKey)}`;
}
