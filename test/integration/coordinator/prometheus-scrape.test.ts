import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../../cli/simulate/run-folder.js";
import {
  type OperatorCoordinator,
  startOperatorCoordinator,
  waitFor,
} from "../../helpers/operator-coordinator.js";

/**
 * A real Prometheus server (Debian's `prometheus`, from scripts/system-packages.txt) scrapes a
 * running coordinator's /metrics with the bearer token, the way docs/deploy.md §8.2 configures
 * it; a second job with a wrong token shows the token is what lets the scrape in.
 */
let coordinator: OperatorCoordinator | undefined;
let prometheus: ChildProcess | undefined;
let prometheusOutput = "";
let dir = "";
let api = "";

beforeAll(async () => {
  coordinator = await startOperatorCoordinator({
    federationId: "prom-fed",
    siteIds: ["metro-icu", "community"],
  });
  dir = mkdtempSync(join(tmpdir(), "fl-prometheus-"));
  const target = coordinator.adminBase.replace(/^http:\/\//, "");
  writeFileSync(join(dir, "wrong.token"), "not-the-token\n");
  writeFileSync(
    join(dir, "prometheus.yml"),
    [
      "global: { scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }",
      "scrape_configs:",
      "  - job_name: fl",
      "    metrics_path: /metrics",
      `    authorization: { type: Bearer, credentials_file: ${JSON.stringify(coordinator.tokenFile)} }`,
      `    static_configs: [{ targets: [${JSON.stringify(target)}] }]`,
      "  - job_name: fl-wrong-token",
      "    metrics_path: /metrics",
      `    authorization: { type: Bearer, credentials_file: ${JSON.stringify(join(dir, "wrong.token"))} }`,
      `    static_configs: [{ targets: [${JSON.stringify(target)}] }]`,
      "",
    ].join("\n"),
  );
  const port = await freePort();
  api = `http://127.0.0.1:${port}/api/v1`;
  prometheus = spawn(
    "prometheus",
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  prometheus.on("error", (error) => {
    prometheusOutput += `${error.message}: install it with apt-get install -y prometheus (scripts/system-deps.sh)\n`;
  });
  for (const stream of [prometheus.stdout, prometheus.stderr])
    stream?.on("data", (chunk: Buffer) => {
      prometheusOutput += chunk.toString("utf8");
    });
}, 90_000);

afterAll(async () => {
  if (prometheus && prometheus.exitCode === null) {
    const exited = new Promise((resolve) => prometheus?.once("exit", resolve));
    prometheus.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (prometheus.exitCode === null) prometheus.kill("SIGKILL");
  }
  coordinator?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(expression: string): Promise<Sample[] | undefined> {
  try {
    const response = await fetch(`${api}/query?query=${encodeURIComponent(expression)}`);
    if (!response.ok) return undefined;
    const body = (await response.json()) as { status: string; data: { result: Sample[] } };
    return body.status === "success" ? body.data.result : undefined;
  } catch {
    return undefined; // not listening yet
  }
}

/** The samples of `expression` once it has some (Prometheus answers [] until the first scrape). */
function samples(expression: string): Promise<Sample[]> {
  return waitFor(
    async () => {
      if (prometheus?.exitCode !== null) throw new Error(`prometheus exited:\n${prometheusOutput}`);
      const result = await query(expression);
      return result && result.length > 0 ? result : undefined;
    },
    `Prometheus to have ${expression}\n${prometheusOutput}`,
    60_000,
  );
}

describe("a real Prometheus scrapes the coordinator's /metrics", () => {
  it("with the bearer token: up is 1 and the federation's metrics are stored", async () => {
    const [up] = await samples('up{job="fl"}');
    expect(up?.value[1]).toBe("1");
    const [info] = await samples('fl_federation_info{job="fl"}');
    expect(info?.metric.federation).toBe("prom-fed");
    expect(info?.value[1]).toBe("1");
    // Two sites enrolled, none joined yet: the numbers are the coordinator's, not a default.
    expect((await samples('fl_sites_enrolled{job="fl"}'))[0]?.value[1]).toBe("2");
    expect((await samples('fl_sites_connected{job="fl"}'))[0]?.value[1]).toBe("0");
    // prom-client's process metrics come along.
    expect(Number((await samples('process_resident_memory_bytes{job="fl"}'))[0]?.value[1])).toBeGreaterThan(
      0,
    );
  }, 90_000);

  it("with a wrong token: the scrape is refused, so up is 0 and nothing is stored", async () => {
    const [up] = await samples('up{job="fl-wrong-token"}');
    expect(up?.value[1]).toBe("0");
    expect(await query('fl_federation_info{job="fl-wrong-token"}')).toEqual([]);
    const targets = (await (await fetch(`${api}/targets`)).json()) as {
      data: { activeTargets: { labels: { job: string }; lastError: string }[] };
    };
    const refused = targets.data.activeTargets.find((t) => t.labels.job === "fl-wrong-token");
    expect(refused?.lastError).toMatch(/401/);
  }, 90_000);
});
