import { pino } from "pino";

/** Timestamped log lines to a stream (stderr by default): `2026-11-29T05:00:00.000Z coordinator  message`. */
export function lineLogger(
  name: string,
  write: (text: string) => void = (t) => process.stderr.write(t),
): (line: string) => void {
  return (line) => write(`${new Date().toISOString()} ${name.padEnd(12)} ${line}\n`);
}

export type LogLevel = "debug" | "info" | "warn" | "error";

/** Fields that never reach the output, wherever a caller puts them (pino's redact paths). */
export const REDACTED_FIELDS = [
  "token",
  "*.token",
  "sessionToken",
  "*.sessionToken",
  "authorization",
  "*.authorization",
  "*.headers.authorization",
  "password",
  "*.password",
  "secretKey",
  "*.secretKey",
  "privateKey",
  "*.privateKey",
];

/** Secrets inside a message's text: bearer credentials, operator tokens, `token=…`-style values. */
const SECRET_PATTERNS: readonly [RegExp, string][] = [
  [/\b(Bearer\s+)\S+/gi, "$1[redacted]"],
  [/\bfla_[A-Za-z0-9_-]{8,}/g, "[redacted]"],
  [
    /\b((?:session[ _-]?)?(?:token|password|secret|secret[ _-]?key|private[ _-]?key)\s*[=:]\s*)[^\s,;]+/gi,
    "$1[redacted]",
  ],
];

export function redactSecrets(line: string): string {
  return SECRET_PATTERNS.reduce((text, [pattern, replacement]) => text.replace(pattern, replacement), line);
}

/**
 * The level of one of the coordinator's lines. Its modules log plain lines, so the level comes
 * from their words: "WARNING: …" and refusals, failures and rejections are warnings, the
 * federation's own failure and internal errors are errors.
 */
export function levelOf(line: string): Exclude<LogLevel, "debug"> {
  if (/^federation failed\b|inside the coordinator/i.test(line)) return "error";
  if (/^WARNING\b|\b(failed|refused|rejected|not published|cannot|unreachable)\b/i.test(line)) return "warn";
  return "info";
}

/**
 * A `log(line)` function through pino: levels (`level` drops what is below it), secrets redacted,
 * and one JSON object a line when the stream is not a terminal (`format: "auto"`), or the
 * timestamped text of `lineLogger` when it is. The line's text is the record's `msg`.
 */
export function structuredLogger(
  name: string,
  options: {
    readonly level?: LogLevel;
    readonly format?: "auto" | "json" | "text";
    readonly stream?: { write(text: string): unknown; readonly isTTY?: boolean };
  } = {},
): (line: string) => void {
  const stream = options.stream ?? process.stderr;
  const format = options.format ?? "auto";
  const text = format === "text" || (format === "auto" && stream.isTTY === true);
  const destination = text
    ? {
        write(json: string) {
          const record = JSON.parse(json) as { time: string; msg: string };
          stream.write(`${record.time} ${name.padEnd(12)} ${record.msg}\n`);
        },
      }
    : { write: (json: string) => stream.write(json) };
  const logger = pino(
    {
      name,
      level: options.level ?? "info",
      redact: { paths: REDACTED_FIELDS, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
  return (line) => {
    const msg = redactSecrets(line);
    logger[levelOf(msg)](msg);
  };
}
