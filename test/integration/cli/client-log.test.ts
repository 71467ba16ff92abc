import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

// `fl client` logs through pino like the coordinator: JSON records when stderr is not a terminal,
// the timestamped text lines when asked (or on a terminal), and `log.level` drops lower lines.
const FL = fileURLToPath(new URL("../../../bin/fl.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "fl-client-log-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Starts `fl client --insecure` on a config that fails after its first log line (no identity file). */
function client(name: string, log?: Record<string, unknown>) {
  const path = join(dir, `${name}.json`);
  writeFileSync(
    path,
    JSON.stringify({
      siteId: "st-marys",
      federationId: "f",
      coordinator: "127.0.0.1:1",
      identity: "missing.identity.json",
      coordinatorPublicKey: "coordinator.public.json",
      data: { kind: "synthetic", preset: "3-hospitals" },
      workDir: "work",
      ...(log && { log }),
    }),
  );
  const run = spawnSync(process.execPath, [FL, "client", "--config", path, "--insecure"], {
    encoding: "utf8",
    timeout: 60_000,
  });
  expect(run.status).toBe(1);
  expect(run.stderr).toContain("cannot read identity file");
  return run.stderr.split("\n").filter((line) => line.includes("WARNING"));
}

describe("fl client's log", () => {
  it("is one JSON record a line by default when stderr is not a terminal", () => {
    const [line] = client("default");
    const record = JSON.parse(line ?? "") as Record<string, unknown>;
    expect(record).toMatchObject({ level: "warn", name: "st-marys" });
    expect(record.msg).toMatch(/^WARNING: insecure: true: dialling the coordinator without TLS/);
    expect(Number.isNaN(Date.parse(String(record.time)))).toBe(false);
  });

  it("is timestamped text with log.format: text", () => {
    const lines = client("text", { format: "text" });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z st-marys +WARNING: insecure: true: dialling the coordinator/,
    );
  });

  it("drops lines below log.level, and refuses an unknown level naming the key", () => {
    expect(client("quiet", { level: "error" })).toEqual([]);
    const bad = join(dir, "bad.json");
    writeFileSync(
      bad,
      JSON.stringify({
        siteId: "s",
        federationId: "f",
        coordinator: "127.0.0.1:1",
        identity: "i",
        coordinatorPublicKey: "c",
        insecure: true,
        data: {},
        workDir: "w",
        log: { level: "loud" },
      }),
    );
    const run = spawnSync(process.execPath, [FL, "client", "--config", bad], { encoding: "utf8" });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain("log.level");
  });
});
