/** Timestamped log lines to a stream (stderr by default): `2026-11-29T05:00:00.000Z coordinator  message`. */
export function lineLogger(
  name: string,
  write: (text: string) => void = (t) => process.stderr.write(t),
): (line: string) => void {
  return (line) => write(`${new Date().toISOString()} ${name.padEnd(12)} ${line}\n`);
}
