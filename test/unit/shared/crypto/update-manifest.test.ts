import nacl from "tweetnacl";
import { describe, expect, it } from "vitest";
import {
  canonicalJson,
  generateIdentity,
  joinMessage,
  manifestSigningBytes,
  publicIdentity,
  signJoin,
  signManifest,
  type UpdateManifest,
  validateUpdateManifest,
  verifyManifest,
} from "../../../../shared/src/crypto/index.js";
import { ErrorCode } from "../../../../shared/src/errors.js";
import { seededRandom } from "../../../helpers/crypto-fixtures.js";
import { expectFlError } from "../../../helpers/expect-fl-error.js";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe("canonicalJson", () => {
  it("sorts keys at every level and drops whitespace", () => {
    const value = { b: 1, a: [true, null, "x", { d: 2, c: -1.5 }], c: { z: 1, y: 2 } };
    expect(text(canonicalJson(value))).toBe('{"a":[true,null,"x",{"c":-1.5,"d":2}],"b":1,"c":{"y":2,"z":1}}');
  });

  it("does not depend on key insertion order", () => {
    expect(canonicalJson({ x: 1, y: { p: 1, q: 2 } })).toEqual(canonicalJson({ y: { q: 2, p: 1 }, x: 1 }));
  });

  it("encodes UTF-8, escapes like JSON and writes -0 as 0", () => {
    expect(Array.from(canonicalJson("é"))).toEqual([0x22, 0xc3, 0xa9, 0x22]);
    expect(text(canonicalJson({ q: 'a"b\n' }))).toBe('{"q":"a\\"b\\n"}');
    expect(text(canonicalJson(-0))).toBe("0");
    expect(text(canonicalJson({ keep: 1, drop: undefined }))).toBe('{"keep":1}');
  });

  it.each<[string, unknown]>([
    ["NaN", Number.NaN],
    ["Infinity", { a: Number.POSITIVE_INFINITY }],
    ["a bigint", 1n],
    ["a function", () => 1],
    ["a symbol", Symbol("s")],
    ["undefined in an array", [1, undefined]],
    ["a Uint8Array", { key: new Uint8Array(2) }],
    ["a Date", new Date(0)],
  ])("rejects %s", (_what, value) => {
    expectFlError(() => canonicalJson(value), ErrorCode.InvalidArgument, "canonical JSON");
  });

  it("says where the bad value is", () => {
    expectFlError(() => canonicalJson({ a: [0, { b: Number.NaN }] }), ErrorCode.InvalidArgument, "$.a[1].b");
  });
});

const site = generateIdentity("hospital-a", seededRandom(21));
const otherSite = generateIdentity("hospital-b", seededRandom(22));
const impostor = generateIdentity("hospital-a", seededRandom(23));

const manifest: UpdateManifest = {
  federationId: "cxr-2024",
  siteId: "hospital-a",
  round: 3,
  modelVersion: 3,
  taskId: "classification",
  uploadId: "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
  noncePrefix: Buffer.alloc(16, 7).toString("base64"),
  contentSha256: "ab".repeat(32),
  plaintextBytes: 4_194_312,
  numChunks: 5,
  numExamples: 1200,
  createdAtMs: 1_700_000_000_000,
};

/** One change per field, each still a well-formed manifest. */
const fieldChanges: ReadonlyArray<[keyof UpdateManifest, unknown]> = [
  ["federationId", "cxr-2025"],
  ["siteId", "hospital-b"],
  ["round", 4],
  ["modelVersion", 2],
  ["taskId", "segmentation"],
  ["uploadId", "ffffffffffffffffffffffffffffffff"],
  ["noncePrefix", Buffer.alloc(16, 8).toString("base64")],
  ["contentSha256", `${"ab".repeat(31)}ac`],
  ["plaintextBytes", 4_194_313],
  ["numChunks", 4],
  ["numExamples", 120_000],
  ["createdAtMs", 1_700_000_000_001],
];

describe("signManifest / verifyManifest", () => {
  const signer = publicIdentity(site);

  it("verifies an untouched manifest signed by its site", () => {
    const signature = signManifest(manifest, site);
    expect(signature).toHaveLength(64);
    expect(verifyManifest(manifest, signature, signer)).toBe(true);
    expect(verifyManifest({ ...manifest }, signature, signer)).toBe(true);
  });

  it("signs the domain tag followed by the canonical JSON of the twelve fields", () => {
    const bytes = manifestSigningBytes(manifest);
    const tag = new TextEncoder().encode("fl.v1/update-manifest\0");
    expect(Array.from(bytes.subarray(0, tag.length))).toEqual(Array.from(tag));
    const body = JSON.parse(text(bytes.subarray(tag.length)));
    expect(body).toEqual(manifest);
    expect(Object.keys(body)).toEqual(Object.keys(manifest).sort());
    expect(nacl.sign.detached.verify(bytes, signManifest(manifest, site), site.signing.publicKey)).toBe(true);
  });

  it.each(fieldChanges)("fails after %s changes", (field, value) => {
    const signature = signManifest(manifest, site);
    const changed = { ...manifest, [field]: value } as UpdateManifest;
    expect(verifyManifest(changed, signature, signer)).toBe(false);
    // The same, with the id check out of the way: only the signature can catch it.
    expect(verifyManifest(changed, signature, { ...signer, id: changed.siteId })).toBe(false);
  });

  it("covers every manifest field in the change list", () => {
    expect(fieldChanges.map(([field]) => field).sort()).toEqual(Object.keys(manifest).sort());
  });

  it("ignores extra properties, which are not part of the signed manifest", () => {
    const signature = signManifest(manifest, site);
    const withExtra = { ...manifest, note: "hello" } as UpdateManifest;
    expect(verifyManifest(withExtra, signature, signer)).toBe(true);
    expect(manifestSigningBytes(withExtra)).toEqual(manifestSigningBytes(manifest));
  });

  it("fails for another key under the same id, and for a signer whose id is not the manifest's site", () => {
    expect(verifyManifest(manifest, signManifest(manifest, impostor), signer)).toBe(false);
    const forB = { ...manifest, siteId: "hospital-b" };
    const signatureB = signManifest(forB, otherSite);
    expect(verifyManifest(forB, signatureB, publicIdentity(otherSite))).toBe(true);
    expect(verifyManifest(forB, signatureB, signer)).toBe(false);
  });

  it("refuses to sign a manifest for another site or a malformed one", () => {
    expectFlError(
      () => signManifest({ ...manifest, siteId: "hospital-b" }, site),
      ErrorCode.InvalidArgument,
      "hospital-b",
    );
    expectFlError(
      () => signManifest({ ...manifest, round: -1 }, site),
      ErrorCode.InvalidArgument,
      '"round"',
      "non-negative integer",
    );
  });

  it("returns false for tampered, truncated or mis-typed input without throwing", () => {
    const signature = signManifest(manifest, site);
    const tampered = Uint8Array.from(signature);
    tampered[0] = (tampered[0] ?? 0) ^ 1;
    expect(verifyManifest(manifest, tampered, signer)).toBe(false);
    expect(verifyManifest(manifest, signature.subarray(0, 32), signer)).toBe(false);
    expect(verifyManifest({ ...manifest, round: "3" } as unknown as UpdateManifest, signature, signer)).toBe(
      false,
    );
    expect(verifyManifest(null as unknown as UpdateManifest, signature, signer)).toBe(false);
  });

  it("does not accept a join signature as a manifest signature (domain separation)", () => {
    const challenge = manifestSigningBytes(manifest).subarray(0, 32);
    const joinSignature = signJoin(site, "cxr-2024", challenge);
    expect(
      nacl.sign.detached.verify(
        joinMessage("cxr-2024", "hospital-a", challenge),
        joinSignature,
        site.signing.publicKey,
      ),
    ).toBe(true);
    expect(verifyManifest(manifest, joinSignature, signer)).toBe(false);
  });
});

describe("validateUpdateManifest", () => {
  it("returns a frozen copy with only the manifest fields", () => {
    const copy = validateUpdateManifest({ ...manifest, extra: 1 });
    expect(copy).toEqual(manifest);
    expect(Object.isFrozen(copy)).toBe(true);
  });

  it.each<[keyof UpdateManifest, unknown, string]>([
    ["federationId", "", "non-empty"],
    ["siteId", "Hospital A", "site id"],
    ["round", 1.5, "integer"],
    ["modelVersion", -1, "integer"],
    ["noncePrefix", Buffer.alloc(12).toString("base64"), "16 bytes"],
    ["noncePrefix", "%%%", "16 bytes"],
    ["contentSha256", "AB".repeat(32), "hex"],
    ["contentSha256", "ab", "hex"],
    ["numChunks", undefined, "integer"],
    ["numExamples", 0, ">= 1"],
    ["createdAtMs", Number.NaN, "integer"],
  ])("names the bad field %s = %j", (field, value, fragment) => {
    expectFlError(
      () => validateUpdateManifest({ ...manifest, [field]: value }),
      ErrorCode.InvalidArgument,
      `"${field}"`,
      fragment,
    );
  });

  it("rejects a non-object", () => {
    expectFlError(() => validateUpdateManifest("manifest"), ErrorCode.InvalidArgument, "object");
  });
});
