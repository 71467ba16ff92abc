import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import { fromServiceError, grpcStatusOf, toServiceError } from "../../../shared/src/transport/grpc-errors.js";

it("every error code is unique and documented in docs/errors.md", () => {
  const codes = Object.values(ErrorCode);
  expect(new Set(codes).size).toBe(codes.length);
  const doc = readFileSync(new URL("../../../docs/errors.md", import.meta.url), "utf8");
  for (const code of codes) expect(doc, code).toContain(`\`${code}\``);
});

it("error codes survive the trip through gRPC metadata; internal causes do not", () => {
  for (const code of Object.values(ErrorCode)) {
    const wire = toServiceError(new FlError(code, `boom ${code}`));
    expect(wire.code).toBe(grpcStatusOf(code));
    const back = fromServiceError(Object.assign(new Error("x"), wire));
    expect(back.code).toBe(code);
    if (code === ErrorCode.Internal) expect(back.message).not.toContain("boom");
    else expect(back.message).toBe(`boom ${code}`);
  }
});
