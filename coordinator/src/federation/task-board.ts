import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import { checkHeartbeat } from "../../../shared/src/fl/limits.js";
import type { Heartbeat, HeartbeatAck, PullOutcome } from "../../../shared/src/fl/messages.js";
import { LONG_POLL_MS } from "../../../shared/src/fl/protocol-constants.js";
import type { FlTask } from "../../../shared/src/fl/task.js";
import type { Clock } from "./clock.js";
import { Notifier } from "./notifier.js";

export type TaskStatus = "pending" | "running" | "done" | "failed";

/** A site's task on the board; `status` is live (the board moves it on). */
export interface PostedTask {
  readonly task: FlTask;
  readonly status: TaskStatus;
}

export interface TaskFailure {
  readonly siteId: string;
  readonly reason: string;
}

/** A running task's progress as its site reports it. */
export interface TaskProgress {
  readonly siteId: string;
  readonly round: number;
  readonly kind: FlTask["kind"];
  readonly progress: number;
  readonly status: string;
}

/** One task per sampled site, all for the same round and model version. */
export interface RoundTasks {
  readonly round: number;
  readonly kind: FlTask["kind"];
  readonly deadlineMs: number;
  readonly tasks: ReadonlyMap<string, FlTask>;
}

/** How a round's tasks ended. */
export interface SettledRound {
  readonly done: number;
  readonly failures: readonly TaskFailure[];
}

interface Entry {
  readonly siteId: string;
  readonly task: FlTask;
  status: TaskStatus;
}

interface OpenRound extends Omit<RoundTasks, "tasks"> {
  readonly tasks: Map<string, Entry>;
  readonly failures: TaskFailure[];
  readonly settled: () => void;
  readonly whenSettled: Promise<void>;
}

/**
 * The open round's tasks: who has which, how far each is, and when the round stops waiting.
 * Sites long-poll it for work; a task ends done (its result arrived), or failed (deadline, lost
 * site, rejected update, the site gave up). The round is settled when every task has ended.
 */
export class TaskBoard {
  private open: OpenRound | undefined;
  private finished: { reason: string } | undefined;
  private readonly changes: Notifier;

  constructor(
    private readonly options: {
      readonly clock: Clock;
      readonly log: (line: string) => void;
      readonly onProgress?: (progress: TaskProgress) => void;
    },
  ) {
    this.changes = new Notifier(options.clock);
  }

  /** Opens a round: its tasks are handed out from now on. */
  post(round: RoundTasks): void {
    let settled!: () => void;
    const whenSettled = new Promise<void>((resolve) => {
      settled = resolve;
    });
    const tasks = new Map<string, Entry>();
    for (const [siteId, task] of round.tasks) tasks.set(siteId, { siteId, task, status: "pending" });
    this.open = { ...round, tasks, failures: [], settled, whenSettled };
    this.changes.notify();
  }

  /**
   * Waits until every task of the open round has ended or its deadline passed (the rest then
   * fail), and closes the round. FlError(FailedPrecondition) once `signal` aborts: the round is
   * left for a restart to run again.
   */
  async settle(signal: AbortSignal): Promise<SettledRound> {
    const open = this.open;
    if (!open) throw new FlError(ErrorCode.Internal, "no round is open");
    let cancel = () => {};
    let onAbort = () => {};
    await Promise.race([
      open.whenSettled,
      new Promise<void>((resolve) => {
        cancel = this.options.clock.after(Math.max(0, open.deadlineMs - this.options.clock.now()), resolve);
        onAbort = resolve;
        signal.addEventListener("abort", onAbort);
        if (signal.aborted) resolve();
      }),
    ]);
    cancel();
    signal.removeEventListener("abort", onAbort);
    if (signal.aborted) throw new FlError(ErrorCode.FailedPrecondition, "stopped");
    for (const entry of open.tasks.values()) {
      if (entry.status === "pending" || entry.status === "running") {
        this.failEntry(
          open,
          entry,
          `no result before the deadline (${entry.status === "pending" ? "task never picked up" : "still working"})`,
        );
      }
    }
    if (this.open === open) this.open = undefined;
    const done = [...open.tasks.values()].filter((e) => e.status === "done").length;
    return { done, failures: open.failures };
  }

  /** The site's task in the open round, if it has one. */
  taskOf(siteId: string): PostedTask | undefined {
    return this.open?.tasks.get(siteId);
  }

  /** The site's result arrived. */
  complete(siteId: string): void {
    const open = this.open;
    const entry = open?.tasks.get(siteId);
    if (!open || !entry || entry.status === "done" || entry.status === "failed") return;
    entry.status = "done";
    this.checkSettled(open);
  }

  /** The site's task in the open round ends without a result; no-op when it has none open. */
  fail(siteId: string, reason: string): void {
    const open = this.open;
    const entry = open?.tasks.get(siteId);
    if (open && entry) this.failEntry(open, entry, reason);
  }

  /** A site that rejoins mid-task (a restarted client) gets the same task again. */
  rejoined(siteId: string): void {
    const entry = this.open?.tasks.get(siteId);
    if (entry?.status === "running") entry.status = "pending";
    this.changes.notify();
  }

  /** Liveness and progress of a running task; a `failure` ends the task as failed. */
  heartbeat(siteId: string, received: Heartbeat): HeartbeatAck {
    const beat = checkHeartbeat(received);
    const open = this.open;
    const entry = open?.tasks.get(siteId);
    if (!open || !entry || entry.task.taskId !== beat.taskId || entry.status !== "running")
      return { taskActive: false };
    if (beat.failure) {
      this.failEntry(open, entry, `the site gave up: ${beat.failure}`);
      return { taskActive: false };
    }
    this.options.onProgress?.({
      siteId,
      round: open.round,
      kind: open.kind,
      progress: Math.max(0, Math.min(1, beat.progress)),
      status: beat.status,
    });
    return { taskActive: true };
  }

  /**
   * Long-poll: resolves with the site's task as soon as there is one, "done" once the plan is
   * over, or "wait" after `waitMs`. `stillValid` runs after each wake and throws when the
   * caller's session ended meanwhile.
   */
  async pull(
    siteId: string,
    waitMs: number,
    options: { readonly signal?: AbortSignal; readonly stillValid?: () => void } = {},
  ): Promise<PullOutcome> {
    const { clock } = this.options;
    // Held no longer than a long-poll, whatever the site asks for: the heartbeat timeout is
    // validated against that length, so an idle site is never swept while it waits here.
    const deadline = clock.now() + Math.min(waitMs, LONG_POLL_MS);
    for (;;) {
      if (this.finished) return { kind: "done", reason: this.finished.reason };
      const entry = this.open?.tasks.get(siteId);
      if (entry?.status === "pending") {
        entry.status = "running";
        return { kind: "task", task: entry.task };
      }
      const left = deadline - clock.now();
      if (left <= 0 || options.signal?.aborted) {
        return {
          kind: "wait",
          retryAfterMs: 0,
          reason: entry?.status === "running" ? "task in progress" : "no task for this site now",
        };
      }
      await this.changes.wait(left, options.signal);
      options.stillValid?.();
    }
  }

  /** The plan is over: every long-poll answers "done" from now on. */
  finish(reason: string): void {
    this.finished = { reason };
    this.changes.notify();
  }

  private failEntry(open: OpenRound, entry: Entry, reason: string): void {
    if (entry.status === "done" || entry.status === "failed") return;
    entry.status = "failed";
    open.failures.push({ siteId: entry.siteId, reason });
    this.options.log(`round ${open.round}: ${entry.siteId} failed its ${open.kind} task: ${reason}`);
    this.checkSettled(open);
  }

  private checkSettled(open: OpenRound): void {
    if ([...open.tasks.values()].every((e) => e.status === "done" || e.status === "failed")) open.settled();
  }
}
