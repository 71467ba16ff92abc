import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { ErrorCode, FlError } from "../../../../shared/src/errors.js";
import { MAX_ERROR_MESSAGE_CHARS } from "../../../../shared/src/fl/limits.js";
import { fromServiceError, toServiceError } from "../../../../shared/src/transport/grpc-errors.js";

describe("toServiceError", () => {
  it("caps what it sends: a 1 MiB message would make a trailer clients refuse", () => {
    const error = new FlError(ErrorCode.UnknownSite, `site "${"x".repeat(1 << 20)}" is not enrolled`);
    const sent = toServiceError(error);
    expect(sent.code).toBe(status.PERMISSION_DENIED);
    expect(sent.details?.length).toBe(MAX_ERROR_MESSAGE_CHARS);
    expect(sent.details?.endsWith("…")).toBe(true);
    expect(fromServiceError(sent).code).toBe(ErrorCode.UnknownSite);
  });

  it("keeps a message on one line", () => {
    expect(toServiceError(new FlError(ErrorCode.InvalidArgument, "a\nb\r\u2028c")).details).toBe("a b  c");
  });

  it("never sends the text of an internal or unexpected error", () => {
    for (const error of [
      new TypeError("Cannot read properties of undefined (reading 'secret')"),
      new FlError(ErrorCode.Internal, "SQLITE_CONSTRAINT: UNIQUE constraint failed: updates.upload_id"),
      "a thrown string",
    ]) {
      const sent = toServiceError(error);
      expect(sent.code).toBe(status.INTERNAL);
      expect(sent.details).toBe("internal error (see the coordinator's log)");
      expect(sent.metadata?.get("fl-error-code")).toEqual([ErrorCode.Internal]);
    }
  });
});
