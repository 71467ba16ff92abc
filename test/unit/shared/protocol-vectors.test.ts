import {
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  type KeyObject,
  sign as nodeSign,
  verify as nodeVerify,
} from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import nacl from "tweetnacl";
import { describe, expect, it } from "vitest";
import { sealUpdateInThread } from "../../../client/src/seal-update.js";
import { draftUpdate } from "../../../client/src/update-draft.js";
import { canonicalJson } from "../../../shared/src/crypto/canonical-json.js";
import { chunkNonce, sharedKey } from "../../../shared/src/crypto/chunk-box.js";
import { toBase64, toHex } from "../../../shared/src/crypto/encoding.js";
import { identityToJson, publicIdentityToJson } from "../../../shared/src/crypto/identity-json.js";
import { joinMessage, signJoin } from "../../../shared/src/crypto/join.js";
import { generateIdentity, publicIdentity } from "../../../shared/src/crypto/keys.js";
import {
  challengeMessage,
  deriveSessionKey,
  doneMessage,
  grantMessage,
  macBody,
  requestMac,
  responseMac,
  type SignedTaskFields,
  signStatement,
  taskMessage,
} from "../../../shared/src/crypto/session-auth.js";
import { manifestSigningBytes } from "../../../shared/src/crypto/update-manifest.js";
import type { EvaluationReport, Heartbeat } from "../../../shared/src/fl/messages.js";
import { PLAN_COMPLETE_REASON } from "../../../shared/src/fl/protocol-constants.js";
import { answerBody, callBody, SessionMethod } from "../../../shared/src/fl/session-calls.js";
import { channelBindingOfCertificate } from "../../../shared/src/transport/channel-binding.js";
import {
  createManifest,
  deserializeWeights,
  serializeWeights,
  sharingRule,
  withSharing,
} from "../../../shared/src/weights/index.js";
import { seededRandom } from "../../helpers/crypto-fixtures.js";

/**
 * The test vectors of docs/protocol.md (docs/protocol-vectors.json). Two implementations meet
 * here: the project's own code builds every message from fixed seeds, and a second one written
 * from docs/protocol.md alone (Node's crypto, tweetnacl only where Node has no XSalsa20/HSalsa20,
 * and its own byte assembly) recomputes each value from the file's inputs. When they disagree,
 * the document or the code is wrong. `FL_WRITE_PROTOCOL_VECTORS=1 npx vitest run <this file>`
 * rewrites the file from the project's code (then `npx biome format --write` it); only do that
 * for a deliberate protocol change, and say so in docs/protocol.md.
 */

const VECTORS_FILE = new URL("../../../docs/protocol-vectors.json", import.meta.url);

/** A self-signed Ed25519 certificate for CN=hospital-a, made once with openssl for these vectors. */
const CLIENT_CERTIFICATE_PEM = `-----BEGIN CERTIFICATE-----
MIIBQDCB86ADAgECAhRu3IW6vFFdisxqBwvB88URwZTeHTAFBgMrZXAwFTETMBEG
A1UEAwwKaG9zcGl0YWwtYTAgFw0yNjEyMDIwMDE0MDFaGA8yMTI2MTEwODAwMTQw
MVowFTETMBEGA1UEAwwKaG9zcGl0YWwtYTAqMAUGAytlcAMhACfuOMoAvk9tmT7s
LEEpavy9KgeGsMIZ9rR1mzDwXwv3o1MwUTAdBgNVHQ4EFgQUV/0HOdRgUp86criV
1v6YKMTPsNwwHwYDVR0jBBgwFoAUV/0HOdRgUp86criV1v6YKMTPsNwwDwYDVR0T
AQH/BAUwAwEB/zAFBgMrZXADQQCPPmqZ5xLTKHjuRXPMArAGNzW81QIhluskKGQm
RIKzcPceDTI5lfftqOi4kffaCCmO8+0sWYBVDHdRuOZ0wb8I
-----END CERTIFICATE-----
`;

const FEDERATION_ID = "fed-vectors";
const SITE_ID = "hospital-a";
const COORDINATOR_ID = "coordinator";
const EXPIRES_AT_MS = 1_767_225_660_000;
const SESSION_TOKEN = "dmVjdG9yLXNlc3Npb24tdG9rZW4tMDE";
const HEARTBEAT_INTERVAL_MS = 2000;

/** A global model of three tensors, one of them kept at the hospital (`local`). */
const GLOBAL_TENSORS = [
  { name: "enc.conv/kernel", shape: [2, 2] },
  { name: "enc.bn/moving_mean", shape: [2] },
  { name: "cls.dense/bias", shape: [3] },
];
const GLOBAL_VALUES = [0.5, -1.25, 0.1, 3, 0.2, 0.4, 0, 0.001, -2];
const TRAINED_VALUES = [0.75, -1, 0.3, 2.5, 9, 9, 0.5, 0.001, -2.5];
const LOCAL_PATTERNS = ["enc.*moving_*"];
const UPLOAD_CHUNK_BYTES = 64;
const TRAIN_METRICS = { loss: Math.LN2, accuracy: 0.5 };

/** The canonical-JSON example: key order, number formatting and string escapes. */
const CANONICAL_EXAMPLE = {
  b: [1, 0.1, -0, 1e21, 1e-7, 123456789012345680000, 5e-324, 2 ** 53],
  a: { z: true, é: null, Z: 'line\nbreak "quoted"\ttab back\\slash \u0001 ü € 😀', skipped: undefined },
  "": "empty key",
  "10": 1,
  "9": 2,
  "\uff21": "fullwidth A (U+FF21)",
  "😀": "U+1F600 sorts before U+FF21 in UTF-16",
};
/** The non-finite example: MAC bodies write them as strings; canonical JSON alone refuses them. */
const NON_FINITE_EXAMPLE = { ok: 1, loss: Number.NaN, max: Number.POSITIVE_INFINITY, min: -Infinity };

const hex = (bytes: Uint8Array) => toHex(bytes);
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

interface WireHeartbeat {
  readonly taskId: string;
  readonly progress: number;
  readonly status: string;
  readonly failure: string;
}
interface WireEvaluation {
  readonly taskId: string;
  readonly round: number;
  readonly modelVersion: number;
  readonly split: string;
  readonly numExamples: number;
  readonly numClasses: number;
  readonly confusion: number[];
  readonly metrics: Record<string, number>;
}

const HEARTBEAT_CALL: WireHeartbeat = {
  taskId: "r3-hospital-a-train",
  progress: 0.25,
  status: "epoch 1/4",
  failure: "",
};
const EVALUATION_CALL: WireEvaluation = {
  taskId: "r3-hospital-a-eval",
  round: 3,
  modelVersion: 3,
  split: "test",
  numExamples: 8,
  numClasses: 2,
  confusion: [3, 1, 0, 4],
  metrics: { accuracy: 0.875, auc: 0.9375 },
};

/** Every vector, built with the project's own code from fixed seeds. */
function projectVectors() {
  const site = generateIdentity(SITE_ID, seededRandom(1));
  const coordinator = generateIdentity(COORDINATOR_ID, seededRandom(2));
  const clientNonce = seededRandom(3)(32);
  const challenge = seededRandom(4)(56);
  const channelBinding = channelBindingOfCertificate(Buffer.from(CLIENT_CERTIFICATE_PEM));

  const challengeBytes = challengeMessage({
    federationId: FEDERATION_ID,
    siteId: SITE_ID,
    clientNonce,
    challenge,
    expiresAtMs: EXPIRES_AT_MS,
    channelBinding,
  });
  const joinBytes = joinMessage(FEDERATION_ID, SITE_ID, challenge, channelBinding);
  const grantBytes = grantMessage({
    federationId: FEDERATION_ID,
    siteId: SITE_ID,
    challenge,
    sessionToken: SESSION_TOKEN,
    heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
  });
  const siteKey = sharedKey(site.encryption.secretKey, coordinator.encryption.publicKey);
  const coordinatorKey = sharedKey(coordinator.encryption.secretKey, site.encryption.publicKey);
  expect(hex(coordinatorKey)).toBe(hex(siteKey));
  const sessionKey = deriveSessionKey(siteKey, FEDERATION_ID, SITE_ID, challenge);

  const global = {
    manifest: createManifest(GLOBAL_TENSORS),
    values: Float32Array.from(GLOBAL_VALUES),
  };
  const globalBytes = serializeWeights(global);
  const task: SignedTaskFields = {
    taskId: "r3-hospital-a-train",
    round: 3,
    phase: "supervised",
    kind: "train",
    modelVersion: 2,
    modelSha256: createHash("sha256").update(globalBytes).digest("hex"),
    modelBytes: globalBytes.length,
    configJson: JSON.stringify({ task: "classify", epochs: 1, local: LOCAL_PATTERNS }),
    deadlineMs: 1_767_226_000_000,
  };
  const taskBytes = taskMessage(FEDERATION_ID, SITE_ID, task);
  const doneSequence = 7;
  const doneBytes = doneMessage({
    federationId: FEDERATION_ID,
    siteId: SITE_ID,
    sessionToken: SESSION_TOKEN,
    sequence: doneSequence,
    reason: PLAN_COMPLETE_REASON,
  });

  // The client's own path (node.ts): sharing from the task's local patterns, the delta of the
  // shared tensors, no pipeline stages, sealed in 64-byte chunks.
  const rule = sharingRule(LOCAL_PATTERNS);
  const downloaded = withSharing(deserializeWeights(globalBytes), rule);
  const trained = withSharing(
    { manifest: createManifest(GLOBAL_TENSORS), values: Float32Array.from(TRAINED_VALUES) },
    rule,
  );
  const draft = draftUpdate({
    trained,
    global: downloaded,
    numExamples: 40,
    metrics: TRAIN_METRICS,
    pipeline: [],
    context: { siteId: SITE_ID, round: task.round, phase: task.phase },
  });
  const sealed = sealUpdateInThread({
    delta: draft.delta,
    identity: site,
    key: siteKey,
    federationId: FEDERATION_ID,
    round: task.round,
    modelVersion: task.modelVersion,
    taskId: task.taskId,
    numExamples: draft.numExamples,
    chunkSize: UPLOAD_CHUNK_BYTES,
    now: () => 1_767_225_700_000,
    random: seededRandom(5),
  });
  const updateBytes = serializeWeights(draft.delta);

  const heartbeat: Heartbeat = {
    taskId: HEARTBEAT_CALL.taskId,
    progress: HEARTBEAT_CALL.progress,
    status: HEARTBEAT_CALL.status,
    ...(HEARTBEAT_CALL.failure && { failure: HEARTBEAT_CALL.failure }),
  };
  const evaluation: EvaluationReport = {
    ...EVALUATION_CALL,
    confusion: [EVALUATION_CALL.confusion.slice(0, 2), EVALUATION_CALL.confusion.slice(2)],
  };
  const request = (method: string, sequence: number, call: unknown, body: unknown) => ({
    method,
    sequence,
    call,
    body: text(macBody(body)),
    mac: hex(requestMac(sessionKey, method, sequence, body)),
  });
  const uploadCall = { manifestSignature: toBase64(sealed.signature), trainMetrics: TRAIN_METRICS };

  return {
    about:
      "Test vectors of the fl.v1 protocol: docs/protocol.md, section 'Test vectors', says what each is. Byte strings are lower-case hex unless named *Json, *Pem or body (UTF-8 text).",
    inputs: {
      federationId: FEDERATION_ID,
      siteId: SITE_ID,
      coordinatorId: COORDINATOR_ID,
      clientNonce: hex(clientNonce),
      challenge: hex(challenge),
      expiresAtMs: EXPIRES_AT_MS,
      clientCertificatePem: CLIENT_CERTIFICATE_PEM,
      sessionToken: SESSION_TOKEN,
      heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
    },
    keys: {
      site: {
        signingSeed: hex(site.signing.secretKey.subarray(0, 32)),
        signingPublicKey: hex(site.signing.publicKey),
        encryptionSecretKey: hex(site.encryption.secretKey),
        encryptionPublicKey: hex(site.encryption.publicKey),
      },
      coordinator: {
        signingSeed: hex(coordinator.signing.secretKey.subarray(0, 32)),
        signingPublicKey: hex(coordinator.signing.publicKey),
        encryptionSecretKey: hex(coordinator.encryption.secretKey),
        encryptionPublicKey: hex(coordinator.encryption.publicKey),
      },
      siteIdentityJson: identityToJson(site),
      coordinatorPublicIdentityJson: publicIdentityToJson(publicIdentity(coordinator)),
    },
    channelBinding,
    challengeStatement: {
      message: hex(challengeBytes),
      signature: hex(signStatement(challengeBytes, coordinator)),
    },
    join: {
      message: hex(joinBytes),
      signature: hex(signJoin(site, FEDERATION_ID, challenge, channelBinding)),
    },
    grant: { message: hex(grantBytes), signature: hex(signStatement(grantBytes, coordinator)) },
    session: { sharedKey: hex(siteKey), sessionKey: hex(sessionKey) },
    task: {
      fields: task,
      message: hex(taskBytes),
      signature: hex(signStatement(taskBytes, coordinator)),
    },
    done: {
      sequence: doneSequence,
      reason: PLAN_COMPLETE_REASON,
      message: hex(doneBytes),
      signature: hex(signStatement(doneBytes, coordinator)),
    },
    requests: [
      request(SessionMethod.PullTask, 4, { waitMs: 20_000 }, callBody.pullTask(20_000)),
      request(SessionMethod.Heartbeat, 5, HEARTBEAT_CALL, callBody.heartbeat(heartbeat)),
      request(
        SessionMethod.UploadUpdate,
        6,
        uploadCall,
        callBody.uploadUpdate({ signature: sealed.signature, trainMetrics: TRAIN_METRICS }),
      ),
      request(SessionMethod.ReportEvaluation, 9, EVALUATION_CALL, callBody.reportEvaluation(evaluation)),
    ],
    responses: [
      {
        method: SessionMethod.Heartbeat,
        sequence: 5,
        answer: { taskActive: false },
        body: text(macBody(answerBody.heartbeat({ taskActive: false }))),
        mac: hex(
          responseMac(sessionKey, SessionMethod.Heartbeat, 5, answerBody.heartbeat({ taskActive: false })),
        ),
      },
    ],
    canonicalJson: text(canonicalJson(CANONICAL_EXAMPLE)),
    macBodyNonFinite: text(macBody(NON_FINITE_EXAMPLE)),
    globalModel: {
      tensors: GLOBAL_TENSORS,
      values: GLOBAL_VALUES,
      flw1: hex(globalBytes),
      sha256: task.modelSha256,
    },
    update: {
      localPatterns: LOCAL_PATTERNS,
      trainedValues: TRAINED_VALUES,
      flw1: hex(updateBytes),
      chunkSize: UPLOAD_CHUNK_BYTES,
      manifest: sealed.manifest,
      manifestSigningBytes: hex(manifestSigningBytes(sealed.manifest)),
      signature: hex(sealed.signature),
      chunks: sealed.chunks.map((ciphertext, i) => ({
        nonce: hex(chunkNonce(sealed.manifest.noncePrefix, i)),
        ciphertext: hex(ciphertext),
      })),
    },
  };
}

type Vectors = ReturnType<typeof projectVectors>;

// ---------------------------------------------------------------------------------------------
// The second implementation: docs/protocol.md only. Nothing below imports the project's code.
// ---------------------------------------------------------------------------------------------

const fromHex = (value: string) => Buffer.from(value, "hex");
const utf8 = (value: string) => Buffer.from(value, "utf8");

/** Domain tag (ASCII, with its trailing NUL) then each field as u32 BE length || bytes. */
function frame(tag: string, fields: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [Buffer.from(tag, "latin1")];
  for (const field of fields) {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(field.length);
    parts.push(length, field);
  }
  return Buffer.concat(parts);
}

function u64be(value: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(BigInt(value));
  return out;
}

/** Object keys ordered by UTF-16 code units, as the document says (not by code point). */
function compareUtf16(a: string, b: string): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const diff = a.charCodeAt(i) - b.charCodeAt(i);
    if (diff !== 0) return diff;
  }
  return a.length - b.length;
}

const SHORT_ESCAPES: Record<number, string> = {
  34: '\\"',
  92: "\\\\",
  8: "\\b",
  12: "\\f",
  10: "\\n",
  13: "\\r",
  9: "\\t",
};

function quoteString(value: string): string {
  let out = '"';
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i);
    const isHigh = unit >= 0xd800 && unit <= 0xdbff;
    const isLow = unit >= 0xdc00 && unit <= 0xdfff;
    const next = value.charCodeAt(i + 1);
    const pairedHigh = isHigh && next >= 0xdc00 && next <= 0xdfff;
    const prev = value.charCodeAt(i - 1);
    const pairedLow = isLow && prev >= 0xd800 && prev <= 0xdbff;
    const short = SHORT_ESCAPES[unit];
    if (short !== undefined) out += short;
    else if (unit < 0x20 || (isHigh && !pairedHigh) || (isLow && !pairedLow))
      out += `\\u${unit.toString(16).padStart(4, "0")}`;
    else out += value[i];
  }
  return `${out}"`;
}

function canonical(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Error("canonical JSON has no non-finite numbers");
    return String(value); // ECMAScript Number::toString; -0 gives "0"
  }
  if (typeof value === "string") return quoteString(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record)
    .filter((key) => record[key] !== undefined)
    .sort(compareUtf16);
  return `{${keys.map((key) => `${quoteString(key)}:${canonical(record[key])}`).join(",")}}`;
}

/** MAC bodies: non-finite numbers become the strings "NaN", "Infinity", "-Infinity". */
function macBodyText(value: unknown): string {
  const replace = (v: unknown): unknown => {
    if (typeof v === "number" && !Number.isFinite(v))
      return Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
    if (Array.isArray(v)) return v.map(replace);
    if (v !== null && typeof v === "object")
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, replace(x)]));
    return v;
  };
  return canonical(replace(value));
}

const hmacSha256 = (key: Buffer, message: Buffer) => createHmac("sha256", key).update(message).digest();

// RFC 8410 PKCS#8 wrappers around a raw 32-byte private key.
const ED25519_PKCS8_PREFIX = fromHex("302e020100300506032b657004220420");
const X25519_PKCS8_PREFIX = fromHex("302e020100300506032b656e04220420");

const ed25519Private = (seed: Buffer) =>
  createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" });
const ed25519Public = (raw: Buffer) =>
  createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") }, format: "jwk" });
const x25519Private = (secret: Buffer) =>
  createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, secret]), format: "der", type: "pkcs8" });
const x25519Public = (raw: Buffer) =>
  createPublicKey({ key: { kty: "OKP", crv: "X25519", x: raw.toString("base64url") }, format: "jwk" });
const rawPublic = (key: KeyObject) =>
  Buffer.from(createPublicKey(key).export({ format: "jwk" }).x as string, "base64url");

const edSign = (seed: string, message: Buffer) =>
  nodeSign(null, message, ed25519Private(fromHex(seed))).toString("hex");

/** crypto_box_beforenm: HSalsa20 keyed with the raw X25519 secret, over 16 zero bytes. */
function boxBeforeNm(mySecret: Buffer, theirPublic: Buffer): Buffer {
  const shared = diffieHellman({ privateKey: x25519Private(mySecret), publicKey: x25519Public(theirPublic) });
  const sigma = utf8("expand 32-byte k");
  const out = new Uint8Array(32);
  const { lowlevel } = nacl as unknown as {
    lowlevel: { crypto_core_hsalsa20(o: Uint8Array, i: Uint8Array, k: Uint8Array, c: Uint8Array): void };
  };
  lowlevel.crypto_core_hsalsa20(out, new Uint8Array(16), shared, sigma);
  return Buffer.from(out);
}

function pemToDer(pem: string): Buffer {
  const body = pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, "").replace(/\s+/g, "");
  return Buffer.from(body, "base64");
}

const f32le = (values: readonly number[]) => {
  const out = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => {
    out.writeFloatLE(v, i * 4);
  });
  return out;
};

/** FLW1 as docs/protocol.md lays it out, with the header JSON written the way this project writes it. */
function flw1(
  tensors: readonly { name: string; shape: number[]; sharing: string }[],
  values: readonly number[],
) {
  let offset = 0;
  const entries = tensors.map((t) => {
    const length = t.shape.reduce((a, b) => a * b, 1);
    const entry = `{"name":${JSON.stringify(t.name)},"shape":[${t.shape.join(",")}],"offset":${offset},"length":${length},"sharing":"${t.sharing}"}`;
    offset += length;
    return entry;
  });
  const header = utf8(`{"tensors":[${entries.join(",")}],"totalLength":${offset}}`);
  const prefix = Buffer.alloc(8);
  prefix.write("FLW1", 0, "latin1");
  prefix.writeUInt32LE(header.length, 4);
  const padding = Buffer.alloc((4 - ((8 + header.length) % 4)) % 4);
  return Buffer.concat([prefix, header, padding, f32le(values)]);
}

function readVectors(): Vectors {
  return JSON.parse(readFileSync(VECTORS_FILE, "utf8")) as Vectors;
}

describe("protocol test vectors (docs/protocol-vectors.json)", () => {
  it("the project's code produces exactly the committed vectors", () => {
    const built = JSON.parse(JSON.stringify(projectVectors())) as Vectors;
    if (process.env.FL_WRITE_PROTOCOL_VECTORS === "1") {
      writeFileSync(VECTORS_FILE, `${JSON.stringify(built, null, 2)}\n`);
    }
    expect(built).toEqual(readVectors());
  });

  describe("an independent implementation from docs/protocol.md agrees", () => {
    const v = readVectors();
    const { inputs, keys } = v;

    it("keys: Ed25519 public keys from seeds, X25519 public keys from secrets, key files", () => {
      for (const who of [keys.site, keys.coordinator]) {
        expect(rawPublic(ed25519Private(fromHex(who.signingSeed))).toString("hex")).toBe(
          who.signingPublicKey,
        );
        expect(rawPublic(x25519Private(fromHex(who.encryptionSecretKey))).toString("hex")).toBe(
          who.encryptionPublicKey,
        );
      }
      const b64 = (h: string) => fromHex(h).toString("base64");
      const s = keys.site;
      expect(keys.siteIdentityJson).toBe(
        `{\n  "kind": "fl-identity",\n  "version": 1,\n  "id": "${inputs.siteId}",\n` +
          `  "signingPublicKey": "${b64(s.signingPublicKey)}",\n` +
          `  "signingSecretKey": "${b64(s.signingSeed + s.signingPublicKey)}",\n` +
          `  "encryptionPublicKey": "${b64(s.encryptionPublicKey)}",\n` +
          `  "encryptionSecretKey": "${b64(s.encryptionSecretKey)}"\n}\n`,
      );
      const c = keys.coordinator;
      expect(JSON.parse(keys.coordinatorPublicIdentityJson)).toStrictEqual({
        kind: "fl-public-identity",
        version: 1,
        id: inputs.coordinatorId,
        signingPublicKey: b64(c.signingPublicKey),
        encryptionPublicKey: b64(c.encryptionPublicKey),
      });
    });

    it("channel binding: hex SHA-256 of the client certificate's DER", () => {
      const der = pemToDer(inputs.clientCertificatePem);
      expect(createHash("sha256").update(der).digest("hex")).toBe(v.channelBinding);
    });

    it("challenge statement, join, grant, task and done: bytes and Ed25519 signatures", () => {
      const challenge = fromHex(inputs.challenge);
      const challengeBytes = frame("fl.v1/challenge\0", [
        utf8(inputs.federationId),
        utf8(inputs.siteId),
        fromHex(inputs.clientNonce),
        challenge,
        u64be(inputs.expiresAtMs),
        utf8(v.channelBinding),
      ]);
      const joinBytes = frame("fl.v1/join\0", [
        utf8(inputs.federationId),
        utf8(inputs.siteId),
        challenge,
        utf8(v.channelBinding),
      ]);
      const grantBytes = frame("fl.v1/grant\0", [
        utf8(inputs.federationId),
        utf8(inputs.siteId),
        challenge,
        utf8(inputs.sessionToken),
        u64be(inputs.heartbeatIntervalMs),
      ]);
      const taskBytes = frame("fl.v1/task\0", [
        utf8(inputs.federationId),
        utf8(inputs.siteId),
        utf8(canonical(v.task.fields)),
      ]);
      const doneBytes = frame("fl.v1/done\0", [
        utf8(inputs.federationId),
        utf8(inputs.siteId),
        utf8(inputs.sessionToken),
        u64be(v.done.sequence),
        utf8(v.done.reason),
      ]);
      const cases = [
        [challengeBytes, v.challengeStatement, keys.coordinator],
        [joinBytes, v.join, keys.site],
        [grantBytes, v.grant, keys.coordinator],
        [taskBytes, v.task, keys.coordinator],
        [doneBytes, v.done, keys.coordinator],
      ] as const;
      for (const [bytes, vector, signer] of cases) {
        expect(bytes.toString("hex")).toBe(vector.message);
        expect(edSign(signer.signingSeed, bytes)).toBe(vector.signature);
        expect(
          nodeVerify(null, bytes, ed25519Public(fromHex(signer.signingPublicKey)), fromHex(vector.signature)),
        ).toBe(true);
      }
    });

    it("session key: HMAC-SHA256 under crypto_box_beforenm, computed from either side", () => {
      const fromSite = boxBeforeNm(
        fromHex(keys.site.encryptionSecretKey),
        fromHex(keys.coordinator.encryptionPublicKey),
      );
      const fromCoordinator = boxBeforeNm(
        fromHex(keys.coordinator.encryptionSecretKey),
        fromHex(keys.site.encryptionPublicKey),
      );
      expect(fromSite.toString("hex")).toBe(v.session.sharedKey);
      expect(fromCoordinator.toString("hex")).toBe(v.session.sharedKey);
      const sessionKey = hmacSha256(
        fromSite,
        frame("fl.v1/session-key\0", [
          utf8(inputs.federationId),
          utf8(inputs.siteId),
          fromHex(inputs.challenge),
        ]),
      );
      expect(sessionKey.toString("hex")).toBe(v.session.sessionKey);
    });

    it("request and response MACs, with each call's body built from its wire fields", () => {
      const sessionKey = fromHex(v.session.sessionKey);
      const bodyOf = (method: string, call: Record<string, unknown>): unknown => {
        switch (method) {
          case "PullTask":
            return { waitMs: call.waitMs };
          case "Heartbeat": {
            const { taskId, progress, status, failure } = call as unknown as WireHeartbeat;
            return failure === "" ? { taskId, progress, status } : { taskId, progress, status, failure };
          }
          case "UploadUpdate":
            return call;
          case "ReportEvaluation": {
            const { numClasses, confusion, ...rest } = call as unknown as WireEvaluation;
            const rows: number[][] = [];
            for (let i = 0; i < confusion.length; i += numClasses)
              rows.push(confusion.slice(i, i + numClasses));
            return { ...rest, confusion: rows };
          }
          default:
            throw new Error(`no body rule for ${method}`);
        }
      };
      expect(v.requests.map((r) => r.method)).toEqual([
        "PullTask",
        "Heartbeat",
        "UploadUpdate",
        "ReportEvaluation",
      ]);
      const upload = v.requests[2]?.call as { manifestSignature: string };
      expect(fromHex(v.update.signature).toString("base64")).toBe(upload.manifestSignature);
      for (const r of v.requests) {
        const body = macBodyText(bodyOf(r.method, r.call as Record<string, unknown>));
        expect(body).toBe(r.body);
        const message = frame("fl.v1/request\0", [utf8(r.method), u64be(r.sequence), utf8(body)]);
        expect(hmacSha256(sessionKey, message).toString("hex")).toBe(r.mac);
      }
      for (const r of v.responses) {
        const body = macBodyText(r.answer);
        expect(body).toBe(r.body);
        const message = frame("fl.v1/response\0", [utf8(r.method), u64be(r.sequence), utf8(body)]);
        expect(hmacSha256(sessionKey, message).toString("hex")).toBe(r.mac);
      }
    });

    it("canonical JSON: key order, numbers, escapes, and non-finite numbers in MAC bodies", () => {
      expect(canonical(CANONICAL_EXAMPLE)).toBe(v.canonicalJson);
      expect(macBodyText(NON_FINITE_EXAMPLE)).toBe(v.macBodyNonFinite);
    });

    it("FLW1: the global model, and the update of its shared tensors in model order", () => {
      const globalTensors = v.globalModel.tensors.map((t) => ({ ...t, sharing: "shared" }));
      const globalBytes = flw1(globalTensors, v.globalModel.values);
      expect(globalBytes.toString("hex")).toBe(v.globalModel.flw1);
      expect(createHash("sha256").update(globalBytes).digest("hex")).toBe(v.globalModel.sha256);
      expect(v.task.fields.modelSha256).toBe(v.globalModel.sha256);
      expect(v.task.fields.modelBytes).toBe(globalBytes.length);

      // The task's local patterns: `*` any run of characters, `?` one, whole name matched.
      const globToRegex = (p: string) =>
        new RegExp(
          `^${p
            .replace(/[.+^${}()|[\]\\]/g, "\\$&")
            .replace(/\*/g, ".*")
            .replace(/\?/g, ".")}$`,
        );
      const isLocal = (name: string) => v.update.localPatterns.some((p) => globToRegex(p).test(name));
      let offset = 0;
      const shared: { name: string; shape: number[]; sharing: string }[] = [];
      const delta: number[] = [];
      for (const t of v.globalModel.tensors) {
        const length = t.shape.reduce((a, b) => a * b, 1);
        if (!isLocal(t.name)) {
          shared.push({ ...t, sharing: "shared" });
          for (let i = offset; i < offset + length; i++)
            delta.push(
              Math.fround(Math.fround(v.update.trainedValues[i]!) - Math.fround(v.globalModel.values[i]!)),
            );
        }
        offset += length;
      }
      expect(shared.map((t) => t.name)).toEqual(["enc.conv/kernel", "cls.dense/bias"]);
      expect(flw1(shared, delta).toString("hex")).toBe(v.update.flw1);
    });

    it("the update: manifest, its signature, chunking, nonces and sealed chunks", () => {
      const plaintext = fromHex(v.update.flw1);
      const m = v.update.manifest;
      expect(m).toMatchObject({
        federationId: inputs.federationId,
        siteId: inputs.siteId,
        round: v.task.fields.round,
        modelVersion: v.task.fields.modelVersion,
        taskId: v.task.fields.taskId,
        contentSha256: createHash("sha256").update(plaintext).digest("hex"),
        plaintextBytes: plaintext.length,
        numChunks: Math.ceil(plaintext.length / v.update.chunkSize),
      });
      expect(Object.keys(m).sort()).toHaveLength(12);
      const signed = Buffer.concat([utf8("fl.v1/update-manifest\0"), utf8(canonical(m))]);
      expect(signed.toString("hex")).toBe(v.update.manifestSigningBytes);
      expect(edSign(keys.site.signingSeed, signed)).toBe(v.update.signature);

      const key = fromHex(v.session.sharedKey);
      const prefix = Buffer.from(m.noncePrefix, "base64");
      expect(prefix).toHaveLength(16);
      expect(v.update.chunks).toHaveLength(m.numChunks);
      v.update.chunks.forEach((chunk, i) => {
        const nonce = Buffer.concat([prefix, u64be(i)]);
        expect(nonce.toString("hex")).toBe(chunk.nonce);
        const piece = plaintext.subarray(i * v.update.chunkSize, (i + 1) * v.update.chunkSize);
        const sealed = nacl.secretbox(piece, nonce, key);
        expect(Buffer.from(sealed).toString("hex")).toBe(chunk.ciphertext);
        expect(sealed.length).toBe(piece.length + 16);
      });
    });
  });
});
