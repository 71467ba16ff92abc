import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../../shared/src/errors.js";
import {
  createSecAggClient,
  createSecAggParams,
  createSecAggServer,
  type NeighbourKeys,
  SecAggReason,
  type ServerMessage,
} from "../../../shared/src/secagg/index.js";
import { ids, makeParams, seededRandom } from "./harness.js";

function thrown(f: () => unknown): Error & { code?: string; reason?: string } {
  try {
    f();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected an error");
}

const base = {
  session: "fed/1/0",
  round: 1,
  cohort: ids(10),
  vectorLength: 8,
  clip: 1,
  fracBits: 16,
  graphSeed: "ab".repeat(32),
};

describe("parameters", () => {
  it("fill in the stated degree, threshold and minimum cohort", () => {
    expect(createSecAggParams(base)).toMatchObject({ degree: 8, threshold: 5, minSurvivors: 5 });
  });

  it.each([
    [{ threshold: 4 }, /threshold 4 must be a strict majority of the 9 holders .* from 5 to 9/],
    [{ threshold: 10 }, /threshold 10 must be a strict majority/],
    [{ degree: 5 }, /degree 5 must be n − 1 = 9 or an even number from 2 to 8/],
    [{ minSurvivors: 2 }, /minSurvivors 2 must be from 3 to the cohort size 10/],
    [{ minSurvivors: 4 }, /minSurvivors 4 is below the threshold 5; raise it to 5/],
    [{ cohort: ["a", "b"] }, /a cohort of 2 is too small/],
    [{ cohort: ["a", "a", "b"] }, /distinct/],
    [{ graphSeed: "zz" }, /graphSeed must be 64 hex digits/],
    [{ fracBits: 28, clip: 1 }, /bit budget overflows: 10 clients × clip 1 × 2\^28/],
  ])("refuses %j with a message saying what to change", (override, message) => {
    const error = thrown(() => createSecAggParams({ ...base, ...override }));
    expect(error).toMatchObject({ code: ErrorCode.InvalidConfig, reason: SecAggReason.BadParams });
    expect(error.message).toMatch(message);
  });
});

describe("client", () => {
  const params = makeParams({ n: 5, vectorLength: 4 });
  const input = Float32Array.of(0.1, 0.2, 0.3, 0.4);
  const make = (id = "h00", p = params) =>
    createSecAggClient({ id, params: p, input, random: seededRandom(id) });

  it("refuses an update of the wrong length and an id outside the cohort", () => {
    expect(thrown(() => createSecAggClient({ id: "h00", params, input: new Float32Array(3) }))).toMatchObject(
      {
        code: ErrorCode.WeightsShapeMismatch,
      },
    );
    expect(thrown(() => make("zz"))).toMatchObject({ reason: SecAggReason.UnknownSender });
  });

  it("notices a coordinator running other parameters (misconfigured on the server side)", () => {
    const clip2 = createSecAggParams({ ...params, clip: 2 });
    const server = createSecAggServer(clip2);
    const clients = params.cohort.map((id) => make(id));
    // The server also refuses their advertisements, naming clip; a client that gets keys anyway checks the digest.
    const refusal = thrown(() => server.receive(clients[0]!.advertise()));
    expect(refusal).toMatchObject({ reason: SecAggReason.ConfigMismatch });
    expect(refusal.message).toMatch(/clip: here 2, client h00 1/);
    const client = make("h01");
    client.advertise();
    const forged: NeighbourKeys = {
      type: "neighbour-keys",
      session: params.session,
      round: params.round,
      paramsDigest: "00",
      neighbours: [],
    };
    expect(thrown(() => client.receive(forged))).toMatchObject({
      code: ErrorCode.InvalidConfig,
      reason: SecAggReason.ConfigMismatch,
    });
    expect(client.stage).toBe("aborted");
  });

  it("refuses replays, wrong rounds and out-of-order messages without losing its place", () => {
    const server = createSecAggServer(params);
    const clients = params.cohort.map((id) => make(id));
    let keysFor: ServerMessage | undefined;
    for (const c of clients) {
      const step = server.receive(c.advertise());
      keysFor ??= step.send.find((o) => o.to === "h00")?.message;
    }
    const client = clients[0]!;
    expect(thrown(() => client.advertise())).toMatchObject({ code: ErrorCode.Replay });
    const keys = keysFor as NeighbourKeys;
    expect(thrown(() => client.receive({ ...keys, round: 2 }))).toMatchObject({ code: ErrorCode.WrongRound });
    expect(
      thrown(() =>
        client.receive({
          type: "unmask-request",
          session: keys.session,
          round: keys.round,
          survivors: [],
          requests: [],
        }),
      ),
    ).toMatchObject({ reason: SecAggReason.WrongStage });
    expect(client.stage).toBe("neighbour-keys");
    client.receive(keys);
    expect(thrown(() => client.receive(keys))).toMatchObject({ code: ErrorCode.Replay });
    expect(client.stage).toBe("relayed-shares");
  });

  it("refuses neighbour keys for strangers or with short keys, and too few neighbours to share with", () => {
    const server = createSecAggServer(params);
    const clients = params.cohort.map((id) => make(id));
    const sent = clients.flatMap((c) => server.receive(c.advertise()).send);
    const keys = sent.find((o) => o.to === "h00")?.message as NeighbourKeys;
    const stranger = make();
    stranger.advertise();
    expect(
      thrown(() =>
        stranger.receive({
          ...keys,
          neighbours: [...keys.neighbours, { ...keys.neighbours[0]!, id: "h00" }],
        }),
      ),
    ).toMatchObject({ reason: SecAggReason.Malformed });
    const short = make();
    short.advertise();
    expect(
      thrown(() =>
        short.receive({ ...keys, neighbours: [{ ...keys.neighbours[0]!, maskKey: new Uint8Array(31) }] }),
      ),
    ).toMatchObject({ reason: SecAggReason.Malformed });
    const lonely = make();
    lonely.advertise();
    // Complete graph of 5: 5 holders, t = 3; with one neighbour left there are 2.
    const error = thrown(() => lonely.receive({ ...keys, neighbours: keys.neighbours.slice(0, 1) }));
    expect(error).toMatchObject({ code: ErrorCode.NotEnoughClients, reason: SecAggReason.BelowThreshold });
  });
});
