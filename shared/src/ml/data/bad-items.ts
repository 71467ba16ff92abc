import { ErrorCode, FlError } from "../../errors.js";

/** Why an input item was rejected. */
export type BadItemKind =
  | "corrupt-file"
  | "unsupported-format"
  | "unknown-class"
  | "image-without-label"
  | "label-without-image"
  | "duplicate-id"
  | "box-outside-image"
  | "empty-site"
  | "malformed-row"
  | "path-outside-root"
  | "too-large";

/** One rejected input, with enough to find and fix it. */
export interface BadItem {
  readonly kind: BadItemKind;
  /** The file at fault (image, CSV, mask); a CSV reference carries its line, e.g. `labels.csv:14`. */
  readonly file: string;
  /** What is wrong, in words a person can act on. */
  readonly reason: string;
}

/** What to do with bad items: leave them out and count them, or stop at the first. */
export type BadItemPolicy = "skip" | "fail";

/**
 * Collects bad items under a policy. With "fail" the first report throws FlError(DataError)
 * naming the file and the reason; with "skip" it is logged and kept for the summary.
 */
export class BadItemLog {
  private readonly items: BadItem[] = [];

  constructor(
    readonly policy: BadItemPolicy = "skip",
    private readonly log: (line: string) => void = () => {},
  ) {}

  report(kind: BadItemKind, file: string, reason: string): void {
    const item: BadItem = { kind, file, reason };
    if (this.policy === "fail") {
      throw new FlError(
        ErrorCode.DataError,
        `${file}: ${reason} (${kind}; pass onBadItem "skip" / --on-bad-item skip to leave such items out)`,
      );
    }
    this.items.push(item);
    this.log(`skipped ${kind}: ${file}: ${reason}`);
  }

  get all(): readonly BadItem[] {
    return this.items;
  }

  /** Counts per kind, for summaries. */
  counts(): Partial<Record<BadItemKind, number>> {
    const counts: Partial<Record<BadItemKind, number>> = {};
    for (const item of this.items) counts[item.kind] = (counts[item.kind] ?? 0) + 1;
    return counts;
  }
}
