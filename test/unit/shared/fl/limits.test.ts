import { describe, expect, it } from "vitest";
import { ErrorCode, FlError } from "../../../../shared/src/errors.js";
import {
  checkMetrics,
  EVALUATION_SPLITS,
  failureReport,
  MAX_REASON_CHARS,
  quote,
  sanitiseText,
  truncate,
} from "../../../../shared/src/fl/limits.js";

describe("text bounds", () => {
  it("truncates with an ellipsis and never splits a surrogate pair", () => {
    expect(truncate("abcdef", 6)).toBe("abcdef");
    expect(truncate("abcdef", 4)).toBe("abc…");
    expect(truncate("ab😀cd", 4)).toBe("ab…");
  });

  it("puts text on one line: control, format and separator characters become spaces", () => {
    expect(sanitiseText("a\nb\tc\u001b[31md\u202ee", 100)).toBe("a b c [31md e");
    expect(quote("x".repeat(1000)).length).toBeLessThan(50);
  });

  it("knows the splits a task can ask for", () => {
    expect(EVALUATION_SPLITS).toEqual(["val", "test"]);
  });

  it("accepts the metric names the clients report", () => {
    expect(() =>
      checkMetrics("metrics", { loss: 1, "train.loss": 1, "auc.negative": 1, "ap.0": 1, "seg.diceSum": 1 }),
    ).not.toThrow();
  });
});

describe("failureReport: what a site sends when it gives up on a task", () => {
  it("is the error's code and a bounded, one-line message", () => {
    const report = failureReport(new FlError(ErrorCode.DataError, `cannot decode\n${"x".repeat(5000)}`));
    expect(report.startsWith("FL_DATA_ERROR: cannot decode x")).toBe(true);
    expect(report.length).toBe(MAX_REASON_CHARS);
  });

  it("says nothing of an unexpected error's text (it may name paths or data)", () => {
    for (const error of [
      new Error("ENOENT: /data/patients/jane-doe.dcm"),
      new FlError(ErrorCode.Internal, "/data/patients"),
    ])
      expect(failureReport(error)).toBe("FL_INTERNAL: internal error (see the site's log)");
  });
});
