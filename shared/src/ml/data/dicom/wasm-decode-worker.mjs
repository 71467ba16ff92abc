// Decodes JPEG-LS and JPEG 2000 frames with the cornerstone WASM codecs, off the main thread:
// a hostile frame can keep CharLS busy for tens of seconds or trap inside OpenJPEG, and only a
// worker can be stopped (terminated) or thrown away. Plain JavaScript so that it loads without
// the TypeScript loader. Messages: { id, codec: "charls" | "openjpeg", frame } in;
// { id, width, height, bitsPerSample, componentCount, bytes } or { id, error, trapped } out.
import { createRequire } from "node:module";
import { parentPort } from "node:worker_threads";

const require = createRequire(import.meta.url);
const modules = new Map();

function codec(name) {
  let pending = modules.get(name);
  if (!pending) {
    const factory = require(
      name === "charls" ? "@cornerstonejs/codec-charls/wasmjs" : "@cornerstonejs/codec-openjpeg/wasmjs",
    );
    // OpenJPEG narrates every decode on stdout; failures reach the caller as messages.
    pending = factory({ print: () => {}, printErr: () => {} });
    modules.set(name, pending);
  }
  return pending;
}

function describe(error) {
  if (error instanceof Error) return error.message;
  return typeof error === "number" ? `codec error ${error}` : String(error);
}

parentPort.on("message", async ({ id, codec: name, frame }) => {
  let decoder;
  try {
    const module = await codec(name);
    decoder = name === "charls" ? new module.JpegLSDecoder() : new module.J2KDecoder();
    decoder.getEncodedBuffer(frame.length).set(frame);
    decoder.decode();
    const info = decoder.getFrameInfo();
    const bytes = decoder.getDecodedBuffer().slice();
    parentPort.postMessage(
      {
        id,
        width: info.width,
        height: info.height,
        bitsPerSample: info.bitsPerSample,
        componentCount: info.componentCount,
        bytes,
      },
      [bytes.buffer],
    );
  } catch (error) {
    // A trap leaves the module's stack and heap inconsistent: later frames would fail or decode
    // wrongly, so the caller replaces this worker. A codec's own error (a C++ exception) does not.
    parentPort.postMessage({
      id,
      error: describe(error),
      trapped: error instanceof WebAssembly.RuntimeError,
    });
  } finally {
    try {
      decoder?.delete();
    } catch {
      modules.delete(name);
    }
  }
});
