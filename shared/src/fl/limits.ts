import { IDENTITY_ID_PATTERN } from "../crypto/keys.js";
import { type UpdateManifest, validateUpdateManifest } from "../crypto/update-manifest.js";
import { ErrorCode, FlError, isFlError } from "../errors.js";
import { checkStatistics } from "../metrics/pool-statistics.js";
import type { EvaluationReport, Heartbeat, SiteInfo } from "./messages.js";
import { EvaluateTaskSchema } from "./task.js";

/**
 * The bounds on what a site sends. Every string from a site ends up in a log line, an event, the
 * state database or an error echoed back over the wire, so each is checked here, once, before the
 * coordinator acts on it: an unbounded or multi-line value could exhaust memory, forge a log line
 * or produce a gRPC trailer that clients refuse. What these functions quote is itself bounded.
 */

/** Task, upload and federation ids: UUIDs and config names fit easily. */
export const MAX_ID_CHARS = 64;
/** Ids are echoed in errors, logs and NATS subjects: a plain charset, no spaces or separators. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** `SiteInfo.backend` and `clientVersion` (e.g. "tensorflow", "0.4.1"). */
export const MAX_INFO_CHARS = 64;
/** Classes a site may declare counts for. */
export const MAX_CLASSES = 1024;
/** Training or evaluation metrics in one message. */
export const MAX_METRICS = 256;
export const MAX_METRIC_KEY_CHARS = 64;
/** Metric names like `auc.negative`, `seg.diceSum`, `train.loss`. */
export const METRIC_KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** A heartbeat's progress status (e.g. "downloading", "epoch 3/5"). */
export const MAX_STATUS_CHARS = 64;
/** A site's failure reason and a leave reason, as recorded and published. */
export const MAX_REASON_CHARS = 500;
/** An error message sent over the wire (the gRPC status details, a trailer). */
export const MAX_ERROR_MESSAGE_CHARS = 1024;
/** All the wire says of an FL_INTERNAL error: its text (SQL, paths, stacks) stays in the log. */
export const INTERNAL_ERROR_MESSAGE = "internal error (see the coordinator's log)";
/** How much of an offending value an error message quotes. */
const MAX_QUOTED_CHARS = 40;

/** The splits a site may report an evaluation of. */
export const EVALUATION_SPLITS: readonly string[] = EvaluateTaskSchema.shape.split.unwrap().options;

/** Control and format characters (newlines, escapes, bidi overrides): none may reach a log line. */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
const UNPRINTABLE_ALL = new RegExp(UNPRINTABLE.source, "gu");

/** At most `max` characters, with an ellipsis when cut; never splits a surrogate pair. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max - 1).replace(/[\uD800-\uDBFF]$/, "")}…`;
}

/** Bounded and on one line: unprintable characters become spaces. For text kept as information. */
export function sanitiseText(text: string, max: number): string {
  return truncate(text, max).replace(UNPRINTABLE_ALL, " ");
}

/** A value quoted in an error message: short, printable, in quotes. */
export function quote(value: string): string {
  return JSON.stringify(sanitiseText(value, MAX_QUOTED_CHARS));
}

/**
 * What a site tells the coordinator when it gives up on a task: the error code and a bounded,
 * one-line message. An unexpected error (not an FlError) may carry internal text (paths, data),
 * so only its code leaves the site; the site's own log has the details.
 */
export function failureReport(error: unknown): string {
  if (!isFlError(error) || error.code === ErrorCode.Internal)
    return `${ErrorCode.Internal}: internal error (see the site's log)`;
  return sanitiseText(`${error.code}: ${error.message}`, MAX_REASON_CHARS);
}

/** FlError(InvalidArgument) unless `value` is an id of at most `max` characters of `pattern`. */
export function checkId(
  what: string,
  value: string,
  pattern: RegExp = ID_PATTERN,
  max: number = MAX_ID_CHARS,
): void {
  if (value.length === 0 || value.length > max || !pattern.test(value))
    throw invalid(
      `${what} ${quote(value)} (${value.length} characters) must be 1–${max} letters, digits, '.', '-' or '_'`,
    );
}

/** A site id as enrolled: the key files' id pattern (63 characters at most). */
export function checkSiteId(siteId: string): void {
  checkId("site id", siteId, IDENTITY_ID_PATTERN, 63);
}

/**
 * The strings of an update manifest, checked before its signature: the errors that follow quote
 * them. (Its numbers are checked by the upload verifier.)
 */
function checkManifestStrings(manifest: UpdateManifest): void {
  checkSiteId(manifest.siteId);
  checkId("federation id", manifest.federationId);
  checkId("task id", manifest.taskId);
  checkId("upload id", manifest.uploadId);
  if (!/^[0-9a-f]{64}$/.test(manifest.contentSha256))
    throw invalid(`content sha256 ${quote(manifest.contentSha256)} must be 64 lower-case hex digits`);
  if (typeof manifest.noncePrefix !== "string" || manifest.noncePrefix.length > MAX_NONCE_PREFIX_CHARS)
    throw invalid(`nonce prefix must be base64 of 16 bytes (${MAX_NONCE_PREFIX_CHARS} characters)`);
}

/** Base64 of the 16-byte nonce prefix, with padding. */
const MAX_NONCE_PREFIX_CHARS = 24;

/**
 * Every field of an update manifest, before its signature is checked: bounded strings, then each
 * field's type and range (`numExamples` ≥ 1, counts non-negative integers). A malformed manifest
 * is FlError(InvalidArgument) naming the field, not a signature failure: a client that signed a
 * bad value learns which one it was.
 */
export function checkManifestFields(manifest: UpdateManifest): void {
  checkManifestStrings(manifest);
  try {
    validateUpdateManifest(manifest);
  } catch (error) {
    throw invalid(sanitiseText(isFlError(error) ? error.message : String(error), MAX_REASON_CHARS));
  }
}

/** Bounded, printable text (no newline can forge a log line). */
export function checkText(what: string, value: string, max: number): void {
  if (value.length > max)
    throw invalid(`${what} ${quote(value)} is ${value.length} characters; at most ${max}`);
  if (UNPRINTABLE.test(value)) throw invalid(`${what} ${quote(value)} contains control characters`);
}

export function checkSiteInfo(info: SiteInfo): void {
  checkText("backend", info.backend, MAX_INFO_CHARS);
  checkText("clientVersion", info.clientVersion, MAX_INFO_CHARS);
  if (info.trainClassCounts.length > MAX_CLASSES)
    throw invalid(`${info.trainClassCounts.length} class counts; at most ${MAX_CLASSES}`);
  for (const [c, count] of info.trainClassCounts.entries()) checkCount(`class count ${c}`, count);
  checkCount("unlabelled count", info.trainUnlabelledCount);
  checkCount("validation count", info.validationCount);
  checkCount("test count", info.testCount);
}

/** At most MAX_METRICS finite values under plain, bounded names. */
export function checkMetrics(what: string, metrics: Readonly<Record<string, number>>): void {
  const entries = Object.entries(metrics);
  if (entries.length > MAX_METRICS) throw invalid(`${entries.length} ${what}; at most ${MAX_METRICS}`);
  for (const [key, value] of entries) {
    if (key.length > MAX_METRIC_KEY_CHARS || !METRIC_KEY_PATTERN.test(key))
      throw invalid(
        `${what} name ${quote(key)} must be 1–${MAX_METRIC_KEY_CHARS} letters, digits, '.', '-' or '_'`,
      );
    if (!Number.isFinite(value)) throw invalid(`${what} ${quote(key)} is ${String(value)}; must be finite`);
  }
}

/** The strings of an evaluation report (its matrix is checked by the evaluation intake). */
export function checkEvaluationReport(report: EvaluationReport): void {
  checkId("task id", report.taskId);
  if (!EVALUATION_SPLITS.includes(report.split))
    throw invalid(`evaluation split ${quote(report.split)} is not one of ${EVALUATION_SPLITS.join(", ")}`);
  checkMetrics("evaluation metrics", report.metrics);
}

/**
 * A report's statistics, once its confusion matrix is known to be numClasses × numClasses of
 * numExamples: the shapes, counts and sums checkStatistics asks for. The error says the
 * statistics were at fault, so a site whose matrix is fine knows where to look.
 */
export function checkReportStatistics(report: EvaluationReport, numClasses: number): void {
  if (!report.statistics) return;
  try {
    checkStatistics(report.statistics, numClasses, report.numExamples);
  } catch (error) {
    const message = isFlError(error) ? error.message : String(error);
    throw invalid(`evaluation statistics refused: ${sanitiseText(message, MAX_REASON_CHARS)}`);
  }
}

/** Checks a heartbeat's task id and status; its failure reason is kept, sanitised and bounded. */
export function checkHeartbeat(beat: Heartbeat): Heartbeat {
  checkId("task id", beat.taskId);
  checkText("heartbeat status", beat.status, MAX_STATUS_CHARS);
  if (!Number.isFinite(beat.progress))
    throw invalid(`heartbeat progress is ${beat.progress}; must be finite`);
  return beat.failure === undefined
    ? beat
    : { ...beat, failure: sanitiseText(beat.failure, MAX_REASON_CHARS) };
}

function checkCount(what: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0)
    throw invalid(`${what} is ${String(value)}; must be a non-negative integer`);
}

function invalid(message: string): FlError {
  return new FlError(ErrorCode.InvalidArgument, message);
}
