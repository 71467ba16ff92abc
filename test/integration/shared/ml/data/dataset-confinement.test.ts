import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode, FlError } from "../../../../../shared/src/errors.js";
import { BadItemLog } from "../../../../../shared/src/ml/data/bad-items.js";
import { loadSiteSplits, summarizeData } from "../../../../../shared/src/ml/data/config.js";
import type { DataConfig } from "../../../../../shared/src/ml/data/config-schema.js";
import { encodeGreyPng } from "../../../../../shared/src/ml/data/image/png.js";
import { listImageFiles } from "../../../../../shared/src/ml/data/loaders/files.js";
import { DatasetPaths } from "../../../../../shared/src/ml/data/loaders/paths.js";

const base = realpathSync(mkdtempSync(join(tmpdir(), "fl-confine-")));
afterAll(() => rmSync(base, { recursive: true, force: true }));

function png(): Buffer {
  return encodeGreyPng(new Float32Array(16 * 16).fill(0.5), 16, 16);
}

// Outside the dataset: a readable image the loader must never open.
const outside = join(base, "outside");
mkdirSync(outside);
writeFileSync(join(outside, "secret.png"), png());
writeFileSync(join(outside, "linked.png"), png());

interface Dataset {
  readonly root: string;
  readonly config: DataConfig;
}

/** A folder dataset with one good image and one row per hostile entry. */
function dataset(
  name: string,
  rows: readonly string[],
  extra: Partial<Record<string, unknown>> = {},
): Dataset {
  const root = join(base, name);
  mkdirSync(join(root, "sub"), { recursive: true });
  writeFileSync(join(root, "good.png"), png());
  writeFileSync(join(root, "sub", "inner.png"), png());
  // The walk meets these links before the rows do: with "fail" either names the entry.
  if (rows.some((row) => row.includes("link-out")))
    symlinkSync(join(outside, "linked.png"), join(root, "link-out.png"));
  if (rows.some((row) => row.includes("linked-dir"))) symlinkSync(outside, join(root, "linked-dir"));
  writeFileSync(
    join(root, "labels.csv"),
    `${["image,label,mask", "good.png,typical,", ...rows].join("\n")}\n`,
  );
  return {
    root,
    config: { kind: "folder", root, maskColumn: "mask", imageSize: 16, ...extra } as DataConfig,
  };
}

const HOSTILE: readonly { readonly name: string; readonly row: string; readonly message: RegExp }[] = [
  {
    name: "../",
    row: "../outside/secret.png,typical,",
    message: /"\.\.\/outside\/secret\.png" resolves to .*outside/,
  },
  {
    name: "absolute path",
    row: `${join(outside, "secret.png")},typical,`,
    message: /resolves to .*outside\/secret\.png, outside the dataset root/,
  },
  {
    name: "symbolic link",
    row: "link-out.png,typical,",
    message: /link-out\.png" is a symbolic link to .*outside\/linked\.png, outside the dataset root/,
  },
  {
    name: "through a linked folder",
    row: "linked-dir/secret.png,typical,",
    message: /linked-dir(\/secret\.png)?" is a symbolic link to .*\/outside/,
  },
  {
    name: "mask outside",
    row: "sub/inner.png,typical,../outside/secret.png",
    message: /mask "\.\.\/outside\/secret\.png" resolves to/,
  },
];

describe("paths a folder dataset names stay inside its root", () => {
  for (const c of HOSTILE) {
    it(`${c.name}: "fail" stops naming the entry and the root`, async () => {
      const { root, config } = dataset(`fail-${c.name.replace(/\W/g, "_")}`, [c.row]);
      let error: unknown;
      try {
        await summarizeData(config, { onBadItem: "fail" });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(FlError);
      expect((error as FlError).code).toBe(ErrorCode.DataError);
      expect((error as Error).message).toMatch(c.message);
      expect((error as Error).message).toContain(root);
      expect((error as Error).message).toContain("path-outside-root");
    });
  }

  it('"skip" leaves every hostile entry out and never reads the outside file', async () => {
    const { config } = dataset(
      "skip-all",
      HOSTILE.map((c) => c.row),
    );
    const summary = await summarizeData(config, { onBadItem: "skip" });
    // Five rows plus the walk's two links out (link-out.png and linked-dir).
    expect(summary.badItems.byKind["path-outside-root"]).toBe(HOSTILE.length + 2);
    const splits = await loadSiteSplits(config, "all", { onBadItem: "skip" });
    const ids = [...splits.train.imageIds, ...splits.val.imageIds, ...splits.test.imageIds].sort();
    expect(ids).toEqual(["good.png"]);
  });

  it("links that stay inside the root are followed, by rows and by the walk", async () => {
    const root = join(base, "inside-links");
    mkdirSync(join(root, "sub"), { recursive: true });
    writeFileSync(join(root, "sub", "inner.png"), png());
    writeFileSync(join(root, "sub", "other.png"), png());
    symlinkSync(join(root, "sub", "inner.png"), join(root, "link-in.png"));
    symlinkSync(join(root, "sub"), join(root, "sub-link"));
    writeFileSync(
      join(root, "labels.csv"),
      "image,label\nlink-in.png,negative\nsub-link/other.png,typical\n",
    );
    const config: DataConfig = { kind: "folder", root, imageSize: 16, includeUnlabelled: true };
    const splits = await loadSiteSplits(config, "all", { onBadItem: "fail" });
    const ids = [...splits.train.imageIds, ...splits.val.imageIds, ...splits.test.imageIds].sort();
    // The walk also finds sub/inner.png, sub/other.png and sub-link/inner.png: the same two files
    // by other names, which are not added again as unlabelled images.
    expect(ids).toEqual(["link-in.png", "sub-link/other.png"]);
  });

  it("allowedRoots admits a folder the operator names, and only that one", async () => {
    const { config } = dataset("allowed", ["../outside/secret.png,typical,", "link-out.png,negative,"], {
      allowedRoots: ["../outside"],
    });
    const summary = await summarizeData(config, { onBadItem: "skip" });
    expect(summary.badItems.byKind["path-outside-root"]).toBeUndefined();
    const splits = await loadSiteSplits(config, "all", { onBadItem: "skip" });
    expect(splits.train.count + splits.val.count + splits.test.count).toBe(3);
  });

  it("the walk ends on a link back to an ancestor folder", async () => {
    const root = join(base, "loop");
    mkdirSync(join(root, "a"), { recursive: true });
    writeFileSync(join(root, "a", "x.png"), png());
    symlinkSync(root, join(root, "a", "back"));
    const log = new BadItemLog("skip");
    const files = await listImageFiles(root, await DatasetPaths.create(root), log);
    expect(files).toEqual(["a/x.png"]);
    expect(log.all).toEqual([]);
  });
});
