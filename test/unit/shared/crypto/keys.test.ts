import nacl from "tweetnacl";
import { describe, expect, it } from "vitest";
import {
  generateIdentity,
  identityFromJson,
  identityToJson,
  keyFingerprint,
  publicIdentity,
  publicIdentityFromJson,
  publicIdentityToJson,
} from "../../../../shared/src/crypto/index.js";
import { ErrorCode } from "../../../../shared/src/errors.js";
import { seededRandom } from "../../../helpers/crypto-fixtures.js";
import { expectFlError } from "../../../helpers/expect-fl-error.js";

describe("generateIdentity", () => {
  it("makes Ed25519 and X25519 key pairs of the right sizes that work with nacl", () => {
    const identity = generateIdentity("hospital-a");
    expect(identity.id).toBe("hospital-a");
    expect(identity.signing.publicKey).toHaveLength(32);
    expect(identity.signing.secretKey).toHaveLength(64);
    expect(identity.encryption.publicKey).toHaveLength(32);
    expect(identity.encryption.secretKey).toHaveLength(32);
    const message = new TextEncoder().encode("hello");
    const signature = nacl.sign.detached(message, identity.signing.secretKey);
    expect(nacl.sign.detached.verify(message, signature, identity.signing.publicKey)).toBe(true);
    expect(nacl.box.keyPair.fromSecretKey(identity.encryption.secretKey).publicKey).toEqual(
      identity.encryption.publicKey,
    );
  });

  it("is deterministic for a given random source and different across sources", () => {
    const a1 = generateIdentity("site-1", seededRandom(1));
    const a2 = generateIdentity("site-1", seededRandom(1));
    const b = generateIdentity("site-1", seededRandom(2));
    expect(a1.signing.secretKey).toEqual(a2.signing.secretKey);
    expect(a1.encryption.secretKey).toEqual(a2.encryption.secretKey);
    expect(a1.signing.publicKey).not.toEqual(b.signing.publicKey);
    expect(generateIdentity("x").signing.publicKey).not.toEqual(generateIdentity("x").signing.publicKey);
  });

  it("uses the random bytes as Ed25519 seed and X25519 secret", () => {
    const random = seededRandom(9);
    const seed = random(32);
    const boxSecret = random(32);
    const identity = generateIdentity("s", seededRandom(9));
    expect(identity.signing.publicKey).toEqual(nacl.sign.keyPair.fromSeed(seed).publicKey);
    expect(identity.encryption.secretKey).toEqual(boxSecret);
  });

  it.each(["a", "hospital-a", "site_01.east", "0", "a".repeat(63)])("accepts id %j", (id) => {
    expect(generateIdentity(id, seededRandom(3)).id).toBe(id);
  });

  it.each(["", "Hospital", "-a", ".a", "a b", "a/b", "é", "a".repeat(64)])("rejects id %j", (id) => {
    expectFlError(() => generateIdentity(id, seededRandom(3)), ErrorCode.InvalidArgument, "Invalid id");
  });

  it("refuses a random source that returns the wrong number of bytes", () => {
    expectFlError(() => generateIdentity("a", () => new Uint8Array(3)), ErrorCode.Internal, "3 bytes");
  });
});

describe("keyFingerprint and publicIdentity", () => {
  it("is the first 16 hex digits of SHA-256 of the key", () => {
    // sha256(32 zero bytes) = 66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925
    expect(keyFingerprint(new Uint8Array(32))).toBe("66687aadf862bd77");
  });

  it("keeps only the public keys", () => {
    const identity = generateIdentity("a", seededRandom(4));
    const pub = publicIdentity(identity);
    expect(Object.keys(pub).sort()).toEqual(["encryptionPublicKey", "id", "signingPublicKey"]);
    expect(pub.signingPublicKey).toEqual(identity.signing.publicKey);
    expect(pub.encryptionPublicKey).toEqual(identity.encryption.publicKey);
  });
});

describe("identity JSON", () => {
  const identity = generateIdentity("hospital-a", seededRandom(5));
  const other = generateIdentity("hospital-b", seededRandom(6));
  const json = identityToJson(identity);
  const edit = (change: (doc: Record<string, unknown>) => void): string => {
    const doc = JSON.parse(json) as Record<string, unknown>;
    change(doc);
    return JSON.stringify(doc);
  };

  it("round-trips and is pretty JSON with kind, version and base64 keys", () => {
    expect(identityFromJson(json)).toEqual(identity);
    expect(json).toContain('\n  "kind": "fl-identity"');
    const doc = JSON.parse(json);
    expect(doc.version).toBe(1);
    expect(Buffer.from(doc.signingSecretKey, "base64")).toEqual(Buffer.from(identity.signing.secretKey));
  });

  it("round-trips a public identity, which holds no secrets", () => {
    const text = publicIdentityToJson(publicIdentity(identity));
    expect(JSON.parse(text).kind).toBe("fl-public-identity");
    expect(text).not.toContain("Secret");
    expect(text).not.toContain(Buffer.from(identity.signing.secretKey.subarray(0, 32)).toString("base64"));
    expect(publicIdentityFromJson(text)).toEqual(publicIdentity(identity));
  });

  it("says which file is not JSON", () => {
    expectFlError(
      () => identityFromJson("{", "/etc/fl/site.json"),
      ErrorCode.InvalidConfig,
      "/etc/fl/site.json",
      "not valid JSON",
    );
    expectFlError(() => identityFromJson("[1]"), ErrorCode.InvalidConfig, "identity JSON", "object");
  });

  it("explains a public file given where the secret one is needed, and the reverse", () => {
    const pubText = publicIdentityToJson(publicIdentity(identity));
    expectFlError(
      () => identityFromJson(pubText, "keys/a.pub.json"),
      ErrorCode.InvalidConfig,
      "keys/a.pub.json",
      '"kind"',
      "public identity file",
    );
    expectFlError(
      () => publicIdentityFromJson(json, "a.json"),
      ErrorCode.InvalidConfig,
      "a.json",
      '"kind"',
      "secret keys",
    );
  });

  it.each<[string, (doc: Record<string, unknown>) => void, string[]]>([
    [
      "a wrong version",
      (d) => {
        d.version = 2;
      },
      ['"version"'],
    ],
    [
      "a bad id",
      (d) => {
        d.id = "Bad Id";
      },
      ['"id"'],
    ],
    [
      "a missing key",
      (d) => {
        delete d.encryptionSecretKey;
      },
      ['"encryptionSecretKey"', "missing"],
    ],
    [
      "a non-base64 key",
      (d) => {
        d.signingPublicKey = "not*base64!";
      },
      ['"signingPublicKey"', "base64"],
    ],
    [
      "a key of the wrong length",
      (d) => {
        d.signingSecretKey = Buffer.alloc(32).toString("base64");
      },
      ['"signingSecretKey"', "64 bytes", "got 32"],
    ],
    [
      "another site's signing public key",
      (d) => {
        d.signingPublicKey = Buffer.from(other.signing.publicKey).toString("base64");
      },
      ['"signingPublicKey"', "does not belong"],
    ],
    [
      "another site's encryption public key",
      (d) => {
        d.encryptionPublicKey = Buffer.from(other.encryption.publicKey).toString("base64");
      },
      ['"encryptionPublicKey"', "does not belong"],
    ],
    [
      "a corrupt signing secret key",
      (d) => {
        const secret = Buffer.from(identity.signing.secretKey);
        secret[40] = (secret[40] ?? 0) ^ 1;
        d.signingSecretKey = secret.toString("base64");
      },
      ['"signingSecretKey"', "corrupt"],
    ],
  ])("rejects %s, naming the field and the file", (_what, change, fragments) => {
    expectFlError(
      () => identityFromJson(edit(change), "site.json"),
      ErrorCode.InvalidConfig,
      "site.json",
      ...fragments,
    );
  });

  it("rejects a public identity with a short key", () => {
    const doc = JSON.parse(publicIdentityToJson(publicIdentity(identity)));
    doc.encryptionPublicKey = Buffer.alloc(31).toString("base64");
    expectFlError(
      () => publicIdentityFromJson(JSON.stringify(doc), "allowlist/a.json"),
      ErrorCode.InvalidConfig,
      "allowlist/a.json",
      '"encryptionPublicKey"',
      "32 bytes",
    );
  });
});
