import { toBase64 } from "../crypto/encoding.js";
import type { SignedTaskFields } from "../crypto/session-auth.js";
import type { EvaluationReport, Heartbeat, HeartbeatAck, UploadHeader } from "./messages.js";
import { encodeTaskSpec, type FlTask } from "./task.js";

/**
 * What the MAC of each session call covers: the method's name as in the proto service and the
 * call's body, built by both sides from the same domain values with these functions, so that the
 * two agree by construction. docs/protocol.md lists them for independent clients.
 */
export const SessionMethod = {
  PullTask: "PullTask",
  Heartbeat: "Heartbeat",
  DownloadModel: "DownloadModel",
  UploadUpdate: "UploadUpdate",
  ReportEvaluation: "ReportEvaluation",
  Leave: "Leave",
} as const;
export type SessionMethod = (typeof SessionMethod)[keyof typeof SessionMethod];

export const callBody = {
  pullTask: (waitMs: number) => ({ waitMs }),
  /** proto3 has no absent string: an empty failure is no failure, on both sides. */
  heartbeat: (beat: Heartbeat) => ({
    taskId: beat.taskId,
    progress: beat.progress,
    status: beat.status,
    ...(beat.failure && { failure: beat.failure }),
  }),
  downloadModel: (modelVersion: number) => ({ modelVersion }),
  /** The manifest is signed by the site already; the MAC binds the rest of the header to the session. */
  uploadUpdate: (header: Pick<UploadHeader, "signature" | "trainMetrics">) => ({
    manifestSignature: toBase64(header.signature),
    trainMetrics: { ...header.trainMetrics },
  }),
  reportEvaluation: (report: EvaluationReport) => ({
    taskId: report.taskId,
    round: report.round,
    modelVersion: report.modelVersion,
    split: report.split,
    numExamples: report.numExamples,
    confusion: report.confusion.map((row) => [...row]),
    metrics: { ...report.metrics },
  }),
  leave: (reason: string) => ({ reason }),
} as const;

export const answerBody = {
  heartbeat: (ack: HeartbeatAck) => ({ taskActive: ack.taskActive }),
} as const;

/** A task's fields as they travel and are signed: its spec as the JSON string sent. */
export function signedTaskFields(task: FlTask): SignedTaskFields {
  return {
    taskId: task.taskId,
    round: task.round,
    phase: task.phase,
    kind: task.kind,
    modelVersion: task.modelVersion,
    modelSha256: task.modelSha256,
    modelBytes: task.modelBytes,
    configJson: encodeTaskSpec(task),
    deadlineMs: task.deadlineMs,
  };
}
