import { toBase64 } from "../crypto/encoding.js";
import type { SignedTaskFields } from "../crypto/session-auth.js";
import type { EvaluationStatistics } from "../metrics/evaluation-statistics.js";
import type { EvaluationReport, Heartbeat, HeartbeatAck, UploadHeader } from "./messages.js";
import {
  type SecAggAnswer,
  type SecAggRequest,
  secAggAnswerBody,
  secAggRequestBody,
} from "./secagg-exchange.js";
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
  SecAggExchange: "SecAggExchange",
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
    ...(report.statistics && { statistics: statisticsBody(report.statistics) }),
  }),
  leave: (reason: string) => ({ reason }),
  secAggExchange: (request: SecAggRequest) => secAggRequestBody(request),
} as const;

export const answerBody = {
  heartbeat: (ack: HeartbeatAck) => ({ taskActive: ack.taskActive }),
  secAggExchange: (answer: SecAggAnswer) => secAggAnswerBody(answer),
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

/**
 * The statistics as the MAC covers them: exactly the fields the wire carries, as plain arrays.
 * Built field by field rather than copied, so that a key the wire does not carry (or a typed
 * array, which canonical JSON refuses) on the site's side cannot make the two MACs differ. Every
 * value is a count or an IEEE double that protobuf carries bit for bit, and canonical JSON writes
 * the shortest text that reads back as the same double, so both sides hash the same text.
 */
export function statisticsBody(stats: EvaluationStatistics): EvaluationStatistics {
  const list = (values: ArrayLike<number>) => Array.from(values);
  const confidence = (c: EvaluationStatistics["confidence"]) => ({
    count: list(c.count),
    correct: list(c.correct),
    confidenceSum: list(c.confidenceSum),
  });
  const { bootstrap, temperature } = stats;
  return {
    bins: stats.bins,
    count: stats.count,
    scores: stats.scores.map((h) => ({
      positive: list(h.positive),
      negative: list(h.negative),
      scoreSum: list(h.scoreSum),
    })),
    confidence: confidence(stats.confidence),
    brierSum: stats.brierSum,
    nllSum: stats.nllSum,
    ...(bootstrap && {
      bootstrap: {
        seed: bootstrap.seed,
        bins: bootstrap.bins,
        replicates: bootstrap.replicates.map((r) => ({
          confusion: r.confusion.map(list),
          positive: r.positive.map(list),
          negative: r.negative.map(list),
          ...(r.segmentation && {
            segmentation: {
              images: r.segmentation.images,
              diceSum: r.segmentation.diceSum,
              iouSum: r.segmentation.iouSum,
              intersection: r.segmentation.intersection,
              predicted: r.segmentation.predicted,
              actual: r.segmentation.actual,
            },
          }),
        })),
      },
    }),
    ...(temperature && {
      temperature: {
        temperatures: list(temperature.temperatures),
        validationNllSum: list(temperature.validationNllSum),
        validationCount: temperature.validationCount,
        test: temperature.test.map((t) => ({
          confidence: confidence(t.confidence),
          brierSum: t.brierSum,
          nllSum: t.nllSum,
        })),
      },
    }),
  };
}
