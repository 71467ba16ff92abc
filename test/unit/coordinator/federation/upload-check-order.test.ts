import { readFileSync } from "node:fs";
import nacl from "tweetnacl";
import { afterEach, describe, expect, it } from "vitest";
import { canonicalJson, type Identity, type UpdateManifest } from "../../../../shared/src/crypto/index.js";
import { ErrorCode, FlError } from "../../../../shared/src/errors.js";
import type { SealedUpdate, UploadHeader } from "../../../../shared/src/fl/messages.js";
import type { UpdateStage } from "../../../../shared/src/fl/pipeline.js";
import { rejectionVerdict } from "../../../../shared/src/fl/verdict.js";
import { createManifest } from "../../../../shared/src/weights/index.js";
import type { ModelWeights } from "../../../../shared/src/weights/types.js";
import { tinyWeights } from "../../../helpers/tiny-weights.js";
import { IntakeRig } from "../../../helpers/upload-intake-rig.js";

/**
 * docs/security.md's table of upload checks is the order of the code: each row's breaker makes
 * an otherwise honest upload fail that check alone, and an upload broken for two header rows
 * gets the code of the earlier one.
 */
interface Row {
  readonly step: number;
  readonly check: string;
  readonly codes: readonly string[];
  readonly arrivesAs: string;
  readonly recorded: boolean;
}

function documentedChecks(): Row[] {
  const text = readFileSync(new URL("../../../../docs/security.md", import.meta.url), "utf8");
  const table = text.split("<!-- upload-checks:start -->")[1]?.split("<!-- upload-checks:end -->")[0];
  if (!table) throw new Error("docs/security.md has no upload-checks table");
  return table
    .split("\n")
    .filter((line) => /^\|\s*\d+/.test(line))
    .map((line) => {
      const [step, check, , codes, arrivesAs, recorded] = line
        .split("|")
        .slice(1, -1)
        .map((cell) => cell.trim());
      return {
        step: Number(step),
        check: String(check).replaceAll("`", ""),
        codes: [...String(codes).matchAll(/`(FL_[A-Z_]+)`/g)].map((m) => m[1] as string),
        arrivesAs: String(arrivesAs),
        recorded: recorded === "yes",
      };
    });
}

/** What one attempt does differently from an honest upload of site a. */
interface Attempt {
  siteId: string;
  manifest: { -readonly [K in keyof UpdateManifest]?: UpdateManifest[K] };
  /** Keep a's signature of the honest manifest instead of re-signing the changed one. */
  keepSignature: boolean;
  forgeSignature: boolean;
  /** Sign the changed manifest's bytes directly, as a client without signManifest's checks would. */
  signRaw: boolean;
  /** Added to the honest plaintextBytes. */
  plaintextDelta: number;
  trainMetrics: Record<string, number>;
  delta: ModelWeights | undefined;
  /** The chunks to send, by index, from the sealed ones. */
  chunks: (sealed: SealedUpdate) => [number, Uint8Array][];
  stallMs: number;
  beforeFinish: ((rig: IntakeRig, manifest: UpdateManifest) => void) | undefined;
}

interface Breaker {
  /** Fields of the attempt it sets: two breakers setting one field cannot be combined. */
  readonly sets: readonly string[];
  readonly setup?: (rig: IntakeRig, honest: SealedUpdate) => void | Promise<void>;
  readonly apply?: (attempt: Attempt) => void;
}

const VETO: UpdateStage = {
  name: "veto",
  apply: (update) => {
    if ("veto" in update.metrics) throw new FlError(ErrorCode.InvalidArgument, "vetoed");
    return update;
  },
};

const ignore = (call: () => unknown) => {
  try {
    call();
  } catch {}
};

const BREAKERS: Record<string, Breaker> = {
  site: {
    sets: ["siteId"],
    apply: (a) => {
      a.siteId = "zz";
    },
  },
  "attempt-rate": {
    sets: [],
    setup: (rig) => {
      const forged = { ...rig.header(rig.seal("a")), signature: new Uint8Array(64) };
      for (let i = 0; i < 3; i++) ignore(() => rig.intake.begin("a", forged));
    },
  },
  manifest: {
    sets: ["numExamples"],
    apply: (a) => {
      // signManifest refuses to sign it; an independent client need not.
      a.manifest.numExamples = 0;
      a.signRaw = true;
    },
  },
  "site-name": {
    sets: ["manifest.siteId"],
    apply: (a) => {
      a.manifest.siteId = "b";
      a.keepSignature = true;
    },
  },
  signature: {
    sets: ["signature"],
    apply: (a) => {
      a.forgeSignature = true;
    },
  },
  "upload-id": {
    sets: [],
    setup: (rig, honest) => ignore(() => rig.intake.begin("a", rig.header(honest))),
  },
  "one-at-a-time": {
    sets: [],
    setup: (rig) => ignore(() => rig.intake.begin("a", rig.header(rig.seal("a", 3)))),
  },
  federation: {
    sets: ["federationId"],
    apply: (a) => {
      a.manifest.federationId = "other";
    },
  },
  task: {
    sets: ["round"],
    apply: (a) => {
      a.manifest.round = 7;
    },
  },
  "size-limit": {
    sets: ["plaintextBytes"],
    apply: (a) => {
      a.manifest.plaintextBytes = 2 << 20;
    },
  },
  "size-model": {
    sets: ["plaintextBytes"],
    apply: (a) => {
      a.manifest.plaintextBytes = 4000;
    },
  },
  "chunk-count": {
    sets: ["numChunks"],
    apply: (a) => {
      a.manifest.numChunks = 10_000_000;
    },
  },
  metrics: {
    sets: ["trainMetrics"],
    apply: (a) => {
      a.trainMetrics = { loss: Number.NaN };
    },
  },
  examples: {
    sets: ["numExamples"],
    apply: (a) => {
      a.manifest.numExamples = 101;
    },
  },
  "task-state": {
    sets: [],
    setup: async (rig) => {
      await rig.upload("a", rig.seal("a", 2));
    },
  },
  "chunk-order": {
    sets: ["chunks"],
    apply: (a) => {
      a.chunks = (sealed) => [[1, sealed.chunks[1]!]];
    },
  },
  decrypt: {
    sets: ["chunks"],
    apply: (a) => {
      a.chunks = (sealed) =>
        sealed.chunks.map((chunk, i) => {
          const copy = chunk.slice();
          if (i === 0) copy[0]! ^= 1;
          return [i, copy];
        });
    },
  },
  overflow: {
    sets: ["plaintextBytes"],
    apply: (a) => {
      a.plaintextDelta = -8;
    },
  },
  stalled: {
    sets: ["stallMs"],
    apply: (a) => {
      a.stallMs = 60_000;
    },
  },
  "ended-early": {
    sets: ["chunks"],
    apply: (a) => {
      a.chunks = (sealed) => [[0, sealed.chunks[0]!]];
    },
  },
  hash: {
    sets: ["contentSha256"],
    apply: (a) => {
      a.manifest.contentSha256 = "f".repeat(64);
    },
  },
  layout: {
    sets: ["delta"],
    apply: (a) => {
      a.delta = { manifest: createManifest([{ name: "w", shape: [3, 2] }]), values: new Float32Array(6) };
    },
  },
  finite: {
    sets: ["delta"],
    apply: (a) => {
      const { manifest } = tinyWeights();
      a.delta = { manifest, values: Float32Array.from([0, 0, Number.NaN, 0, 0, 0]) };
    },
  },
  stages: {
    sets: ["trainMetrics"],
    apply: (a) => {
      a.trainMetrics = { veto: 1 };
    },
  },
  record: {
    sets: ["beforeFinish"],
    apply: (a) => {
      a.beforeFinish = (rig, manifest) => {
        rig.store.recordUpdate({
          uploadId: manifest.uploadId,
          round: 1,
          attempt: 1,
          siteId: "a",
          taskId: "task-a",
          modelVersion: 0,
          contentSha256: manifest.contentSha256,
          numExamples: 1,
          plaintextBytes: 1,
          status: "rejected",
          reason: "planted",
          trainMetrics: {},
          receivedAtMs: 0,
          signed: null,
        });
      };
    },
  },
};

let rig: IntakeRig | undefined;
afterEach(() => {
  rig?.close();
  rig = undefined;
});

/** Runs an upload of site a broken by `checks`; its outcome and whether a row was kept for it. */
async function attempt(checks: readonly string[]): Promise<{ code: string; recorded: boolean }> {
  rig?.close();
  const current = new IntakeRig({ burst: 3, idleTimeoutMs: 30_000 }, [VETO]);
  rig = current;
  const a: Attempt = {
    siteId: "a",
    manifest: {},
    keepSignature: false,
    forgeSignature: false,
    signRaw: false,
    plaintextDelta: 0,
    trainMetrics: {},
    delta: undefined,
    chunks: (sealed) => sealed.chunks.map((chunk, i) => [i, chunk]),
    stallMs: 0,
    beforeFinish: undefined,
  };
  for (const check of checks) BREAKERS[check]?.apply?.(a);
  const honest = current.seal("a", 1, 64, a.delta);
  for (const check of checks) await BREAKERS[check]?.setup?.(current, honest);
  const before = current.store.listUpdates().length;
  const manifest = {
    ...honest.manifest,
    plaintextBytes: honest.manifest.plaintextBytes + a.plaintextDelta,
    ...a.manifest,
  };
  const signed: UploadHeader = a.keepSignature
    ? { manifest, signature: honest.signature, trainMetrics: a.trainMetrics }
    : a.signRaw
      ? { manifest, signature: rawSignature(manifest, current.identity("a")), trainMetrics: a.trainMetrics }
      : { ...current.resign("a", manifest, {}), trainMetrics: a.trainMetrics };
  const header = a.forgeSignature ? { ...signed, signature: new Uint8Array(64) } : signed;
  let code = "accepted";
  try {
    const sink = current.intake.begin(a.siteId, header);
    const chunks = a.chunks(honest);
    for (const [n, [index, chunk]] of chunks.entries()) {
      sink.addChunk(index, chunk);
      if (n === 0 && a.stallMs > 0) await current.clock.advance(a.stallMs);
    }
    a.beforeFinish?.(current, manifest);
    await sink.finish();
  } catch (error) {
    code = FlError.from(error).code;
  }
  const rows = current.store.listUpdates().filter((u) => u.reason !== "planted");
  return { code, recorded: rows.length > before };
}

/** Ed25519 over the domain tag and canonical JSON, with none of signManifest's field checks. */
function rawSignature(manifest: UpdateManifest, identity: Identity): Uint8Array {
  const domain = new TextEncoder().encode("fl.v1/update-manifest\0");
  const body = canonicalJson(manifest);
  const message = new Uint8Array(domain.length + body.length);
  message.set(domain, 0);
  message.set(body, domain.length);
  return nacl.sign.detached(message, identity.signing.secretKey);
}

function arrivesAs(code: string): string {
  try {
    rejectionVerdict(new FlError(code as ErrorCode, "x"));
    return "verdict";
  } catch {
    return "gRPC error";
  }
}

const rows = documentedChecks();
/** The rows checked before any chunk is read, where any two breakers can be combined. */
const headerRows = rows.filter((row) => row.step <= 15);

describe("docs/security.md's table of upload checks", () => {
  it("lists every check once, in steps 1, 2, 3, …, each with a breaker here", () => {
    expect(rows.map((row) => row.step)).toEqual(rows.map((_, i) => i + 1));
    expect(rows.length).toBeGreaterThan(20);
    expect(rows.map((row) => row.check).sort()).toEqual(Object.keys(BREAKERS).sort());
  });

  it("the honest upload the breakers start from is accepted", async () => {
    expect(await attempt([])).toEqual({ code: "accepted", recorded: true });
  });

  it.each(rows.map((row) => [row.step, row.check, row] as const))(
    "row %i (%s): refused with its code, as it arrives and is recorded",
    async (_step, check, row) => {
      const outcome = await attempt([check]);
      if (row.codes.length > 0) expect(row.codes).toContain(outcome.code);
      else expect(outcome.code).toBe(ErrorCode.InvalidArgument); // the veto stage's own code
      expect(arrivesAs(outcome.code)).toBe(row.arrivesAs);
      expect(outcome.recorded).toBe(row.recorded);
    },
  );

  it("any two header checks: the earlier row decides the code", async () => {
    const alone = new Map<string, string>();
    for (const row of headerRows) alone.set(row.check, (await attempt([row.check])).code);
    const wrong: string[] = [];
    for (const [i, first] of headerRows.entries())
      for (const second of headerRows.slice(i + 1)) {
        const a = BREAKERS[first.check]!;
        const b = BREAKERS[second.check]!;
        if (a.sets.some((field) => b.sets.includes(field))) continue;
        const { code } = await attempt([first.check, second.check]);
        if (code !== alone.get(first.check))
          wrong.push(`${first.check} + ${second.check}: ${code}, expected ${alone.get(first.check)}`);
      }
    expect(wrong).toEqual([]);
  }, 60_000);
});
