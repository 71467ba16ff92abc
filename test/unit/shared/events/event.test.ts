import { describe, expect, it } from "vitest";
import { ErrorCode, isFlError } from "../../../../shared/src/errors.js";
import {
  decodeEvent,
  EVENT_TYPES,
  encodeEvent,
  eventSubject,
  federationSubjects,
  formatEventLine,
  isFlEventType,
  MAX_EVENT_BYTES,
  makeEvent,
  subjectCovers,
} from "../../../../shared/src/events/index.js";

const fixedNow = () => new Date(Date.UTC(2024, 4, 1, 10, 0, 0, 250));

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error("expected a throw");
}

describe("makeEvent", () => {
  it("stamps the injected clock as ISO UTC and keeps the given fields", () => {
    const event = makeEvent(
      "update.accepted",
      "fed1",
      { round: 3, siteId: "st-marys", data: { n: 120 } },
      fixedNow,
    );
    expect(event).toEqual({
      type: "update.accepted",
      federationId: "fed1",
      timestamp: "2024-05-01T10:00:00.250Z",
      round: 3,
      siteId: "st-marys",
      data: { n: 120 },
    });
  });

  it("omits round and siteId when not given and defaults data to {}", () => {
    const event = makeEvent("federation.started", "fed1", undefined, fixedNow);
    expect(Object.keys(event).sort()).toEqual(["data", "federationId", "timestamp", "type"]);
    expect(event.data).toEqual({});
  });

  it("copies data and freezes the event, so later edits of the input do not leak in", () => {
    const data: Record<string, unknown> = { accepted: 1 };
    const event = makeEvent("round.completed", "fed1", { data });
    data.accepted = 99;
    expect(event.data.accepted).toBe(1);
    expect(Object.isFrozen(event)).toBe(true);
    expect(Object.isFrozen(event.data)).toBe(true);
  });

  it("uses the real clock by default", () => {
    const before = Date.now();
    const event = makeEvent("round.started", "fed1");
    const at = Date.parse(event.timestamp);
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(Date.now());
  });

  it.each([
    ["a negative round", () => makeEvent("round.started", "fed1", { round: -1 })],
    ["a fractional round", () => makeEvent("round.started", "fed1", { round: 1.5 })],
    ["an empty site id", () => makeEvent("site.joined", "fed1", { siteId: "" })],
    ["an empty federation id", () => makeEvent("site.joined", "")],
    ["an unknown type", () => makeEvent("round.exploded" as never, "fed1")],
  ])("refuses %s with FlError(InvalidArgument)", (_label, build) => {
    expect(isFlError(thrown(build), ErrorCode.InvalidArgument)).toBe(true);
  });
});

describe("event types", () => {
  it("recognises exactly the twelve listed types", () => {
    expect([...EVENT_TYPES].sort()).toEqual(
      [
        "federation.started",
        "federation.completed",
        "site.joined",
        "site.left",
        "site.enrolled",
        "site.revoked",
        "round.started",
        "round.completed",
        "round.failed",
        "update.accepted",
        "update.rejected",
        "evaluation.completed",
      ].sort(),
    );
    expect(EVENT_TYPES.every(isFlEventType)).toBe(true);
    expect(isFlEventType("round")).toBe(false);
    expect(isFlEventType(3)).toBe(false);
  });
});

describe("subjects", () => {
  it("builds prefix.federation.type subjects", () => {
    expect(eventSubject("fl", "fed1", "round.completed")).toBe("fl.fed1.round.completed");
    expect(eventSubject("org.fl", "cxr-2024", "site.joined")).toBe("org.fl.cxr-2024.site.joined");
    expect(federationSubjects("fl", "fed1")).toBe("fl.fed1.>");
  });

  it.each([
    ["fl", "fed.1"],
    ["fl", "fed*"],
    ["fl", "fed 1"],
    ["fl", ""],
    ["", "fed1"],
    ["fl..x", "fed1"],
    ["fl.>", "fed1"],
  ])("refuses prefix %j with federation %j", (prefix, federationId) => {
    expect(
      isFlError(
        thrown(() => eventSubject(prefix, federationId, "round.started")),
        ErrorCode.InvalidArgument,
      ),
    ).toBe(true);
  });

  it.each([
    ["fl.fed1.>", "fl.fed1.>", true],
    ["fl.>", "fl.fed1.>", true],
    [">", "fl.fed1.>", true],
    ["fl.*.>", "fl.fed1.>", true],
    ["fl.fed2.>", "fl.fed1.>", false],
    ["fl.fed1.*", "fl.fed1.>", false],
    ["fl.fed1", "fl.fed1.>", false],
    ["fl.fed1.>", "fl.fed1", false],
    ["fl.*", "fl.fed1", true],
    ["fl.fed1.round.started", "fl.fed1.>", false],
  ])("subjectCovers(%j, %j) is %s", (pattern, filter, expected) => {
    expect(subjectCovers(pattern, filter)).toBe(expected);
  });
});

describe("codec", () => {
  it("round-trips an event through JSON bytes", () => {
    const event = makeEvent(
      "evaluation.completed",
      "fed1",
      { round: 5, data: { macroF1: 0.42, sites: 3 } },
      fixedNow,
    );
    const decoded = decodeEvent(encodeEvent(event));
    expect(decoded).toEqual({ ok: true, event });
  });

  it("writes the documented wire shape", () => {
    const event = makeEvent("site.joined", "fed1", { siteId: "a" }, fixedNow);
    expect(JSON.parse(new TextDecoder().decode(encodeEvent(event)))).toEqual({
      type: "site.joined",
      federationId: "fed1",
      timestamp: "2024-05-01T10:00:00.250Z",
      siteId: "a",
      data: {},
    });
  });

  it("drops unknown top-level fields from incoming payloads", () => {
    const bytes = new TextEncoder().encode(
      JSON.stringify({
        type: "site.left",
        federationId: "f",
        timestamp: "2024-05-01T10:00:00Z",
        data: {},
        extra: 1,
      }),
    );
    const decoded = decodeEvent(bytes);
    expect(decoded.ok && Object.keys(decoded.event).sort()).toEqual([
      "data",
      "federationId",
      "timestamp",
      "type",
    ]);
  });

  const valid = {
    type: "round.started",
    federationId: "f",
    timestamp: "2024-05-01T10:00:00.000Z",
    round: 1,
    data: {},
  };
  it.each([
    ["not JSON", "{nope"],
    ["an array", "[]"],
    ["an unknown type", JSON.stringify({ ...valid, type: "round.begun" })],
    ["no federation", JSON.stringify({ ...valid, federationId: "" })],
    ["a date that is not ISO", JSON.stringify({ ...valid, timestamp: "May 1, 2024" })],
    ["an impossible date", JSON.stringify({ ...valid, timestamp: "2024-13-45T99:00:00Z" })],
    ["a negative round", JSON.stringify({ ...valid, round: -2 })],
    ["a string round", JSON.stringify({ ...valid, round: "2" })],
    ["a numeric site id", JSON.stringify({ ...valid, siteId: 7 })],
    ["array data", JSON.stringify({ ...valid, data: [1] })],
    ["missing data", JSON.stringify({ ...valid, data: undefined })],
  ])("rejects a payload with %s", (_label, text) => {
    const decoded = decodeEvent(new TextEncoder().encode(text));
    expect(decoded.ok).toBe(false);
  });

  it("rejects invalid UTF-8 and oversized payloads without throwing", () => {
    expect(decodeEvent(new Uint8Array([0x7b, 0xff, 0x7d])).ok).toBe(false);
    expect(decodeEvent(new Uint8Array(MAX_EVENT_BYTES + 1)).ok).toBe(false);
  });

  it("accepts an event of exactly the size limit and refuses one byte more", () => {
    const base = makeEvent("round.completed", "f", { data: { pad: "" } }, fixedNow);
    const overhead = encodeEvent(base).byteLength;
    const atLimit = makeEvent(
      "round.completed",
      "f",
      { data: { pad: "x".repeat(MAX_EVENT_BYTES - overhead) } },
      fixedNow,
    );
    const over = makeEvent(
      "round.completed",
      "f",
      { data: { pad: "x".repeat(MAX_EVENT_BYTES - overhead + 1) } },
      fixedNow,
    );
    expect(encodeEvent(atLimit).byteLength).toBe(MAX_EVENT_BYTES);
    expect(
      isFlError(
        thrown(() => encodeEvent(over)),
        ErrorCode.TooLarge,
      ),
    ).toBe(true);
  });
});

describe("formatEventLine", () => {
  it("prints timestamp, type, round, site and data in order", () => {
    const event = makeEvent(
      "round.completed",
      "fed1",
      { round: 3, siteId: "st-marys", data: { accepted: 2, loss: 0.412345, note: "two words" } },
      fixedNow,
    );
    expect(formatEventLine(event)).toBe(
      '2024-05-01T10:00:00.250Z round.completed round=3 site=st-marys accepted=2 loss=0.4123 note="two words"',
    );
  });
});
