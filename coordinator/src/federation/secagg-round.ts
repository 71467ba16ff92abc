import { randomBytes } from "node:crypto";
import { toHex } from "../../../shared/src/crypto/encoding.js";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import { LONG_POLL_MS } from "../../../shared/src/fl/protocol-constants.js";
import { secAggMean } from "../../../shared/src/fl/secagg-contribution.js";
import {
  decodeMaskedPayload,
  envelop,
  type SecAggAnswer,
  type SecAggRequest,
} from "../../../shared/src/fl/secagg-exchange.js";
import type { TaskSpec } from "../../../shared/src/fl/task.js";
import {
  createSecAggParams,
  createSecAggServer,
  decodeSum,
  type SecAggAbort,
  type SecAggFault,
  type SecAggParams,
  SecAggReason,
  type SecAggResult,
  type SecAggServer,
  type ServerMessage,
  type ServerStep,
} from "../../../shared/src/secagg/index.js";
import { type SecAggPlanParts, type SecureAggregationConfig, secAggCodec } from "../secagg-config.js";
import type { Cancel, Clock } from "./clock.js";
import { Notifier } from "./notifier.js";
import type { TaskBoard } from "./task-board.js";

/**
 * Secure aggregation of one training round over the federation's transport: the pure server
 * (shared/src/secagg/server.ts) driven by the sites' SecAggExchange calls and masked uploads,
 * with a deadline per stage and the task board's failures as dropouts. It owns the round's
 * tasks on the board: a site's task is done once the sum it is part of is unmasked, and fails
 * when the site drops out, is left out, or the round aborts. The round runner only opens it and,
 * after the board settles, takes the mean it gives (or the reason it aborted).
 *
 * The stages run after training (every site's update is ready by then), in the time the round
 * has left: advertising keys may take until the round deadline less three stage timeouts, and
 * each later stage one stage timeout. Nothing survives a coordinator restart: the round runs
 * again with a fresh session, fresh keys and a fresh graph.
 */
export interface SecAggRoundOptions {
  readonly round: number;
  readonly attempt: number;
  readonly cohort: readonly string[];
  /** The phase's shared values; the vector is one longer (the weight coordinate). */
  readonly sharedLength: number;
  /**
   * Divides a site's example count into its weight (≤ 1): the most any site of the cohort
   * declared; 1 under distributed DP, whose sites weigh their update 1.
   */
  readonly weightScale: number;
  /** The ring's codec (secAggCodec: the plan's clip, raised for distributed DP's noise). */
  readonly codec: { readonly clip: number; readonly fracBits: number };
  /** When the board stops waiting for the round's tasks. */
  readonly deadlineMs: number;
  readonly config: SecureAggregationConfig;
  readonly board: TaskBoard;
  readonly clock: Clock;
  readonly log: (line: string) => void;
}

/** How a secure-aggregation round ended, for the round runner. */
export type SecAggOutcome =
  | {
      readonly kind: "sum";
      readonly meanDelta: Float32Array;
      readonly count: number;
      readonly totalExamples: number;
      readonly survivors: readonly string[];
      readonly dropped: readonly string[];
      readonly faults: readonly SecAggFault[];
    }
  | { readonly kind: "aborted"; readonly reason: string; readonly faults: readonly SecAggFault[] };

/** How often the board is looked at for sites that dropped out mid-stage. */
const DROPOUT_POLL_MS = 200;

export class SecAggRound {
  readonly params: SecAggParams;
  private readonly server: SecAggServer;
  private readonly outbox = new Map<string, ServerMessage>();
  private readonly ended = new Map<string, string>();
  private readonly changes: Notifier;
  /** Sites in the round at the current stage, and those that answered it. */
  private members: Set<string>;
  private answered = new Set<string>();
  private cancelStage: Cancel = () => {};
  private readonly cancelPoll: Cancel;
  private closed = false;

  constructor(private readonly options: SecAggRoundOptions) {
    const { config, clock } = options;
    this.params = createSecAggParams({
      session: `${options.round}.${options.attempt}.${toHex(randomBytes(12))}`,
      round: options.round,
      cohort: options.cohort,
      vectorLength: options.sharedLength + 1,
      graphSeed: toHex(randomBytes(32)),
      clip: options.codec.clip,
      fracBits: options.codec.fracBits,
      ...(config.degree !== undefined && { degree: config.degree }),
      ...(config.threshold !== undefined && { threshold: config.threshold }),
      ...(config.minSurvivors !== undefined && { minSurvivors: config.minSurvivors }),
    });
    this.server = createSecAggServer(this.params);
    this.changes = new Notifier(clock);
    this.members = new Set(options.cohort);
    const stageMs = config.stageTimeoutSec * 1000;
    this.armStage(Math.max(0, options.deadlineMs - 3 * stageMs - clock.now()));
    this.cancelPoll = clock.every(DROPOUT_POLL_MS, () => this.closeIfOnlyDropoutsLeft());
  }

  get weightScale(): number {
    return this.options.weightScale;
  }

  get stage(): SecAggServer["stage"] {
    return this.server.stage;
  }

  /**
   * One SecAggExchange call of `siteId` (already authenticated): its message, if any, goes to
   * the server; then the next message for it, "ended", or "wait" after `waitMs`. Throws the
   * protocol's refusal (a SecAggError) for a message the server refuses.
   */
  async exchange(siteId: string, request: SecAggRequest, signal?: AbortSignal): Promise<SecAggAnswer> {
    if (!this.params.cohort.includes(siteId))
      throw new FlError(
        ErrorCode.WrongRound,
        `"${siteId}" is not in the secure-aggregation cohort of round ${this.params.round}`,
      );
    if (request.awaiting === "setup")
      return { kind: "setup", params: this.params, weightScale: this.options.weightScale };
    if (request.session !== this.params.session)
      throw new FlError(
        ErrorCode.WrongRound,
        `secure-aggregation session ${request.session} is not this attempt's (${this.params.session}): the round was started again; fetch its setup`,
      );
    if (request.message) {
      const { session, round } = this.params;
      const message = envelop(request.message, { session, round, from: siteId });
      if (
        message.type === "advertise-keys" ||
        message.type === "share-keys" ||
        message.type === "unmask-response"
      )
        this.apply(this.server.receive(message), siteId);
    }
    const deadline = this.options.clock.now() + Math.min(request.waitMs, LONG_POLL_MS);
    for (;;) {
      const ended = this.ended.get(siteId);
      if (ended !== undefined) return { kind: "ended", reason: ended };
      const next = this.outbox.get(siteId);
      if (next?.type === request.awaiting) {
        const { session: _session, round: _round, ...message } = next;
        return { kind: "message", message };
      }
      const left = deadline - this.options.clock.now();
      if (left <= 0 || signal?.aborted) return { kind: "wait" };
      await this.changes.wait(left, signal);
    }
  }

  /** A verified masked upload of `siteId`: its input folds into the running sum. */
  submitMasked(siteId: string, plaintext: Uint8Array): void {
    const payload = decodeMaskedPayload(plaintext, this.params.vectorLength);
    this.apply(
      this.server.receive({
        type: "masked-input",
        session: payload.session,
        round: payload.round,
        from: siteId,
        masked: payload.masked,
        complaints: payload.complaints,
      }),
      siteId,
    );
  }

  /**
   * The board has settled or the round is over: what came of it. A round still running (the
   * board's deadline passed first) aborts here, so that nothing of its sum is released.
   */
  close(): SecAggOutcome {
    if (!this.server.result && !this.server.abort && !this.closed)
      this.apply({
        send: [],
        abort: this.abortHere("the round's deadline passed before the sum was unmasked"),
      });
    this.stop();
    const faults = this.server.faults;
    const result = this.server.result;
    if (!result) {
      const reason = this.server.abort?.message ?? this.localAbort ?? "secure aggregation did not complete";
      return { kind: "aborted", reason, faults };
    }
    return { kind: "sum", ...this.meanOf(result), faults };
  }

  private localAbort: string | undefined;

  private abortHere(message: string): SecAggAbort {
    this.localAbort = `secure aggregation aborted at ${this.server.stage}: ${message}`;
    return { stage: this.server.stage, reason: SecAggReason.BelowThreshold, message: this.localAbort };
  }

  private meanOf(result: SecAggResult) {
    const { meanDelta, totalWeight } = secAggMean(decodeSum(result.sum, this.params), this.params.clip);
    return {
      meanDelta,
      count: result.count,
      totalExamples: Math.round(totalWeight * this.options.weightScale),
      survivors: result.survivors,
      dropped: result.dropped,
    };
  }

  private stop(): void {
    this.closed = true;
    this.cancelStage();
    this.cancelPoll();
    this.changes.notify();
  }

  private armStage(ms: number): void {
    this.cancelStage();
    this.cancelStage = this.options.clock.after(ms, () => {
      if (this.closed) return;
      this.options.log(
        `round ${this.params.round}: secure-aggregation stage ${this.server.stage} timed out; going on with those who answered`,
      );
      this.apply(this.server.closeStage());
    });
  }

  /** Everyone still expected at this stage has dropped (their task failed on the board): close it now. */
  private closeIfOnlyDropoutsLeft(): void {
    if (this.closed || this.server.result || this.server.abort) return;
    const waiting = [...this.members].filter((site) => !this.answered.has(site));
    if (waiting.length === 0) return;
    const gone = waiting.filter((site) => {
      const posted = this.options.board.taskOf(site);
      return !posted || posted.status === "failed" || posted.status === "done";
    });
    if (gone.length === waiting.length) {
      this.options.log(
        `round ${this.params.round}: ${gone.join(", ")} dropped out at secure-aggregation stage ${this.server.stage}`,
      );
      this.apply(this.server.closeStage());
    }
  }

  /** Takes a server step: messages out, the stage's members, and the board's tasks at the end. */
  private apply(step: ServerStep, from?: string): void {
    if (from !== undefined) this.answered.add(from);
    const { board, log, config } = this.options;
    if (step.send.length > 0) {
      const next = new Set(step.send.map((o) => o.to));
      for (const site of this.members)
        if (!next.has(site))
          this.leaveOut(site, `left out of secure aggregation at stage ${this.server.stage}`);
      for (const { to, message } of step.send) this.outbox.set(to, message);
      this.members = next;
      this.answered = new Set();
      this.armStage(config.stageTimeoutSec * 1000);
    }
    if (step.abort) {
      log(`round ${this.params.round}: ${step.abort.message}`);
      for (const site of this.params.cohort) {
        if (!this.ended.has(site)) this.ended.set(site, step.abort.message);
        board.fail(site, step.abort.message);
      }
      this.stop();
    } else if (step.result) {
      const survivors = new Set(step.result.survivors);
      for (const site of this.params.cohort) {
        if (survivors.has(site)) board.complete(site);
        else this.leaveOut(site, "its masked input is not in the sum (it dropped out)");
        if (!this.ended.has(site)) this.ended.set(site, "the sum is unmasked");
      }
      log(`round ${this.params.round}: secure aggregation unmasked the sum of ${step.result.count} sites`);
      this.stop();
    }
    this.changes.notify();
  }

  private leaveOut(site: string, reason: string): void {
    if (this.ended.has(site)) return;
    this.ended.set(site, reason);
    this.options.board.fail(site, reason);
  }
}

/** The round open now, if it runs secure aggregation: what the transport and the intake reach. */
export class SecAggRounds {
  private current: SecAggRound | undefined;

  open(round: SecAggRound): void {
    this.current = round;
  }

  close(): SecAggOutcome | undefined {
    const round = this.current;
    this.current = undefined;
    return round?.close();
  }

  /** The open round for `round`; FlError(WrongRound) when that round is not running secure aggregation. */
  of(round: number): SecAggRound {
    const current = this.current;
    if (!current || current.params.round !== round)
      throw new FlError(
        ErrorCode.WrongRound,
        `round ${round} is not running secure aggregation now${current ? ` (round ${current.params.round} is)` : ""}`,
      );
    return current;
  }

  get active(): SecAggRound | undefined {
    return this.current;
  }
}

/**
 * Opens a round's secure aggregation when the plan has it (undefined otherwise), registered
 * where the transport and the intake reach it. The weight scale is the most training examples
 * any sampled site declared, so that every site's weight is at most 1; under distributed DP it
 * is 1, every site's weight.
 */
export function openSecAggRound(
  runner: {
    readonly plan: SecAggPlanParts & {
      readonly secureAggregation?: SecureAggregationConfig | undefined;
      readonly roundTimeoutSec: number;
    };
    readonly secagg?: SecAggRounds;
    readonly sessions: { declaredTrainingExamples(siteId: string): number | undefined };
    readonly board: TaskBoard;
    readonly clock: Clock;
    readonly log: (line: string) => void;
  },
  round: {
    readonly round: number;
    readonly attempt: number;
    readonly sampled: readonly string[];
    readonly sharedLength: number;
    readonly coordinatorStages: readonly { readonly name: string }[];
  },
): SecAggRound | undefined {
  const config = runner.plan.secureAggregation;
  if (!config) return undefined;
  if (!runner.secagg)
    throw new FlError(
      ErrorCode.Internal,
      "the plan asks for secure aggregation but the coordinator has no place for it",
    );
  if (round.coordinatorStages.length > 0)
    throw new FlError(
      ErrorCode.InvalidConfig,
      `pipeline stages ${round.coordinatorStages.map((s) => s.name).join(", ")} check each update on the coordinator, ` +
        "which sees only masked inputs under secure aggregation; drop them from the phase or drop secureAggregation",
    );
  const declared = round.sampled.map((site) => runner.sessions.declaredTrainingExamples(site) ?? 0);
  const distributedDp = runner.plan.privacy?.dp?.mode === "distributed";
  const secagg = new SecAggRound({
    round: round.round,
    attempt: round.attempt,
    cohort: round.sampled,
    sharedLength: round.sharedLength,
    weightScale: distributedDp ? 1 : Math.max(1, ...declared),
    codec: secAggCodec(config, runner.plan),
    deadlineMs: runner.clock.now() + runner.plan.roundTimeoutSec * 1000,
    config,
    board: runner.board,
    clock: runner.clock,
    log: runner.log,
  });
  runner.secagg.open(secagg);
  return secagg;
}

/** The round's training task, saying that the coordinator will see only the cohort's sum. */
export function withSecAgg(task: TaskSpec, secureAggregation: boolean): TaskSpec {
  if (task.kind !== "train" || !secureAggregation) return task;
  return { kind: "train", spec: { ...task.spec, privacy: { ...task.spec.privacy, secureAggregation } } };
}
