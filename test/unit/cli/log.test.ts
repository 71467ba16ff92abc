import { describe, expect, it } from "vitest";
import { levelOf, redactSecrets, structuredLogger } from "../../../cli/log.js";

function capture(isTTY: boolean) {
  const written: string[] = [];
  return { written, stream: { isTTY, write: (text: string) => written.push(text) } };
}

describe("structuredLogger", () => {
  it("writes one JSON record a line when the stream is not a terminal, the line as its msg", () => {
    const { written, stream } = capture(false);
    const log = structuredLogger("coordinator", { stream });
    log('coordinator for federation "f" listening on 127.0.0.1:5 (mutual TLS); 2 sites enrolled');
    log("WARNING: insecure: true: plaintext gRPC without TLS");
    const records = written.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records.map((r) => [r.level, r.name, r.msg])).toEqual([
      [
        "info",
        "coordinator",
        'coordinator for federation "f" listening on 127.0.0.1:5 (mutual TLS); 2 sites enrolled',
      ],
      ["warn", "coordinator", "WARNING: insecure: true: plaintext gRPC without TLS"],
    ]);
    expect(Number.isNaN(Date.parse(String(records[0]?.time)))).toBe(false);
    expect(written.every((line) => line.endsWith("\n") && !line.slice(0, -1).includes("\n"))).toBe(true);
  });

  it("writes the timestamped one-liners on a terminal", () => {
    const { written, stream } = capture(true);
    structuredLogger("coordinator", { stream })("round 1 completed: 2 updates, model v1");
    expect(written).toHaveLength(1);
    expect(written[0]).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z coordinator {2}round 1 completed: 2 updates, model v1\n$/,
    );
  });

  it("drops lines below the configured level, and follows an explicit format whatever the stream is", () => {
    const { written, stream } = capture(true);
    const log = structuredLogger("coordinator", { stream, level: "warn", format: "json" });
    log("a joined (backend wasm)");
    log("round 2: b failed its train task: no result before the deadline");
    expect(written.map((line) => (JSON.parse(line) as { msg: string }).msg)).toEqual([
      "round 2: b failed its train task: no result before the deadline",
    ]);
  });

  it("redacts secrets in the text before it is written", () => {
    const { written, stream } = capture(false);
    structuredLogger("coordinator", { stream })(
      "request with Authorization: Bearer s3cr3t-value and token=abc123, operator token fla_0123456789abcdefXYZ",
    );
    const text = written.join("");
    expect(text).not.toContain("s3cr3t-value");
    expect(text).not.toContain("abc123");
    expect(text).not.toContain("fla_0123456789abcdefXYZ");
    expect((JSON.parse(text) as { msg: string }).msg).toBe(
      "request with Authorization: Bearer [redacted] and token=[redacted], operator token [redacted]",
    );
  });
});

describe("levelOf and redactSecrets", () => {
  it("reads the level from the line's words", () => {
    expect(levelOf("round 3 completed: 2 updates, model v3")).toBe("info");
    expect(levelOf("WARNING: the operator endpoint on 0.0.0.0:9464 is plain HTTP")).toBe("warn");
    expect(levelOf("update from a for round 1 rejected: FL_REPLAY: upload u was already received")).toBe(
      "warn",
    );
    expect(levelOf("federation failed: round 1 failed 3 times")).toBe("error");
    expect(levelOf("upload from a failed inside the coordinator: SQLITE_FULL")).toBe("error");
  });

  it("leaves lines without secrets as they are", () => {
    const line = 'coordinator for federation "f" listening on 127.0.0.1:50051 (mutual TLS); 3 sites enrolled';
    expect(redactSecrets(line)).toBe(line);
    expect(redactSecrets("password: hunter2; next")).toBe("password: [redacted]; next");
  });
});
