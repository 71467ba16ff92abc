import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nacl from "tweetnacl";
import { afterAll, describe, expect, it } from "vitest";
import { nativeIdentity, writeManyIdentityFiles } from "../../../cli/simulate/virtual-keys.js";
import { readIdentityFile, readPublicIdentityFile } from "../../../shared/src/config/key-files.js";

const dir = mkdtempSync(join(tmpdir(), "virtual-keys-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("nativeIdentity", () => {
  it("makes the keys tweetnacl would make from the same secrets", () => {
    const identity = nativeIdentity("vh001");
    const seed = identity.signing.secretKey.slice(0, 32);
    const fromSeed = nacl.sign.keyPair.fromSeed(seed);
    expect(identity.signing.publicKey).toEqual(fromSeed.publicKey);
    expect(identity.signing.secretKey).toEqual(fromSeed.secretKey);
    expect(identity.encryption.publicKey).toEqual(
      nacl.box.keyPair.fromSecretKey(identity.encryption.secretKey).publicKey,
    );
    // And they work: a signature verifies, a box opens.
    const message = new TextEncoder().encode("round 1");
    expect(
      nacl.sign.detached.verify(
        message,
        nacl.sign.detached(message, identity.signing.secretKey),
        identity.signing.publicKey,
      ),
    ).toBe(true);
    const other = nacl.box.keyPair();
    const nonce = new Uint8Array(24);
    const boxed = nacl.box(message, nonce, identity.encryption.publicKey, other.secretKey);
    expect(nacl.box.open(boxed, nonce, other.publicKey, identity.encryption.secretKey)).toEqual(message);
  });
});

describe("writeManyIdentityFiles", () => {
  it("writes each hospital's secret (0600) and public identity, readable by the client and coordinator", async () => {
    const ids = Array.from({ length: 70 }, (_, i) => `vh${String(i + 1).padStart(3, "0")}`);
    await writeManyIdentityFiles(ids, dir);
    expect(readdirSync(dir)).toHaveLength(140);
    const secret = readIdentityFile(join(dir, "vh070.identity.json"));
    expect(secret.id).toBe("vh070");
    const published = readPublicIdentityFile(join(dir, "vh070.public.json"));
    expect(published.signingPublicKey).toEqual(secret.signing.publicKey);
    expect(published.encryptionPublicKey).toEqual(secret.encryption.publicKey);
    expect(statSync(join(dir, "vh001.identity.json")).mode & 0o777).toBe(0o600);
    // Never over an existing identity.
    await expect(writeManyIdentityFiles(["vh001"], dir)).rejects.toThrow(/EEXIST/);
  });
});
