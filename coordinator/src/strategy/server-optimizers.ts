import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import { applyDelta } from "../../../shared/src/weights/index.js";
import type { ModelWeights, WeightsManifest } from "../../../shared/src/weights/types.js";
import { assertAggregateFits, MeanDeltaCollector } from "./mean-delta.js";
import type { RoundAggregate, RoundAggregation, Strategy, UpdateContribution } from "./strategy.js";

/**
 * Server-side optimisers (Reddi et al. 2021, "Adaptive Federated Optimization", Algorithm 2):
 * the example-weighted mean of the clients' deltas Δ is treated as a pseudo-gradient (a descent
 * direction, since Δ = local − global) and fed to momentum SGD, Adam or Yogi on the server.
 * They keep optimiser state across rounds; `exportState`/`importState` let the coordinator
 * checkpoint it next to the model so that a resumed federation continues bit for bit.
 */

/** A strategy with server optimiser state that must be checkpointed with the model. */
export interface ServerOptimizerStrategy extends Strategy {
  readonly name: "fedavgm" | "fedadam" | "fedyogi";
  /** Number of server steps taken (rounds finished), including those of imported state. */
  readonly steps: number;
  /**
   * The optimiser state as self-describing bytes (magic "FLSO", a versioned JSON header naming
   * the strategy, hyper-parameters, step count and the tensors it belongs to, then the float32
   * little-endian buffers). Before the first finished round it holds no buffers.
   */
  exportState(): Uint8Array;
  /**
   * Replaces the state with bytes from `exportState` of the same strategy kind. The tensors it
   * was built for are checked at the next `beginRound`. Any round begun before the import can
   * no longer `step()`. Throws FlError(InvalidArgument) for malformed or foreign state and
   * FlError(Unsupported) for a newer format version.
   */
  importState(bytes: Uint8Array): void;
}

export interface FedAvgMOptions {
  /** η: the server step is η·m. Default 1 (with momentum 0 this is FedAvg). */
  readonly serverLearningRate?: number | undefined;
  /** β in m ← β·m + Δ, in [0, 1). Default 0.9. */
  readonly momentum?: number | undefined;
}

export interface FedAdamOptions {
  /** η: the server step is η·m / (√v + τ). Default 1e-2. */
  readonly serverLearningRate?: number | undefined;
  /** First-moment decay β₁ in [0, 1). Default 0.9. */
  readonly beta1?: number | undefined;
  /** Second-moment decay β₂ in [0, 1). Default 0.99. */
  readonly beta2?: number | undefined;
  /** τ > 0: adaptivity; bounds the step to about η·|m|/τ where v is small. Default 1e-3. */
  readonly tau?: number | undefined;
}

export type FedYogiOptions = FedAdamOptions;

/** Every option set: what a strategy runs with when its options leave some out. */
type Defaults<Options> = { readonly [K in keyof Options]-?: NonNullable<Options[K]> };

export const DEFAULT_FEDAVGM_OPTIONS: Defaults<FedAvgMOptions> = Object.freeze({
  serverLearningRate: 1,
  momentum: 0.9,
});

export const DEFAULT_FEDADAM_OPTIONS: Defaults<FedAdamOptions> = Object.freeze({
  serverLearningRate: 1e-2,
  beta1: 0.9,
  beta2: 0.99,
  tau: 1e-3,
});

export const DEFAULT_FEDYOGI_OPTIONS: Defaults<FedYogiOptions> = DEFAULT_FEDADAM_OPTIONS;

/** True for strategies whose state must be checkpointed (`exportState`/`importState`). */
export function hasServerState(strategy: Strategy): strategy is ServerOptimizerStrategy {
  const candidate = strategy as Partial<ServerOptimizerStrategy>;
  return typeof candidate.exportState === "function" && typeof candidate.importState === "function";
}

/**
 * FedAvgM: m ← β·m + Δ; x ← x + η·m (m starts at 0). With β = 0 and η = 1 it is FedAvg.
 */
export function createFedAvgM(options: FedAvgMOptions = {}): ServerOptimizerStrategy {
  const hyper = { ...DEFAULT_FEDAVGM_OPTIONS, ...definedOnly(options) };
  checkPositive("serverLearningRate", hyper.serverLearningRate);
  checkDecay("momentum", hyper.momentum);
  const { serverLearningRate: eta, momentum: beta } = hyper;
  return createServerOptimizer({
    name: "fedavgm",
    hyper,
    buffers: [{ name: "momentum", initial: 0, nonNegative: false }],
    step(delta, [m], update) {
      const momentum = m as Float32Array;
      for (let i = 0; i < delta.length; i++) {
        momentum[i] = beta * (momentum[i] as number) + (delta[i] as number);
        update[i] = eta * (momentum[i] as number);
      }
    },
  });
}

/**
 * FedAdam: m ← β₁·m + (1−β₁)·Δ; v ← β₂·v + (1−β₂)·Δ²; x ← x + η·m / (√v + τ).
 * As in the paper, m starts at 0, v at τ², and there is no bias correction. (Flower's FedAdam
 * adds one; ignoring τ, its step in round t is this one's times √(1−β₂ᵗ)/(1−β₁ᵗ): for the
 * defaults that is 1 in round 1, about ½ in rounds 10–20, and back towards 1 after a few
 * hundred rounds.)
 */
export function createFedAdam(options: FedAdamOptions = {}): ServerOptimizerStrategy {
  return createAdaptive("fedadam", options, (v, squared, beta2) => beta2 * v + (1 - beta2) * squared);
}

/**
 * FedYogi: as FedAdam but v ← v − (1−β₂)·Δ²·sign(v − Δ²), which grows v like Adam when the
 * gradient is large but shrinks it only additively, so the effective step grows more slowly.
 */
export function createFedYogi(options: FedYogiOptions = {}): ServerOptimizerStrategy {
  return createAdaptive(
    "fedyogi",
    options,
    (v, squared, beta2) => v - (1 - beta2) * squared * Math.sign(v - squared),
  );
}

function createAdaptive(
  name: "fedadam" | "fedyogi",
  options: FedAdamOptions,
  secondMoment: (v: number, squared: number, beta2: number) => number,
): ServerOptimizerStrategy {
  const hyper = { ...DEFAULT_FEDADAM_OPTIONS, ...definedOnly(options) };
  checkPositive("serverLearningRate", hyper.serverLearningRate);
  checkDecay("beta1", hyper.beta1);
  checkDecay("beta2", hyper.beta2);
  checkPositive("tau", hyper.tau);
  const { serverLearningRate: eta, beta1, beta2, tau } = hyper;
  return createServerOptimizer({
    name,
    hyper,
    buffers: [
      { name: "firstMoment", initial: 0, nonNegative: false },
      { name: "secondMoment", initial: tau * tau, nonNegative: true },
    ],
    step(delta, [m, v], update) {
      const first = m as Float32Array;
      const second = v as Float32Array;
      for (let i = 0; i < delta.length; i++) {
        const d = delta[i] as number;
        first[i] = beta1 * (first[i] as number) + (1 - beta1) * d;
        second[i] = secondMoment(second[i] as number, d * d, beta2);
        update[i] = (eta * (first[i] as number)) / (Math.sqrt(second[i] as number) + tau);
      }
    },
  });
}

interface BufferSpec {
  readonly name: string;
  /** Value every element starts at. */
  readonly initial: number;
  /** Imported values must be ≥ 0 (second moments). */
  readonly nonNegative: boolean;
}

interface OptimizerDefinition {
  readonly name: ServerOptimizerStrategy["name"];
  readonly hyper: Readonly<Record<string, number>>;
  readonly buffers: readonly BufferSpec[];
  /**
   * Updates the buffers in place from the mean delta and writes the server step into `update`.
   * Buffers are float32: a value is rounded when stored and later reads see the rounded value,
   * so a run resumed from exported state computes exactly what an uninterrupted run would.
   */
  step(delta: Float32Array, buffers: Float32Array[], update: Float32Array): void;
}

/** Name and shape of each shared tensor, in order: what the state's buffers are laid out over. */
interface TensorLayout {
  readonly name: string;
  readonly shape: readonly number[];
}

interface OptimizerState {
  /** null until the first round finishes (or after importing state that had none). */
  layout: TensorLayout[] | null;
  buffers: Float32Array[];
  steps: number;
}

function createServerOptimizer(definition: OptimizerDefinition): ServerOptimizerStrategy {
  let state: OptimizerState = { layout: null, buffers: [], steps: 0 };
  // Bumped by beginRound and importState; an aggregation may finish only if it is the latest,
  // so an abandoned attempt (or one begun before a restore) can never advance the state.
  let generation = 0;

  return {
    name: definition.name,
    get steps() {
      return state.steps;
    },
    beginRound(global: ModelWeights): RoundAggregation {
      const layout = layoutOf(global.manifest);
      if (state.layout !== null) assertSameLayout(state.layout, layout, definition.name);
      generation += 1;
      const myGeneration = generation;
      const collector = new MeanDeltaCollector(global.values.length);
      let stepped = false;
      return {
        accept: (update: UpdateContribution) => collector.accept(update),
        get acceptedCount() {
          return collector.count;
        },
        aggregate: () => collector.aggregate(),
        step(aggregate: RoundAggregate) {
          if (stepped) throw new FlError(ErrorCode.FailedPrecondition, "this round was already finished");
          if (myGeneration !== generation) {
            throw new FlError(
              ErrorCode.FailedPrecondition,
              `${definition.name}: a newer round was begun or state was imported after this round began; ` +
                "only the latest round can update the server optimiser",
            );
          }
          assertAggregateFits(aggregate, global);
          const { meanDelta } = aggregate;
          if (state.layout === null) state = freshState(definition.buffers, layout, meanDelta.length);
          const update = new Float32Array(meanDelta.length);
          definition.step(meanDelta, state.buffers, update);
          state.steps += 1;
          stepped = true;
          return {
            weights: applyDelta(global, update),
            metrics: {
              totalExamples: aggregate.totalExamples,
              updateNorm: norm(meanDelta),
              serverStepNorm: norm(update),
            },
          };
        },
      };
    },
    exportState(): Uint8Array {
      return encodeState(definition, state);
    },
    importState(bytes: Uint8Array): void {
      state = decodeState(definition, bytes);
      generation += 1;
    },
  };
}

function freshState(specs: readonly BufferSpec[], layout: TensorLayout[], length: number): OptimizerState {
  return { layout, buffers: specs.map((spec) => new Float32Array(length).fill(spec.initial)), steps: 0 };
}

function layoutOf(manifest: WeightsManifest): TensorLayout[] {
  return manifest.tensors.map((tensor) => ({ name: tensor.name, shape: [...tensor.shape] }));
}

function assertSameLayout(
  expected: readonly TensorLayout[],
  actual: readonly TensorLayout[],
  name: string,
): void {
  const describe = (layout: readonly TensorLayout[]) =>
    layout.map((t) => `${t.name}[${t.shape.join("x")}]`).join(", ");
  const same =
    expected.length === actual.length &&
    expected.every((tensor, i) => {
      const other = actual[i] as TensorLayout;
      return (
        tensor.name === other.name &&
        tensor.shape.length === other.shape.length &&
        tensor.shape.every((size, d) => size === other.shape[d])
      );
    });
  if (!same) {
    throw new FlError(
      ErrorCode.WeightsShapeMismatch,
      `${name} server optimiser state belongs to tensors (${truncate(describe(expected))}) but this round's ` +
        `shared tensors are (${truncate(describe(actual))}); a different model needs a fresh strategy ` +
        "(do not import the old state)",
    );
  }
}

function truncate(text: string): string {
  return text.length <= 300 ? text : `${text.slice(0, 300)}…`;
}

function norm(values: Float32Array): number {
  let sumSquares = 0;
  for (const v of values) sumSquares += v * v;
  return Math.sqrt(sumSquares);
}

/** Spreads only the keys whose value is not undefined, so that `{ momentum: undefined }` keeps the default. */
function definedOnly<T extends object>(options: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>;
  };
}

function checkPositive(option: string, value: number): void {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new FlError(ErrorCode.InvalidArgument, `${option} must be a finite number > 0, got ${value}`);
  }
}

function checkDecay(option: string, value: number): void {
  if (typeof value !== "number" || !(value >= 0 && value < 1)) {
    throw new FlError(ErrorCode.InvalidArgument, `${option} must be in [0, 1), got ${value}`);
  }
}

// ---- State bytes -------------------------------------------------------------------------------

const MAGIC = [0x46, 0x4c, 0x53, 0x4f]; // "FLSO"
const STATE_FORMAT = "fl-server-optimizer-state";
const STATE_VERSION = 1;
/** Typed arrays use the host's byte order; the state is little-endian, so copy directly when they agree. */
const LITTLE_ENDIAN_HOST = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
/** Refuse absurd header lengths before decoding them. */
const MAX_HEADER_BYTES = 64 * 1024 * 1024;

/** The JSON header of the state bytes (format version 1). */
interface StateHeaderV1 {
  readonly format: typeof STATE_FORMAT;
  readonly version: 1;
  readonly strategy: string;
  /** Hyper-parameters in force when the state was written; informative, not enforced. */
  readonly hyperparameters: Readonly<Record<string, number>>;
  readonly steps: number;
  /** Tensors the buffers are laid out over; null before the first round. */
  readonly tensors: TensorLayout[] | null;
  /** Elements per buffer (Σ tensor sizes; 0 when `tensors` is null). */
  readonly length: number;
  /** Buffer names in the order their float32 data follow the header. */
  readonly buffers: string[];
  readonly dtype: "float32";
  readonly byteOrder: "little-endian";
}

/**
 * Layout: 4 bytes magic "FLSO", uint32 LE header byte length H, H bytes UTF-8 JSON header,
 * zero padding to a multiple of 4, then `buffers.length` × `length` float32 LE values.
 */
function encodeState(definition: OptimizerDefinition, state: OptimizerState): Uint8Array {
  const length = state.layout === null ? 0 : (state.buffers[0]?.length ?? 0);
  const header: StateHeaderV1 = {
    format: STATE_FORMAT,
    version: STATE_VERSION,
    strategy: definition.name,
    hyperparameters: { ...definition.hyper },
    steps: state.steps,
    tensors: state.layout,
    length,
    buffers: definition.buffers.map((b) => b.name),
    dtype: "float32",
    byteOrder: "little-endian",
  };
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const dataOffset = align4(8 + headerBytes.length);
  const bytes = new Uint8Array(dataOffset + (state.layout === null ? 0 : 4 * length * state.buffers.length));
  bytes.set(MAGIC, 0);
  const view = new DataView(bytes.buffer);
  view.setUint32(4, headerBytes.length, true);
  bytes.set(headerBytes, 8);
  if (state.layout !== null) {
    let offset = dataOffset;
    for (const buffer of state.buffers) {
      if (LITTLE_ENDIAN_HOST) {
        bytes.set(new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength), offset);
        offset += buffer.byteLength;
        continue;
      }
      for (const value of buffer) {
        view.setFloat32(offset, value, true);
        offset += 4;
      }
    }
  }
  return bytes;
}

function decodeState(definition: OptimizerDefinition, bytes: Uint8Array): OptimizerState {
  const fail = (why: string): FlError =>
    new FlError(ErrorCode.InvalidArgument, `cannot import ${definition.name} server optimiser state: ${why}`);
  if (!(bytes instanceof Uint8Array)) throw fail("expected a Uint8Array");
  if (bytes.length < 8 || MAGIC.some((b, i) => bytes[i] !== b))
    throw fail("the bytes do not start with the FLSO magic");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(4, true);
  if (headerLength > MAX_HEADER_BYTES || 8 + headerLength > bytes.length) {
    throw fail(`the header claims ${headerLength} bytes but only ${bytes.length - 8} follow`);
  }
  let header: Partial<StateHeaderV1>;
  try {
    header = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerLength)),
    );
  } catch (error) {
    throw fail(`the header is not UTF-8 JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (typeof header !== "object" || header === null || header.format !== STATE_FORMAT) {
    throw fail(`the header's format is not "${STATE_FORMAT}"`);
  }
  if (header.version !== STATE_VERSION) {
    if (typeof header.version === "number" && header.version > STATE_VERSION) {
      throw new FlError(
        ErrorCode.Unsupported,
        `${definition.name} server optimiser state has format version ${header.version}; ` +
          `this coordinator reads version ${STATE_VERSION}: upgrade the coordinator`,
      );
    }
    throw fail(`unknown format version ${String(header.version)}`);
  }
  if (header.strategy !== definition.name) {
    throw fail(
      `it was written by "${String(header.strategy)}"; configure that strategy or start without state`,
    );
  }
  const expectedBuffers = definition.buffers.map((b) => b.name);
  if (
    !Array.isArray(header.buffers) ||
    header.buffers.length !== expectedBuffers.length ||
    header.buffers.some((name, i) => name !== expectedBuffers[i])
  ) {
    throw fail(
      `it holds buffers ${JSON.stringify(header.buffers)}, expected ${JSON.stringify(expectedBuffers)}`,
    );
  }
  if (header.dtype !== "float32" || header.byteOrder !== "little-endian") {
    throw fail(`unsupported data encoding ${String(header.dtype)}/${String(header.byteOrder)}`);
  }
  const steps = header.steps;
  if (typeof steps !== "number" || !Number.isSafeInteger(steps) || steps < 0) {
    throw fail(`steps is ${String(steps)}, expected an integer ≥ 0`);
  }
  const dataOffset = align4(8 + headerLength);
  if (header.tensors === null) {
    if (header.length !== 0 || bytes.length !== dataOffset)
      throw fail("state without tensors must hold no data");
    return { layout: null, buffers: [], steps };
  }
  const layout = parseLayout(header.tensors, fail);
  const length = layout.reduce((sum, t) => sum + t.shape.reduce((a, b) => a * b, 1), 0);
  if (header.length !== length)
    throw fail(`length ${String(header.length)} differs from the tensors' ${length} elements`);
  const expectedBytes = dataOffset + 4 * length * expectedBuffers.length;
  if (bytes.length !== expectedBytes) throw fail(`expected ${expectedBytes} bytes, got ${bytes.length}`);
  let offset = dataOffset;
  const buffers = definition.buffers.map((spec) => {
    const buffer = LITTLE_ENDIAN_HOST
      ? new Float32Array(bytes.slice(offset, offset + 4 * length).buffer)
      : Float32Array.from({ length }, (_, i) => view.getFloat32(offset + 4 * i, true));
    offset += 4 * length;
    for (let i = 0; i < length; i++) {
      const value = buffer[i] as number;
      if (!Number.isFinite(value) || (spec.nonNegative && value < 0)) {
        throw fail(
          `${spec.name}[${i}] is ${value}, expected a finite number${spec.nonNegative ? " ≥ 0" : ""}`,
        );
      }
    }
    return buffer;
  });
  return { layout, buffers, steps };
}

function parseLayout(tensors: unknown, fail: (why: string) => FlError): TensorLayout[] {
  if (!Array.isArray(tensors)) throw fail("tensors is not a list");
  return tensors.map((tensor: unknown, i) => {
    const t = tensor as Partial<TensorLayout> | null;
    if (
      typeof t !== "object" ||
      t === null ||
      typeof t.name !== "string" ||
      !Array.isArray(t.shape) ||
      !t.shape.every((size) => Number.isSafeInteger(size) && size >= 0)
    ) {
      throw fail(`tensor ${i} is not {name, shape}`);
    }
    return { name: t.name, shape: [...t.shape] };
  });
}

function align4(n: number): number {
  return (n + 3) & ~3;
}
