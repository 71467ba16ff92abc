/**
 * The coordinator's own phases, timed from outside: the benchmark hands the production
 * Coordinator wrapped versions of the ports it is built from (the store, the checkpoint files,
 * the strategy) and wraps the service the gRPC adapter calls. The coordinator's code runs
 * unchanged, and production pays nothing for the measurement.
 */
import type { FederationStore, ModelFiles } from "../../coordinator/src/federation/store.js";
import type { Strategy } from "../../coordinator/src/strategy/strategy.js";
import type { CoordinatorService, UploadSink } from "../../shared/src/fl/ports.js";
import type { CoordinatorRound } from "./split.js";

const now = () => performance.timeOrigin + performance.now();

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** The rounds as they are timed; the round in progress takes what the ports report. */
export class RoundTimings {
  private readonly rounds = new Map<number, Mutable<CoordinatorRound>>();
  private readonly evaluationStarts = new Map<number, { round: number; atMs: number }>();
  private current: Mutable<CoordinatorRound> | undefined;

  startRound(round: number): void {
    this.current = {
      round,
      startedAtMs: now(),
      committedAtMs: Number.NaN,
      openingMs: 0,
      verificationMs: 0,
      aggregationMs: 0,
      checkpointMs: 0,
      evaluationMs: 0,
    };
    this.rounds.set(round, this.current);
  }

  add(field: "openingMs" | "verificationMs" | "aggregationMs" | "checkpointMs", ms: number): void {
    if (this.current) this.current[field] += ms;
  }

  committed(round: number): void {
    const r = this.rounds.get(round);
    if (r) r.committedAtMs = now();
  }

  startEvaluation(version: number, round: number): void {
    this.evaluationStarts.set(version, { round, atMs: now() });
  }

  settleEvaluation(version: number): void {
    const start = this.evaluationStarts.get(version);
    const r = start && this.rounds.get(start.round);
    if (start && r) r.evaluationMs += now() - start.atMs;
  }

  /** The committed rounds. */
  list(): CoordinatorRound[] {
    return [...this.rounds.values()].filter((r) => Number.isFinite(r.committedAtMs));
  }
}

function timed<T>(run: () => T, record: (ms: number) => void): T {
  const start = performance.now();
  try {
    return run();
  } finally {
    record(performance.now() - start);
  }
}

/**
 * A method's replacement on a proxy; everything else is the object's own, bound to it (so that
 * private fields still work).
 */
function intercept<T extends object>(target: T, overrides: Partial<T>): T {
  return new Proxy(target, {
    get(object, property) {
      if (Object.hasOwn(overrides, property)) return overrides[property as keyof T];
      const value = Reflect.get(object, property, object);
      return typeof value === "function" ? value.bind(object) : value;
    },
  });
}

/** The round's start and commit, the SQLite commit (part of the checkpoint) and the evaluation. */
export function timedStore<S extends FederationStore>(store: S, timings: RoundTimings): S {
  return intercept<FederationStore>(store, {
    startRound: (round) => {
      timings.startRound(round.round);
      store.startRound(round);
    },
    completeRound: (round) => {
      timed(
        () => store.completeRound(round),
        (ms) => timings.add("checkpointMs", ms),
      );
      timings.committed(round.round);
    },
    startEvaluation: (run) => {
      timings.startEvaluation(run.modelVersion, run.round);
      store.startEvaluation(run);
    },
    settleEvaluation: (run) => {
      store.settleEvaluation(run);
      timings.settleEvaluation(run.modelVersion);
    },
  }) as S;
}

/** Writing the checkpoint file (serialise, hash, write, fsync). */
export function timedCheckpoints<F extends ModelFiles>(files: F, timings: RoundTimings): F {
  return intercept<ModelFiles>(files, {
    write: (...args) =>
      timed(
        () => files.write(...args),
        (ms) => timings.add("checkpointMs", ms),
      ),
  }) as F;
}

/** Every round's aggregation: each fold, the aggregate and the server step. */
export function timedStrategy(strategy: Strategy, timings: RoundTimings, folds: { ms: number }): Strategy {
  return intercept(strategy, {
    beginRound: (global) => {
      const aggregation = strategy.beginRound(global);
      const record = (ms: number) => timings.add("aggregationMs", ms);
      return intercept(aggregation, {
        accept: (update) =>
          timed(
            () => aggregation.accept(update),
            (ms) => {
              folds.ms += ms;
              record(ms);
            },
          ),
        aggregate: () => timed(() => aggregation.aggregate(), record),
        step: (aggregate) => timed(() => aggregation.step(aggregate), record),
      });
    },
  });
}

/**
 * Opening (each chunk's decryption as it arrives) and verification (UploadSink.finish: hash,
 * layout, finiteness, stages; the fold into the aggregate inside it counts as aggregation).
 */
export function timedService(
  service: CoordinatorService,
  timings: RoundTimings,
  folds: { ms: number },
): CoordinatorService {
  return intercept(service, {
    beginUpload: (call, header, onEnded) => {
      const sink = service.beginUpload(call, header, onEnded);
      return {
        addChunk: (index, ciphertext) =>
          timed(
            () => sink.addChunk(index, ciphertext),
            (ms) => timings.add("openingMs", ms),
          ),
        finish: async () => {
          const foldsBefore = folds.ms;
          const start = performance.now();
          try {
            await sink.finish();
          } finally {
            timings.add("verificationMs", performance.now() - start - (folds.ms - foldsBefore));
          }
        },
        abort: (reason) => sink.abort(reason),
      } satisfies UploadSink;
    },
  });
}
