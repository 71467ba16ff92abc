// Files that declare huge images or inflate far beyond what they declare: each is refused with
// FL_TOO_LARGE, and decoding it costs the process little memory. Each file is decoded in a
// fresh child process, whose peak RSS (getrusage) is compared with that of a normal image; a
// watchdog kills a child whose RSS runs away, so that a regression fails instead of exhausting
// the machine.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, FlError } from "../../../../../shared/src/errors.js";
import { decodeDicom, wasmCodec } from "../../../../../shared/src/ml/data/dicom/decode.js";
import { DEFAULT_MAX_IMAGE_BYTES } from "../../../../../shared/src/ml/data/image/limits.js";
import { le16, writeFixture } from "../../../../fixtures/data/dcmjs-writer.js";
import { deflateBombDicom, hugePng, hugeRleDicom } from "../../../../fixtures/data/hostile-files.js";

const dir = mkdtempSync(join(tmpdir(), "fl-hostile-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const CHILD = join(import.meta.dirname, "../../../../fixtures/data/decode-child.ts");
/** What a hostile file may cost beyond a normal small image. */
const ALLOWED_EXTRA_BYTES = 64 * 2 ** 20;
const WATCHDOG_BYTES = 1536 * 2 ** 20;

interface Outcome {
  readonly ok: boolean;
  readonly patientId?: string;
  readonly code?: string;
  readonly message?: string;
  readonly maxRssBytes: number;
}

function currentRss(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
    return kb === undefined ? 0 : Number(kb) * 1024;
  } catch {
    return 0; // no /proc (not Linux), or the child has exited
  }
}

function decodeInChild(mode: "image" | "header", file: string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", CHILD, mode, file], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    let killedAt = 0;
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    const watchdog = setInterval(() => {
      const rss = currentRss(child.pid as number);
      if (rss > WATCHDOG_BYTES) {
        killedAt = rss;
        child.kill("SIGKILL");
      }
    }, 10);
    child.on("error", reject);
    child.on("close", () => {
      clearInterval(watchdog);
      if (killedAt > 0) resolve({ ok: false, message: "killed by the watchdog", maxRssBytes: killedAt });
      else if (out.trim() === "") reject(new Error(`child decoding ${file} printed nothing`));
      else resolve(JSON.parse(out) as Outcome);
    });
  });
}

let baseline: number;
beforeAll(async () => {
  const normal = join(dir, "normal.dcm");
  writeFileSync(
    normal,
    writeFixture({
      transferSyntax: "1.2.840.10008.1.2.1",
      rows: 64,
      columns: 64,
      bitsAllocated: 16,
      pixelData: new Uint8Array(64 * 64 * 2),
    }),
  );
  const outcome = await decodeInChild("image", normal);
  expect(outcome.ok).toBe(true);
  baseline = outcome.maxRssBytes;
}, 60_000);

async function expectRefusedCheaply(
  mode: "image" | "header",
  name: string,
  bytes: Buffer,
  message: RegExp,
): Promise<void> {
  const file = join(dir, name);
  writeFileSync(file, bytes);
  const outcome = await decodeInChild(mode, file);
  expect(outcome.message).toMatch(message);
  expect(outcome.code).toBe(ErrorCode.TooLarge);
  expect(outcome.maxRssBytes - baseline).toBeLessThan(ALLOWED_EXTRA_BYTES);
}

describe("hostile files are refused before they cost memory", () => {
  it("a PNG of a few bytes declaring 60000 x 60000", async () => {
    const png = hugePng(60000, 60000);
    expect(png.length).toBeLessThan(200);
    await expectRefusedCheaply(
      "image",
      "huge.png",
      png,
      /huge\.png: declares a 60000x60000 image .* above the limit/,
    );
  });

  it("an RLE DICOM of a few hundred bytes declaring 65535 x 65535 x 16 bit", async () => {
    const dicom = hugeRleDicom();
    expect(dicom.length).toBeLessThan(1024);
    await expectRefusedCheaply(
      "image",
      "huge-rle.dcm",
      dicom,
      /declares a 65535x65535 image with 1 sample\(s\) of 16 bit/,
    );
  });

  it("a deflated DICOM of a 64 x 64 image that inflates to 256 MiB more: decoding", async () => {
    const dicom = await deflateBombDicom({ trailerBytes: 256 * 2 ** 20 });
    expect(dicom.length).toBeLessThan(512 * 1024);
    await expectRefusedCheaply(
      "image",
      "bomb.dcm",
      dicom,
      /deflated data inflates beyond the \d+ bytes its header and declared pixel data allows/,
    );
  });

  it("the same deflated DICOM: reading its header inflates only up to the pixel data", async () => {
    const file = join(dir, "bomb-header.dcm");
    writeFileSync(file, await deflateBombDicom({ trailerBytes: 256 * 2 ** 20 }));
    const outcome = await decodeInChild("header", file);
    expect(outcome.ok).toBe(true);
    expect(outcome.patientId).toBe("PAT-1");
    expect(outcome.maxRssBytes - baseline).toBeLessThan(ALLOWED_EXTRA_BYTES);
  });

  it("a deflated DICOM whose Pixel Data claims 160 MiB for a 64 x 64 image", async () => {
    const dicom = await deflateBombDicom({ trailerBytes: 160 * 2 ** 20, declaredPixelBytes: 160 * 2 ** 20 });
    await expectRefusedCheaply("image", "claims.dcm", dicom, /deflated pixel data declares 167772160 bytes/);
  });

  // Found by `npm run bench:fuzz`: an 8 x 8 JPEG-LS frame, mutated, that kept CharLS busy for
  // 14 to 37 s on the main thread (every later file waited); now its worker is stopped.
  const SLOW_JPEG_LS = Buffer.from(
    "ffd8fff7000b0c0008000801011100ffda0008010100000000494949494745434100504a48464442404a0050fdf3d78edd120a54772e1bb62a508c5313244483ef910a579d75c71c21148db6d34d344028d965965861f8ff00",
    "hex",
  );

  it("a JPEG-LS frame that would keep CharLS busy for seconds is stopped, and the next file decodes", {
    timeout: 10_000,
  }, async () => {
    const slow = writeFixture({
      transferSyntax: "1.2.840.10008.1.2.4.80",
      rows: 8,
      columns: 8,
      bitsAllocated: 16,
      bitsStored: 12,
      pixelData: SLOW_JPEG_LS,
    });
    const start = performance.now();
    const error = await decodeDicom(slow, "slow.dcm", {
      maxImageBytes: DEFAULT_MAX_IMAGE_BYTES,
      frameTimeoutMs: 500,
    }).catch((e: unknown) => e);
    expect(performance.now() - start).toBeLessThan(3000);
    expect(error).toBeInstanceOf(FlError);
    expect((error as FlError).code).toBe(ErrorCode.DataError);
    expect((error as Error).message).toMatch(/slow\.dcm: compressed frame did not decode within 500 ms/);

    const codec = await wasmCodec("charls");
    const values = Array.from({ length: 64 }, (_, i) => (i * 523) % 4096);
    const encoder = new (codec.JpegLSEncoder as NonNullable<typeof codec.JpegLSEncoder>)();
    encoder.getDecodedBuffer({ width: 8, height: 8, bitsPerSample: 12, componentCount: 1 }).set(le16(values));
    encoder.encode();
    const good = writeFixture({
      transferSyntax: "1.2.840.10008.1.2.4.80",
      rows: 8,
      columns: 8,
      bitsAllocated: 16,
      bitsStored: 12,
      pixelData: encoder.getEncodedBuffer().slice(),
    });
    encoder.delete();
    expect(Array.from((await decodeDicom(good, "good.dcm")).stored)).toEqual(values);
  });
});
