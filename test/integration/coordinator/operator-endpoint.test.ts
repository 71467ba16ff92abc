import { execFile, spawnSync } from "node:child_process";
import { statSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { afterEach, expect, it } from "vitest";
import type { FederationStatus } from "../../../coordinator/src/admin/status.js";
import { publicIdentity } from "../../../shared/src/crypto/index.js";
import { callBody, SessionMethod } from "../../../shared/src/fl/session-calls.js";
import type { FlTask } from "../../../shared/src/fl/task.js";
import { FakeSite } from "../../helpers/fake-site.js";
import { startOperatorCoordinator, waitFor } from "../../helpers/operator-coordinator.js";

// `fl coordinator` with its operator endpoint, watched the ways an operator would: `fl status`,
// Prometheus's own tools on /metrics, and a standard gRPC health client.
const FL_BIN = fileURLToPath(new URL("../../../bin/fl.js", import.meta.url));
const run = promisify(execFile);
const closers: (() => void)[] = [];

afterEach(() => {
  for (const close of closers.splice(0)) close();
});

/** `fl status` as an operator runs it; resolves with its exit code and output. */
async function flStatus(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [FL_BIN, "status", ...args], { timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

type HealthStatus = "UNKNOWN" | "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";
interface HealthClient extends grpc.Client {
  check(
    request: { service: string },
    callback: (error: grpc.ServiceError | null, response: { status: HealthStatus }) => void,
  ): void;
  watch(request: { service: string }): grpc.ClientReadableStream<{ status: HealthStatus }>;
}
const HealthClientConstructor = grpc.makeClientConstructor(
  healthService as grpc.ServiceDefinition,
  "grpc.health.v1.Health",
);

it("serves status, Prometheus metrics and gRPC health behind its token, and fl status reads them", async () => {
  const coordinator = await startOperatorCoordinator({ federationId: "ops", siteIds: ["alpha", "beta"] });
  closers.push(coordinator.close);
  const { dir, coordinatorIdentity, grpcAddress, tokenFile, exited } = coordinator;
  const identities = coordinator.sites;
  const base = coordinator.adminBase;
  // Created by the coordinator on first start, readable by its owner only.
  expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
  const { token } = coordinator;
  const get = (path: string, bearer?: string) =>
    fetch(`${base}${path}`, bearer === undefined ? {} : { headers: { authorization: `Bearer ${bearer}` } });

  expect((await get("/status")).status).toBe(401);
  expect((await get("/status", `${token}x`)).status).toBe(401);
  expect((await get("/metrics", token.slice(0, -1))).status).toBe(401);
  await waitFor(async () => ((await get("/healthz")).status === 200 ? true : undefined), "healthz 200");

  const health = new HealthClientConstructor(
    grpcAddress,
    grpc.credentials.createInsecure(),
  ) as unknown as HealthClient;
  closers.push(() => health.close());
  const checked = await new Promise<HealthStatus>((resolve, reject) =>
    health.check({ service: "fl.v1.Federation" }, (error, response) =>
      error ? reject(error) : resolve(response.status),
    ),
  );
  expect(checked).toBe("SERVING");
  const watched: HealthStatus[] = [];
  const watch = health.watch({ service: "" });
  watch.on("data", (response: { status: HealthStatus }) => watched.push(response.status));
  watch.on("error", () => {});
  closers.push(() => watch.cancel());

  const sites = identities.map((id) => new FakeSite(grpcAddress, id, publicIdentity(coordinatorIdentity)));
  closers.push(() => {
    for (const site of sites) site.close();
  });
  const [alpha, beta] = sites as [FakeSite, FakeSite];
  await alpha.join();
  await beta.join();
  const alphaTask = await alpha.nextTask();
  const betaTask = await beta.nextTask();
  if (alphaTask === "done" || betaTask === "done") throw new Error("no round");
  const beat = { taskId: alphaTask.taskId, progress: 0.5, status: "epoch 1/2" };
  const auth = alpha.session.authorize(SessionMethod.Heartbeat, callBody.heartbeat(beat));
  await alpha.connection.heartbeat(auth, beat);

  const status = (await (await get("/status", token)).json()) as FederationStatus;
  expect(status.federationId).toBe("ops");
  expect(status.state).toBe("running");
  expect(status.plan).toMatchObject({
    phase: "supervised",
    round: 1,
    attempt: 1,
    completedRounds: 0,
    totalRounds: 1,
  });
  const alphaRow = status.sites.find((s) => s.siteId === "alpha");
  expect(alphaRow).toMatchObject({
    state: "connected",
    backend: "test",
    task: { round: 1, kind: "train", progress: 0.5, status: "epoch 1/2" },
  });
  expect(Date.now() - Date.parse(alphaRow?.lastSeen ?? "")).toBeLessThan(30_000);
  expect(status.sites.find((s) => s.siteId === "beta")?.task).toMatchObject({ round: 1, progress: 0 });

  const table = await flStatus(["--url", base, "--token-file", tokenFile]);
  expect(table.code, table.stderr).toBe(0);
  expect(table.stdout).toContain("federation ops: running; 0/1 rounds done; round 1, phase supervised");
  expect(table.stdout).toMatch(/^alpha +connected +\d+ s ago +test +train r1 50% epoch 1\/2$/m);
  const json = await flStatus(["--run", dir, "--json"]);
  expect(json.code, json.stderr).toBe(0);
  expect((JSON.parse(json.stdout) as FederationStatus).sites.map((s) => [s.siteId, s.state])).toEqual([
    ["alpha", "connected"],
    ["beta", "connected"],
  ]);
  const wrongTokenFile = join(dir, "wrong.token");
  writeFileSync(wrongTokenFile, "not-the-operator-token\n");
  const refused = await flStatus(["--url", base, "--token-file", wrongTokenFile]);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain(`refused the token in ${wrongTokenFile} (401)`);
  const closed = await new Promise<number>((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
  const closedPort = await flStatus(["--url", `http://127.0.0.1:${closed}`, "--token-file", tokenFile]);
  expect(closedPort.code).toBe(1);
  expect(closedPort.stderr).toContain(
    `cannot reach the operator endpoint at http://127.0.0.1:${closed}: connection refused`,
  );

  // Both updates, and a replay of alpha's, which is refused with its reason.
  const deliver = async (site: FakeSite, task: FlTask, value: number) => {
    const sealed = site.pack(task, await site.download(task), value, 10);
    expect(await site.upload(sealed)).toMatchObject({ accepted: true });
    return sealed;
  };
  const alphaSealed = await deliver(alpha, alphaTask, 0.1);
  expect(await alpha.upload(alphaSealed)).toMatchObject({ accepted: false, reasonCode: "FL_REPLAY" });
  const betaSealed = await deliver(beta, betaTask, 0.3);
  const uploadedBytes = [...alphaSealed.chunks, ...betaSealed.chunks].reduce((n, c) => n + c.byteLength, 0);

  const metricsText = await waitFor(async () => {
    const text = await (await get("/metrics", token)).text();
    return /^fl_rounds_completed_total 1$/m.test(text) ? text : undefined;
  }, "round 1 in /metrics");
  const families = parsePrometheusTextFormat(metricsText);
  const value = (name: string, labels: Record<string, string> = {}) =>
    families
      .find((f) => f.name === name)
      ?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))?.value;
  expect(value("fl_updates_accepted_total")).toBe("2");
  expect(value("fl_updates_rejected_total", { reason: "FL_REPLAY" })).toBe("1");
  expect(value("fl_upload_bytes_total")).toBe(String(uploadedBytes));
  expect(value("fl_uploads_open")).toBe("0");
  expect(value("fl_sites_connected")).toBe("2");
  expect(value("fl_sites_enrolled")).toBe("2");
  expect(families.find((f) => f.name === "fl_round_duration_seconds")?.metrics[0]?.count).toBe("1");
  expect(families.find((f) => f.name === "fl_aggregation_duration_seconds")?.metrics[0]?.count).toBe("1");
  expect(value("process_resident_memory_bytes")).toBeDefined();
  // Prometheus's own parser and linter: no problem with any fl_ metric (prom-client's default
  // nodejs_*_total gauges draw a naming lint of their own, which is not ours to fix).
  const promtool = spawnSync("promtool", ["check", "metrics"], { input: metricsText, encoding: "utf8" });
  expect(promtool.error, "promtool is missing: apt-get install prometheus").toBeUndefined();
  expect([0, 3], promtool.stderr).toContain(promtool.status);
  expect(`${promtool.stdout}${promtool.stderr}`).not.toMatch(/^fl_|parsing error/m);

  // The final evaluation; then the plan is done and health says so.
  for (const site of sites) {
    const task = await site.nextTask();
    if (task === "done") throw new Error("no evaluation");
    await site.evaluate(task, [
      [1, 0, 0, 0],
      [0, 1, 0, 0],
      [0, 0, 1, 0],
      [0, 0, 0, 1],
    ]);
  }
  await waitFor(() => (watched.includes("NOT_SERVING") ? true : undefined), "NOT_SERVING");
  expect(watched[0]).toBe("SERVING");
  expect(await exited).toBe(0);

  // Not a terminal, so the log is JSON, one record a line, with levels; the token never appears.
  // (tfjs prints a banner of its own to stderr, outside the logger.)
  const records = coordinator
    .stderr()
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as { level: string; name: string; msg: string });
  expect(records.find((r) => r.msg.includes("listening on"))).toMatchObject({
    level: "info",
    name: "coordinator",
  });
  expect(records.find((r) => r.msg.startsWith("WARNING: insecure"))?.level).toBe("warn");
  expect(records.some((r) => r.msg.startsWith("operator endpoint on http://"))).toBe(true);
  expect(coordinator.stderr()).not.toContain(token);
});
