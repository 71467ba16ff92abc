import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode, isFlError } from "../../../../../shared/src/errors.js";
import { listSites, loadSiteSplits, summarizeData } from "../../../../../shared/src/ml/data/config.js";
import { writeDicom } from "../../../../../shared/src/ml/data/dicom/write.js";
import { encodeGreyPng } from "../../../../../shared/src/ml/data/image/png.js";
import { writeSyntheticDataset } from "../../../../../shared/src/ml/data/synth/write-siim.js";

const root = mkdtempSync(join(tmpdir(), "fl-bad-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function png(size = 32): Buffer {
  const pixels = new Float32Array(size * size);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i % size) / size;
  return encodeGreyPng(pixels, size, size);
}

function dicom(size = 32): Buffer {
  return writeDicom({
    rows: size,
    columns: size,
    bitsAllocated: 16,
    bitsStored: 12,
    photometric: "MONOCHROME2",
    pixels: Uint16Array.from({ length: size * size }, (_, i) => i % 4096),
    vr: "explicit",
    sopInstanceUid: "1.2.3",
    studyInstanceUid: "1.2",
    seriesInstanceUid: "1.2.4",
    patientId: "p",
  });
}

const HEADER = "image,label,site,boxes";
const GOOD_ROWS = [
  'good1.png,typical,north,"[{""x"":2,""y"":3,""width"":10,""height"":8}]"',
  "good2.png,negative,north,",
  "good3.dcm,atypical,south,",
];

/** Writes a folder dataset: the good files plus whatever a case adds. */
function folder(name: string, rows: readonly string[], files: Record<string, Buffer>): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "good1.png"), png());
  writeFileSync(join(dir, "good2.png"), png());
  writeFileSync(join(dir, "good3.dcm"), dicom());
  for (const [file, bytes] of Object.entries(files)) writeFileSync(join(dir, file), bytes);
  writeFileSync(join(dir, "labels.csv"), `${[HEADER, ...GOOD_ROWS, ...rows].join("\n")}\n`);
  return dir;
}

interface Case {
  name: string;
  kind: string;
  rows: string[];
  files: Record<string, Buffer>;
  /** Both must appear in the message: the file at fault and the reason. */
  file: RegExp;
  reason: RegExp;
}

const truncatedDicom = dicom(64).subarray(0, 2000);
const CASES: Case[] = [
  {
    name: "corrupt",
    kind: "corrupt-file",
    rows: ["broken.png,typical,north,"],
    files: { "broken.png": Buffer.concat([png().subarray(0, 40), Buffer.alloc(30, 7)]) },
    file: /broken\.png/,
    reason: /does not decode/,
  },
  {
    name: "truncated",
    kind: "corrupt-file",
    rows: ["cut.dcm,typical,north,"],
    files: { "cut.dcm": truncatedDicom },
    file: /cut\.dcm/,
    reason: /truncated|past end|not a readable/,
  },
  {
    name: "unknown-class",
    kind: "unknown-class",
    rows: ["u.png,covid,north,"],
    files: { "u.png": png() },
    file: /labels\.csv:5/,
    reason: /class "covid"/,
  },
  {
    name: "no-label",
    kind: "image-without-label",
    rows: [],
    files: { "orphan.png": png() },
    file: /orphan\.png/,
    reason: /no row/,
  },
  {
    name: "no-image",
    kind: "label-without-image",
    rows: ["missing.png,typical,north,"],
    files: {},
    file: /labels\.csv:5/,
    reason: /missing\.png does not exist/,
  },
  {
    name: "duplicate",
    kind: "duplicate-id",
    rows: ["good1.png,typical,north,"],
    files: {},
    file: /labels\.csv:5/,
    reason: /listed twice/,
  },
  {
    name: "box-outside",
    kind: "box-outside-image",
    rows: ['wide.png,typical,north,"[{""x"":25,""y"":2,""width"":20,""height"":5}]"'],
    files: { "wide.png": png() },
    file: /labels\.csv:5/,
    reason: /outside the 32x32 image/,
  },
];

async function loadEverything(dir: string, onBadItem: "skip" | "fail") {
  const config = { kind: "folder" as const, root: dir, siteColumn: "site", imageSize: 16 };
  const sites = await listSites(config, { onBadItem });
  for (const site of sites) await loadSiteSplits(config, site, { onBadItem });
  return { config, sites };
}

describe("bad input in a folder dataset", () => {
  for (const c of CASES) {
    it(`${c.name}: "fail" stops with the file and the reason`, async () => {
      const dir = folder(`fail-${c.name}`, c.rows, c.files);
      let error: unknown;
      try {
        await loadEverything(dir, "fail");
      } catch (e) {
        error = e;
      }
      expect(isFlError(error, ErrorCode.DataError)).toBe(true);
      const message = (error as Error).message;
      expect(message).toMatch(c.file);
      expect(message).toMatch(c.reason);
      expect(message).toContain(c.kind);
    });

    it(`${c.name}: "skip" leaves it out, counts it, and keeps the good images`, async () => {
      const dir = folder(`skip-${c.name}`, c.rows, c.files);
      const lines: string[] = [];
      const config = { kind: "folder" as const, root: dir, siteColumn: "site", imageSize: 16 };
      const sites = await listSites(config, { onBadItem: "skip", log: (l) => lines.push(l) });
      expect(sites).toEqual(["north", "south"]);
      const north = await loadSiteSplits(config, "north", { onBadItem: "skip", log: (l) => lines.push(l) });
      const northIds = [...north.train.imageIds, ...north.val.imageIds, ...north.test.imageIds].sort();
      expect(northIds).toEqual(["good1.png", "good2.png"]);
      const summary = await summarizeData(config, { onBadItem: "skip" });
      // Decode failures only show up when pixels are read; the catalog-level ones in the summary.
      if (!["corrupt-file", "box-outside-image"].includes(c.kind)) {
        expect(summary.badItems.byKind).toEqual({ [c.kind]: 1 });
      }
      expect(lines.some((l) => l.includes(c.kind))).toBe(true);
    });
  }

  it("empty site after skipping: a site whose only image is unreadable loads empty and says so", async () => {
    const dir = folder("ghost-corrupt", ["ghost.png,typical,ghost,"], {
      "ghost.png": Buffer.from("not an image"),
    });
    const config = { kind: "folder" as const, root: dir, siteColumn: "site", imageSize: 16 };
    const lines: string[] = [];
    const ghost = await loadSiteSplits(config, "ghost", { log: (l) => lines.push(l) });
    expect(ghost.train.count + ghost.val.count + ghost.test.count).toBe(0);
    expect(lines.join("\n")).toMatch(/corrupt-file: .*ghost\.png/);
    expect(lines.join("\n")).toMatch(/empty-site: .*site "ghost" has no readable images/);
  });

  it("empty site from a partition: reported (skip) or stopped at (fail) with the dataset and the site", async () => {
    const dir = folder("partition-empty", [], {});
    // Three images over five sites: at least two sites must be empty.
    const config = {
      kind: "folder" as const,
      root: dir,
      imageSize: 16,
      partition: { kind: "quantity" as const, sites: 5, alpha: 1, minItems: 0 },
    };
    const sites = await listSites(config);
    expect(sites.length).toBeLessThanOrEqual(3);
    const summary = await summarizeData(config);
    expect(summary.badItems.byKind["empty-site"]).toBe(5 - sites.length);
    await expect(listSites(config, { onBadItem: "fail" })).rejects.toThrow(
      /partition-empty: site "site-\d" has no usable images \(empty-site/,
    );
  });

  it("empty site: the site is not listed, and asking for it says which sites exist", async () => {
    const dir = folder("ghost-only", ["ghost.png,typical,ghost,"], {});
    const config = { kind: "folder" as const, root: dir, siteColumn: "site", imageSize: 16 };
    expect(await listSites(config)).toEqual(["north", "south"]);
    await expect(loadSiteSplits(config, "ghost")).rejects.toThrow(/no site "ghost".*north, south/);
  });

  it("a labels CSV without the named column fails with the columns it has", async () => {
    const dir = folder("no-column", [], {});
    await expect(listSites({ kind: "folder", root: dir, siteColumn: "hospital" })).rejects.toThrow(
      /missing column\(s\) "hospital" \(has image, label, site, boxes\)/,
    );
  });
});

describe("bad input in the SIIM layout", () => {
  it("reports duplicate studies, two-class rows, unknown classes, rows without files and files without rows", async () => {
    const dir = join(root, "siim");
    await writeSyntheticDataset({
      out: dir,
      preset: "1-central",
      imagesPerSite: 10,
      seed: 1,
      nativeSize: 32,
    });
    const studyPath = join(dir, "train_study_level.csv");
    const imagePath = join(dir, "train_image_level.csv");
    const studies = readFileSync(studyPath, "utf8").trim().split("\n");
    const images = readFileSync(imagePath, "utf8").trim().split("\n");
    const header = `${studies[0]},Covid Appearance`;
    const body = studies.slice(1).map((l) => `${l},0`);
    // Line 2 stays; line 3 gets two classes; line 4 an unknown class; the first study repeats.
    const two = (body[1] as string).split(",");
    two[1] = "1";
    two[2] = "1";
    const unknown = (body[2] as string).split(",");
    for (let k = 1; k <= 4; k++) unknown[k] = "0";
    unknown[6] = "1";
    writeFileSync(
      studyPath,
      `${[header, body[0], two.join(","), unknown.join(","), ...body.slice(3), body[0]].join("\n")}\n`,
    );
    // An image row whose file is gone, and a file whose row is gone.
    writeFileSync(
      imagePath,
      `${[...images, "ffffffffffff_image,,none 1 0 0 1 1,abc"].filter((_, i) => i !== 1).join("\n")}\n`,
    );
    const summary = await summarizeData({ kind: "siim", root: dir, siteColumn: "site" });
    expect(summary.badItems.byKind).toMatchObject({
      "duplicate-id": 1,
      "malformed-row": 1,
      "unknown-class": 1,
      "label-without-image": 1,
    });
    expect((summary.badItems.byKind["image-without-label"] ?? 0) >= 1).toBe(true);
    await expect(
      listSites({ kind: "siim", root: dir, siteColumn: "site" }, { onBadItem: "fail" }),
    ).rejects.toThrow(/train_study_level\.csv:3: \d class columns are 1 \(need exactly one\)/);
  });
});
