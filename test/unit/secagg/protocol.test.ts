import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../../shared/src/errors.js";
import {
  type ClientMessage,
  createSecAggServer,
  decodeMean,
  isSecAggError,
  quantisationBound,
  SecAggReason,
} from "../../../shared/src/secagg/index.js";
import { ids, makeParams, plainFixedPointSum, randomInputs, runRound } from "./harness.js";

const codec = { clip: 1, fracBits: 16 };

function survivorsOf(run: ReturnType<typeof runRound>): number[] {
  return (run.server.result?.survivors ?? []).map((id) => run.params.cohort.indexOf(id));
}

function expectExact(
  run: ReturnType<typeof runRound>,
  inputs: readonly Float32Array[],
  survivorIds: string[],
) {
  const result = run.server.result;
  expect(run.server.abort).toBeUndefined();
  expect(result?.survivors).toEqual(survivorIds);
  const chosen = survivorIds.map((id) => inputs[run.params.cohort.indexOf(id)] as Float32Array);
  expect(result?.sum).toEqual(plainFixedPointSum(chosen, codec));
}

describe("secure aggregation round", () => {
  it("without dropouts releases exactly the sum of the encoded inputs and the plain mean within the bound", () => {
    const n = 10;
    const inputs = randomInputs(n, 257, "plain", 0.9);
    const run = runRound({ n, vectorLength: 257, inputs, ...codec });
    expectExact(run, inputs, ids(n));
    const mean = decodeMean(run.server.result?.sum as Uint32Array, n, codec);
    const bound = quantisationBound(codec);
    for (let i = 0; i < 257; i++) {
      const plain = inputs.reduce((s, x) => s + (x[i] as number), 0) / n;
      expect(Math.abs((mean[i] as number) - plain)).toBeLessThanOrEqual(bound);
    }
    expect(run.server.faults).toEqual([]);
  });

  it("a masked input alone looks nothing like the input it hides", () => {
    const n = 5;
    const inputs = randomInputs(n, 4096, "hide").map(() => new Float32Array(4096));
    const run = runRound({ n, vectorLength: 4096, inputs, ...codec });
    const masked = run.received.find((m) => m.type === "masked-input");
    // All-zero inputs: an unmasked vector would be all zeros; a uniform one has its top bit set half the time.
    const words = masked?.type === "masked-input" ? masked.masked : new Uint32Array();
    const high = words.reduce((c, w) => c + (w >>> 31), 0);
    expect(Math.abs(high - 2048)).toBeLessThan(200);
    expect(run.server.result?.sum).toEqual(new Uint32Array(4096));
  });

  it.each([
    ["after advertising keys", "share-keys"],
    ["after sharing keys", "masked-input"],
    ["after the masked input", "unmask-response"],
  ] as const)("survives dropouts %s down to the threshold, with an exact sum", (_, step) => {
    const n = 10;
    const inputs = randomInputs(n, 64, `drop-${step}`);
    const dropped = ["h02", "h07"];
    const run = runRound({ n, vectorLength: 64, inputs, ...codec, degree: 9, drop: { [step]: dropped } });
    // A client silent after its masked input is still in the sum: its self mask comes from its holders.
    const inSum = step === "unmask-response" ? [] : dropped;
    expectExact(
      run,
      inputs,
      ids(n).filter((id) => !inSum.includes(id)),
    );
    expect(run.server.result?.dropped).toEqual(inSum);
  });

  it("survives dropouts during unmasking: some survivors never answer the request", () => {
    const n = 10;
    const inputs = randomInputs(n, 64, "during-unmask");
    // h01 drops after its masked input; h04, h05 answer nothing in the unmask step, but their
    // inputs are in the sum: their self masks come back from their neighbours' shares.
    const run = runRound({
      n,
      vectorLength: 64,
      inputs,
      ...codec,
      drop: { "unmask-response": ["h04", "h05"], "masked-input": ["h01"] },
    });
    const expected = ids(n).filter((id) => id !== "h01");
    expectExact(run, inputs, expected);
  });

  it("aborts below the minimum cohort at each stage, with a recorded reason and nothing released", () => {
    const n = 6;
    const inputs = randomInputs(n, 16, "below");
    for (const step of ["share-keys", "masked-input"] as const) {
      const run = runRound({
        n,
        vectorLength: 16,
        inputs,
        ...codec,
        drop: { [step]: ["h00", "h01", "h02"] },
      });
      expect(run.server.stage).toBe("aborted");
      expect(run.server.result).toBeUndefined();
      expect(run.server.abort?.reason).toBe(SecAggReason.BelowThreshold);
      // With 3 of 6 left on a complete graph (t = 4) no neighbourhood keeps 4 holders.
      expect(run.server.abort?.message).toMatch(
        /3 clients (shared their keys, 0|sent a masked input, 3) of them recoverable; the round needs at least 4/,
      );
    }
  });

  it("aborts when fewer than t holders of a needed secret answer the unmask request: no sum", () => {
    // n = 5, complete graph: 5 holders, t = 3. Two survivors go silent while unmasking: each
    // secret still has 3 holders asked, but only 2 answer... of the 3 survivors, fine; make three silent.
    const n = 5;
    const inputs = randomInputs(n, 16, "unmask-below");
    const run = runRound({
      n,
      vectorLength: 16,
      inputs,
      ...codec,
      minSurvivors: 3,
      drop: { "unmask-response": ["h00", "h01", "h02"] },
    });
    expect(run.server.result).toBeUndefined();
    expect(run.server.abort).toMatchObject({ stage: "unmask", reason: SecAggReason.BelowThreshold });
    expect(run.server.abort?.message).toMatch(
      /2 shares of h0\d's self-mask seed arrived, below the threshold 3/,
    );
  });

  it("a client whose neighbourhood falls below the threshold is left out, the rest still aggregate", () => {
    const n = 12;
    const inputs = randomInputs(n, 16, "prune");
    // degree 4 (5 holders, t = 3): silence two neighbours of one client before sharing.
    const probe = runRound({ n, vectorLength: 16, inputs, ...codec, degree: 4 });
    const keysFor = probe.sent.find((o) => o.to === "h00" && o.message.type === "neighbour-keys");
    const neighbours =
      keysFor?.message.type === "neighbour-keys" ? keysFor.message.neighbours.map((x) => x.id) : [];
    expect(neighbours).toHaveLength(4);
    const silent = neighbours.slice(0, 3);
    const run = runRound({
      n,
      vectorLength: 16,
      inputs,
      ...codec,
      degree: 4,
      drop: { "share-keys": silent },
    });
    expect(run.server.result?.survivors).not.toContain("h00");
    expect(
      run.server.faults.some((f) => f.client === "h00" && f.reason === SecAggReason.BelowThreshold),
    ).toBe(true);
    expectExact(run, inputs, run.server.result?.survivors as string[]);
  });

  it("property: random inputs and random dropouts at any step within n − t give the exact sum", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 4, max: 11 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 14, maxLength: 14 }),
        (n, seed, when) => {
          const params = makeParams({ n, vectorLength: 33, ...codec, seed: String(seed) });
          const inputs = randomInputs(n, 33, `prop-${seed}`);
          // Each client drops at one step (4: never); at most holders − t in total so that every
          // neighbourhood keeps its threshold.
          const budget = params.degree + 1 - params.threshold;
          const drop: Record<string, string[]> = {};
          let dropped = 0;
          ids(n).forEach((id, i) => {
            const step = when[i] as number;
            if (step === 4 || step === 0 || dropped >= budget) return;
            const name = ["advertise-keys", "share-keys", "masked-input", "unmask-response"][step] as string;
            drop[name] = [...(drop[name] ?? []), id];
            dropped++;
          });
          const run = runRound({ n, vectorLength: 33, inputs, ...codec, seed: String(seed), drop });
          if (
            n - (drop["share-keys"]?.length ?? 0) - (drop["masked-input"]?.length ?? 0) <
            params.minSurvivors
          ) {
            expect(run.server.stage).toBe("aborted");
            expect(run.server.result).toBeUndefined();
            return;
          }
          const gone = new Set([...(drop["share-keys"] ?? []), ...(drop["masked-input"] ?? [])]);
          expectExact(
            run,
            inputs,
            ids(n).filter((id) => !gone.has(id)),
          );
          // The server never asks any holder for a survivor's mask key or a dropped client's self mask.
          for (const out of run.sent) {
            if (out.message.type !== "unmask-request") continue;
            for (const r of out.message.requests) {
              expect(r.secret === "self-mask").toBe(!gone.has(r.dealer));
            }
          }
        },
      ),
      { numRuns: 12 },
    );
  }, 60_000);

  it("the server's view of a client is independent of its input: only its masked input changes, by exactly the input difference", () => {
    const n = 6;
    const a = randomInputs(n, 128, "view");
    const b = a.map((x, i) => (i === 2 ? randomInputs(1, 128, "other")[0] : x) as Float32Array);
    const runA = runRound({ n, vectorLength: 128, inputs: a, ...codec, seed: "same" });
    const runB = runRound({ n, vectorLength: 128, inputs: b, ...codec, seed: "same" });
    expect(runB.received.length).toBe(runA.received.length);
    const diff = (x: Uint32Array, y: Uint32Array) => x.map((v, i) => v - (y[i] as number));
    const delta = diff(
      plainFixedPointSum([b[2] as Float32Array], codec),
      plainFixedPointSum([a[2] as Float32Array], codec),
    );
    runA.received.forEach((ma, i) => {
      const mb = runB.received[i] as ClientMessage;
      if (ma.type === "masked-input" && ma.from === "h02" && mb.type === "masked-input") {
        expect(mb.masked).not.toEqual(ma.masked);
        expect(diff(mb.masked, ma.masked)).toEqual(delta);
      } else {
        expect(mb).toEqual(ma);
      }
    });
    expect(diff(runB.server.result?.sum as Uint32Array, runA.server.result?.sum as Uint32Array)).toEqual(
      delta,
    );
    expect(survivorsOf(runA)).toEqual(survivorsOf(runB));
  });
});

describe("faults", () => {
  const n = 7;
  const inputs = randomInputs(n, 16, "faults");

  it("a share that does not open is a complaint; the round recovers while enough other holders remain", () => {
    const run = runRound({
      n,
      vectorLength: 16,
      inputs,
      ...codec,
      drop: { "masked-input": ["h03"] },
      tamperClient: (m) =>
        m.type === "share-keys" && m.from === "h03"
          ? {
              ...m,
              shares: m.shares.map((s, i) =>
                i === 0
                  ? { ...s, ciphertext: s.ciphertext.map((byte, j) => (j === 5 ? byte ^ 1 : byte)) }
                  : s,
              ),
            }
          : m,
    });
    expectExact(
      run,
      inputs,
      ids(n).filter((id) => id !== "h03"),
    );
    expect(run.server.faults).toContainEqual(
      expect.objectContaining({ client: "h03", reason: SecAggReason.BadShare }),
    );
  });

  it("a dealer whose shares do not open for too many holders cannot be recovered: the round aborts", () => {
    // h03 drops after its masked input would be needed... it drops before, so its mask key must be rebuilt,
    // but every holder but one complains: below t.
    const run = runRound({
      n,
      vectorLength: 16,
      inputs,
      ...codec,
      drop: { "masked-input": ["h03"] },
      tamperClient: (m) =>
        m.type === "share-keys" && m.from === "h03"
          ? { ...m, shares: m.shares.map((s, i) => (i === 0 ? s : { ...s, nonce: new Uint8Array(24) })) }
          : m,
    });
    expect(run.server.result).toBeUndefined();
    expect(run.server.abort).toMatchObject({ stage: "masked-input", reason: SecAggReason.BelowThreshold });
    expect(run.server.abort?.message).toMatch(/h03's mask key has 1 holders left, below the threshold 4/);
  });

  it("a wrong share is outvoted and its holder named; with too many, no value matches the commitment and the round aborts", () => {
    // To the server a dealer that dealt inconsistent shares and holders that return wrong ones
    // look the same: shares of one secret that do not lie on one polynomial.
    const corrupt = (holders: string[]) => (m: ClientMessage) =>
      m.type === "unmask-response" && holders.includes(m.from)
        ? {
            ...m,
            shares: m.shares.map((s) =>
              s.dealer === "h00" ? { ...s, y: s.y.map((byte, j) => (j === 65 ? byte ^ 1 : byte)) } : s,
            ),
          }
        : m;
    const one = runRound({ n, vectorLength: 16, inputs, ...codec, tamperClient: corrupt(["h05"]) });
    expectExact(one, inputs, ids(n));
    expect(one.server.faults).toContainEqual(
      expect.objectContaining({ client: "h05", reason: SecAggReason.InconsistentShares }),
    );
    // 7 holders, t = 4: four bad shares leave no 4 good ones.
    const many = runRound({
      n,
      vectorLength: 16,
      inputs,
      ...codec,
      tamperClient: corrupt(["h01", "h02", "h05", "h06"]),
    });
    expect(many.server.result).toBeUndefined();
    expect(many.server.abort?.reason).toBe(SecAggReason.InconsistentShares);
    expect(many.server.abort?.message).toMatch(/h00's self-mask seed .* commitment/);
  });

  it("a client refuses a request for both secrets of one client, and one for its own mask key", () => {
    const run = runRound({
      n,
      vectorLength: 16,
      inputs,
      ...codec,
      tamperServer: (out) =>
        out.message.type === "unmask-request" && out.to === "h01"
          ? {
              ...out.message,
              requests: [...out.message.requests, { dealer: "h02", secret: "mask-key" as const }],
            }
          : out.message.type === "unmask-request" && out.to === "h04"
            ? { ...out.message, requests: [{ dealer: "h04", secret: "mask-key" as const }] }
            : out.message,
    });
    const refusal = (client: string) => run.clientErrors.find((e) => e.client === client)?.error;
    expect(isSecAggError(refusal("h01"), SecAggReason.BothSecretsRequested)).toBe(true);
    expect((refusal("h01") as Error).message).toMatch(/both the self-mask seed and the mask key of h02/);
    expect(isSecAggError(refusal("h04"), SecAggReason.BothSecretsRequested)).toBe(true);
    expect(run.clients[1]?.stage).toBe("aborted");
    // Two holders refused: the others still carry t shares of everything, so the sum is exact.
    expectExact(run, inputs, ids(n));
  });

  it("a client refuses a request inconsistent with the survivors it lists", () => {
    const run = runRound({
      n,
      vectorLength: 16,
      inputs,
      ...codec,
      tamperServer: (out) => {
        if (out.message.type !== "unmask-request") return out.message;
        if (out.to === "h01") {
          // h02 is listed as a survivor, yet its mask key is asked for.
          const requests = out.message.requests.map((r) =>
            r.dealer === "h02" ? { dealer: "h02", secret: "mask-key" as const } : r,
          );
          return { ...out.message, requests };
        }
        if (out.to === "h03")
          return { ...out.message, survivors: out.message.survivors.filter((s) => s !== "h03") };
        return out.message;
      },
    });
    const refusal = (client: string) => run.clientErrors.find((e) => e.client === client)?.error;
    expect(isSecAggError(refusal("h01"), SecAggReason.RequestInconsistent)).toBe(true);
    expect((refusal("h01") as Error).message).toMatch(/mask-key share of h02, which it lists as a survivor/);
    expect(isSecAggError(refusal("h03"), SecAggReason.RequestInconsistent)).toBe(true);
    expect((refusal("h03") as Error).message).toMatch(/counts this client as dropped/);
    expectExact(run, inputs, ids(n));
  });

  it("refuses replayed, wrong-round, late, unknown and misconfigured messages with specific errors", () => {
    const params = runRound({ n, vectorLength: 16, inputs, ...codec }).params;
    const captured: ClientMessage[] = [];
    const run = runRound({
      n,
      vectorLength: 16,
      inputs,
      ...codec,
      tamperClient: (m) => {
        captured.push(m);
        return m;
      },
    });
    const advertise = captured[0] as ClientMessage;
    const catchErr = (f: () => unknown) => {
      try {
        f();
      } catch (error) {
        return error;
      }
      throw new Error("expected a refusal");
    };
    // The finished round takes nothing more.
    expect(catchErr(() => run.server.receive(advertise))).toMatchObject({
      code: ErrorCode.FailedPrecondition,
      reason: SecAggReason.WrongStage,
    });
    const server = createSecAggServer(params);
    server.receive(advertise);
    expect(catchErr(() => server.receive(advertise))).toMatchObject({
      code: ErrorCode.Replay,
      reason: SecAggReason.Replay,
    });
    expect(catchErr(() => server.receive({ ...advertise, round: 8 }))).toMatchObject({
      code: ErrorCode.WrongRound,
      reason: SecAggReason.WrongRound,
    });
    expect(catchErr(() => server.receive({ ...advertise, session: "other" }))).toMatchObject({
      code: ErrorCode.WrongRound,
    });
    expect(catchErr(() => server.receive({ ...advertise, from: "stranger" }))).toMatchObject({
      code: ErrorCode.UnknownSite,
      reason: SecAggReason.UnknownSender,
    });
    const early = run.received.find((m) => m.type === "masked-input") as ClientMessage;
    expect(catchErr(() => server.receive({ ...early, from: "h01" }))).toMatchObject({
      reason: SecAggReason.WrongStage,
    });
    const misconfigured = { ...advertise, from: "h02", params: { ...params, clip: 2, fracBits: 12 } };
    const mismatch = catchErr(() => server.receive(misconfigured as ClientMessage));
    expect(mismatch).toMatchObject({ code: ErrorCode.InvalidConfig, reason: SecAggReason.ConfigMismatch });
    expect((mismatch as Error).message).toMatch(
      /clip: here 1, client h02 2; fracBits: here 16, client h02 12/,
    );
    expect(server.faults.map((f) => f.reason)).toEqual([
      SecAggReason.Replay,
      SecAggReason.WrongRound,
      SecAggReason.WrongRound,
      SecAggReason.UnknownSender,
      SecAggReason.WrongStage,
      SecAggReason.ConfigMismatch,
    ]);
  });
});
