import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../../shared/src/errors.js";
import { secAggContribution, secAggMean } from "../../../shared/src/fl/secagg-contribution.js";
import {
  decodeMaskedPayload,
  encodeMaskedPayload,
  type SecAggAnswer,
  type SecAggRequest,
  type SecAggUpstream,
} from "../../../shared/src/fl/secagg-exchange.js";
import { answerBody, callBody } from "../../../shared/src/fl/session-calls.js";
import {
  type ClientMessage,
  createSecAggClient,
  createSecAggParams,
  createSecAggServer,
  type ServerMessage,
} from "../../../shared/src/secagg/index.js";
import {
  secAggAnswerFromWire,
  secAggAnswerToWire,
  secAggRequestFromWire,
  secAggRequestToWire,
} from "../../../shared/src/transport/grpc-secagg.js";
import { expectFlError } from "../../helpers/expect-fl-error.js";

const auth = { sessionToken: "t", sequence: 7, mac: new Uint8Array(32).fill(1) };

function strip(message: ClientMessage): SecAggUpstream {
  const { session: _s, round: _r, from: _f, ...rest } = message;
  return rest as SecAggUpstream;
}

/** Every message of a 3-client round without dropouts, as the protocol makes them. */
function protocolMessages(): { upstream: SecAggUpstream[]; downstream: ServerMessage[] } {
  const cohort = ["a", "b", "c"];
  const params = createSecAggParams({
    session: "s1",
    round: 2,
    cohort,
    vectorLength: 4,
    graphSeed: "cd".repeat(32),
    clip: 1,
    fracBits: 16,
  });
  const server = createSecAggServer(params);
  const clients = cohort.map((id, i) =>
    createSecAggClient({ id, params, input: Float32Array.from([0.1 * i, -0.2, 0.3, 0.5]) }),
  );
  const upstream: SecAggUpstream[] = [];
  const downstream: ServerMessage[] = [];
  let inbox = clients.map((c) => c.advertise() as ClientMessage);
  while (inbox.length > 0) {
    const next: ClientMessage[] = [];
    for (const message of inbox) {
      if (message.type !== "masked-input") upstream.push(strip(message));
      for (const { to, message: reply } of server.receive(message).send) {
        downstream.push(reply);
        next.push(clients.find((c) => c.id === to)?.receive(reply) as ClientMessage);
      }
    }
    inbox = next;
  }
  expect(server.result?.count).toBe(3);
  return { upstream, downstream };
}

describe("SecAggExchange over the wire", () => {
  const { upstream, downstream } = protocolMessages();

  it("carries each client message so that both sides' MAC bodies agree", () => {
    expect(upstream.map((m) => m.type).sort()).toEqual([
      ...Array(3).fill("advertise-keys"),
      ...Array(3).fill("share-keys"),
      ...Array(3).fill("unmask-response"),
    ]);
    for (const message of upstream) {
      const request: SecAggRequest = {
        taskId: "k",
        round: 2,
        session: "s1",
        awaiting: "relayed-shares",
        message,
        waitMs: 500,
      };
      const received = secAggRequestFromWire(secAggRequestToWire(auth, request));
      expect(received).toEqual(request);
      expect(JSON.stringify(callBody.secAggExchange(received))).toBe(
        JSON.stringify(callBody.secAggExchange(request)),
      );
    }
  });

  it("carries each server message, setup, wait and the end, with the answer MAC body intact", () => {
    const answers: SecAggAnswer[] = [
      ...downstream.map((m): SecAggAnswer => {
        const { session: _s, round: _r, ...message } = m;
        return { kind: "message", message };
      }),
      { kind: "wait" },
      { kind: "ended", reason: "left out" },
    ];
    for (const answer of answers) {
      const received = secAggAnswerFromWire(secAggAnswerToWire({ ...answer, mac: new Uint8Array(32) }));
      const { mac, ...rest } = received;
      expect(mac).toEqual(new Uint8Array(32));
      expect(rest).toEqual(answer);
      expect(JSON.stringify(answerBody.secAggExchange(rest as SecAggAnswer))).toBe(
        JSON.stringify(answerBody.secAggExchange(answer)),
      );
    }
  });

  it("refuses an unknown stage or secret kind", () => {
    const wire = secAggRequestToWire(auth, {
      taskId: "k",
      round: 1,
      session: "",
      awaiting: "setup",
      waitMs: 0,
    });
    expectFlError(
      () => secAggRequestFromWire({ ...wire, awaiting: "sum" }),
      ErrorCode.InvalidArgument,
      '"awaiting"',
    );
    expectFlError(
      () =>
        secAggRequestFromWire({
          ...wire,
          message: {
            $case: "unmaskResponse",
            value: { shares: [{ dealer: "a", secret: "both", y: Buffer.alloc(1) }] },
          },
        }),
      ErrorCode.InvalidArgument,
      'unknown secret kind "both"',
    );
  });
});

describe("the masked payload", () => {
  it("round-trips ring elements exactly, including those whose float32 bits are NaN", () => {
    const masked = Uint32Array.from([0, 1, 0x7fc00001, 0xffffffff, 0x80000000]);
    const bytes = encodeMaskedPayload({ session: "s", round: 3, complaints: ["b"], masked });
    expect(decodeMaskedPayload(bytes, 5)).toEqual({ session: "s", round: 3, complaints: ["b"], masked });
  });

  it("refuses a plain update, a wrong length and a truncated payload", () => {
    const bytes = encodeMaskedPayload({ session: "s", round: 3, complaints: [], masked: new Uint32Array(4) });
    expectFlError(
      () => decodeMaskedPayload(new TextEncoder().encode("FLW1...."), 4),
      ErrorCode.InvalidArgument,
      "FLSA",
    );
    expectFlError(() => decodeMaskedPayload(bytes, 5), ErrorCode.InvalidArgument, "length 5");
    expectFlError(
      () => decodeMaskedPayload(bytes.subarray(0, bytes.length - 1), 4),
      ErrorCode.InvalidArgument,
      "value bytes",
    );
  });
});

describe("FedAvg weights under secure aggregation", () => {
  it("recovers Σ n·Δ / Σ n and Σ n from the sum of the contributions", () => {
    const deltas = [
      [0.5, -1, 2],
      [0.25, 0.75, -0.5],
      [-2, 0, 1],
    ];
    const examples = [10, 30, 60];
    const scale = 80;
    const clip = 3;
    const sum = new Float64Array(4);
    for (const [k, delta] of deltas.entries()) {
      const c = secAggContribution(Float32Array.from(delta), examples[k] as number, scale, clip);
      expect(c[3]).toBeCloseTo(((examples[k] as number) / scale) * clip, 6);
      for (let i = 0; i < 4; i++) sum[i] = (sum[i] as number) + (c[i] as number);
    }
    const { meanDelta, totalWeight } = secAggMean(sum, clip);
    expect(totalWeight * scale).toBeCloseTo(100, 4);
    // Σ nₖ·Δₖ / Σ nₖ by hand: (10·0.5 + 30·0.25 + 60·(−2)) / 100 = −1.075, and so on.
    expect(Array.from(meanDelta).map((v) => Number(v.toFixed(5)))).toEqual([-1.075, 0.125, 0.65]);
  });

  it("refuses more examples than the scale allows", () => {
    expectFlError(
      () => secAggContribution(new Float32Array(2), 101, 100, 1),
      ErrorCode.InvalidArgument,
      "101 examples",
    );
  });
});
