import { execFile } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { type Browser, chromium } from "playwright-core";
import { afterEach, expect, it } from "vitest";
import { STREAM_MIN_INTERVAL_MS } from "../../../coordinator/src/admin/dashboard/http.js";
import { type AdminServer, startAdminServer } from "../../../coordinator/src/admin/server.js";
import { publicIdentity } from "../../../shared/src/crypto/index.js";
import { callBody, SessionMethod } from "../../../shared/src/fl/session-calls.js";
import type { FlTask } from "../../../shared/src/fl/task.js";
import { FakeSite } from "../../helpers/fake-site.js";
import { startOperatorCoordinator, waitFor } from "../../helpers/operator-coordinator.js";

// The dashboard as an operator meets it: a real `fl coordinator` with FakeSites, opened in
// Debian's headless Chromium, updated live by server-sent events while the round runs.
const FL_BIN = fileURLToPath(new URL("../../../bin/fl.js", import.meta.url));
const CHROMIUM = "/usr/bin/chromium";
const cleanups: (() => unknown)[] = [];

afterEach(async () => {
  for (const clean of cleanups.splice(0).reverse()) await clean();
});

// The page's own globals, seen from the test (which is not compiled against the DOM).
type PageGlobals = {
  document: { cookie: string };
  mark?: string;
  Chart: { getChart(id: string): { data: { datasets: { label: string; data: unknown[] }[] } } | undefined };
};

const noChromium = !existsSync(CHROMIUM);
it.skipIf(noChromium)(
  `shows sites, rounds and the learning curve live in headless Chromium${
    noChromium ? ` (SKIPPED: no ${CHROMIUM}; run scripts/system-deps.sh or apt-get install chromium)` : ""
  }`,
  async () => {
    // Two rounds, evaluated, so that the coordinator is still running (and streaming) after
    // round 1 and its evaluation.
    const coordinator = await startOperatorCoordinator({
      federationId: "wards",
      siteIds: ["alpha", "beta"],
      rounds: 2,
      evaluateEvery: 1,
    });
    cleanups.push(coordinator.close);
    const { dir, coordinatorIdentity, grpcAddress, token } = coordinator;
    const identities = coordinator.sites;
    const base = coordinator.adminBase;

    // `fl status` names the page to open, and where the token is, without printing it.
    const { stdout } = await promisify(execFile)(process.execPath, [FL_BIN, "status", "--run", dir]);
    expect(stdout).toContain(
      `\ndashboard: ${base}/dashboard?token=<the token in ${join(dir, "admin.token")}>\n`,
    );
    expect(stdout).not.toContain(token);

    // Without the token, or with a wrong one: a page that says how to open it.
    const bare = await fetch(`${base}/dashboard`);
    expect(bare.status).toBe(401);
    expect(await bare.text()).toContain("/dashboard?token=");
    expect((await fetch(`${base}/dashboard?token=${token}x`)).status).toBe(401);
    expect((await fetch(`${base}/events/stream`)).status).toBe(401);
    expect((await fetch(`${base}/dashboard/chart.umd.min.js`)).status).toBe(401);
    // Only the named files: nothing else under the folder or node_modules.
    for (const path of ["/dashboard/http.ts", "/dashboard/../server.ts", "/dashboard/chart.js"])
      expect((await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(
        404,
      );
    // Scripts (`fl status`) keep their bearer token.
    expect((await fetch(`${base}/dashboard`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(
      200,
    );

    const sites = identities.map((id) => new FakeSite(grpcAddress, id, publicIdentity(coordinatorIdentity)));
    cleanups.push(() => {
      for (const site of sites) site.close();
    });
    const [alpha, beta] = sites as [FakeSite, FakeSite];
    await alpha.join();

    const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    cleanups.push(() => browser.close());
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (error) => pageErrors.push(error.message));
    const opened = await page.goto(`${base}/dashboard?token=${encodeURIComponent(token)}`);
    expect(opened?.status()).toBe(200);
    // The token is traded for a cookie that scripts in the page cannot read.
    expect(page.url()).toBe(`${base}/dashboard`);
    const [cookie] = await context.cookies(base);
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Strict" });
    expect(cookie?.value).not.toContain(token);
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).document.cookie)).toBe("");
    // Marks this document: still there at the end means the page was never reloaded.
    await page.evaluate(() => {
      (globalThis as unknown as PageGlobals).mark = "first load";
    });

    const siteRow = (id: string) => page.locator(`#sites tr[data-site="${id}"]`);
    await expect.poll(() => page.locator("#federation").textContent()).toBe("Federation wards");
    await expect.poll(() => siteRow("alpha").locator("td").nth(1).textContent()).toBe("connected");
    expect(await siteRow("alpha").locator("td").nth(3).textContent()).toBe("test");
    expect(await siteRow("beta").locator("td").nth(1).textContent()).toBe("never");

    await beta.join();
    await expect.poll(() => siteRow("beta").locator("td").nth(1).textContent()).toBe("connected");
    const alphaTask = await alpha.nextTask();
    const betaTask = await beta.nextTask();
    if (alphaTask === "done" || betaTask === "done") throw new Error("no round");
    await expect
      .poll(() => page.locator("#rounds").textContent())
      .toBe("0/2 rounds done; round 1, phase supervised");

    const beat = { taskId: alphaTask.taskId, progress: 0.5, status: "epoch 1/2" };
    await alpha.connection.heartbeat(
      alpha.session.authorize(SessionMethod.Heartbeat, callBody.heartbeat(beat)),
      beat,
    );
    const bar = siteRow("alpha").locator("progress");
    await expect.poll(() => bar.evaluate((b) => (b as unknown as { value: number }).value)).toBe(0.5);
    expect(await siteRow("alpha").locator("td").nth(4).textContent()).toBe("train r1 50% epoch 1/2");

    // Updates with their own training losses: the round's loss is their mean weighted by examples.
    const deliver = async (site: FakeSite, task: FlTask, loss: number, examples: number) => {
      const sealed = site.pack(task, await site.download(task), 0.1, examples);
      const trainMetrics = { loss };
      const auth = site.session.authorize(
        SessionMethod.UploadUpdate,
        callBody.uploadUpdate({ signature: sealed.signature, trainMetrics }),
      );
      expect(await site.connection.uploadUpdate(auth, sealed, trainMetrics)).toMatchObject({
        accepted: true,
      });
    };
    await deliver(alpha, alphaTask, 0.5, 10);
    await deliver(beta, betaTask, 2, 30);
    const expectedLoss = (0.5 * 10 + 2 * 30) / 40;
    const curve = () =>
      page.evaluate(() =>
        (globalThis as unknown as PageGlobals).Chart.getChart("curve")?.data.datasets.map((d) => [
          d.label,
          d.data,
        ]),
      );
    await expect.poll(curve).toEqual([["training loss", [{ x: 1, y: expectedLoss }]]]);
    await expect.poll(() => page.locator("#rounds").textContent()).toMatch(/^1\/2 rounds done/);
    expect(await page.locator("#updates").textContent()).toBe("updates: 2 accepted, 0 rejected");

    // The evaluation after round 1: every image right, so pooled accuracy 1.
    for (const site of sites) {
      const task = await site.nextTask();
      if (task === "done" || task.kind !== "evaluate") throw new Error("no evaluation after round 1");
      await site.evaluate(task, [
        [1, 0, 0, 0],
        [0, 1, 0, 0],
        [0, 0, 1, 0],
        [0, 0, 0, 1],
      ]);
    }
    await expect
      .poll(async () => (await curve())?.find(([label]) => label === "pooled accuracy")?.[1])
      .toEqual([{ x: 1, y: 1 }]);
    await expect.poll(() => page.locator("#curve-empty").isHidden()).toBe(true);
    expect(await page.locator("#connection").textContent()).toBe("live");

    const screenshot = join(dir, "dashboard.png");
    await page.screenshot({ path: screenshot, fullPage: true });
    const png = readFileSync(screenshot);
    expect(statSync(screenshot).size).toBeGreaterThan(10_000);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).mark)).toBe("first load");
    expect(pageErrors).toEqual([]);
  },
);

/** An event-stream reader over plain HTTP, with the raw text as it arrived. */
function openStream(url: string, headers: Record<string, string>) {
  const received: string[] = [];
  let raw = "";
  const request = httpRequest(url, { headers });
  const answered = new Promise<number>((resolve, reject) => {
    request.on("response", (response) => {
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        raw += chunk;
        for (let end = raw.indexOf("\n\n"); end >= 0; end = raw.indexOf("\n\n")) {
          const block = raw.slice(0, end);
          raw = raw.slice(end + 2);
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (data !== undefined) received.push(data);
        }
      });
      resolve(response.statusCode ?? 0);
    });
    request.on("error", reject);
  });
  request.end();
  return { received, answered, close: () => request.destroy() };
}

it("streams a snapshot at once, then at most one per interval however many changes, and lets go on disconnect", async () => {
  let value = 0;
  const listeners = new Set<() => void>();
  let server: AdminServer | undefined;
  server = await startAdminServer({
    listen: "127.0.0.1:0",
    token: "fla_a-test-token-of-some-length",
    log: () => {},
    routes: {
      status: () => ({}),
      metrics: async () => ({ contentType: "text/plain", body: "" }),
      healthy: () => true,
      live: {
        snapshot: () => ({ value }),
        subscribe: (listener) => {
          listeners.add(listener);
          return () => listeners.delete(listener);
        },
      },
    },
  });
  cleanups.push(() => server?.close());
  const stream = openStream(`http://127.0.0.1:${server.port}/events/stream`, {
    authorization: "Bearer fla_a-test-token-of-some-length",
  });
  expect(await stream.answered).toBe(200);
  await waitFor(() => (stream.received.length === 1 ? true : undefined), "the first snapshot");
  expect(stream.received).toEqual(['{"value":0}']);
  expect(listeners.size).toBe(1);

  // A burst of 50 changes inside one interval: one more message, with the latest value.
  const burstStart = Date.now();
  for (let i = 1; i <= 50; i++) {
    value = i;
    for (const listener of listeners) listener();
  }
  await waitFor(() => (stream.received.length >= 2 ? true : undefined), "the snapshot after the burst");
  await new Promise((r) => setTimeout(r, 3 * STREAM_MIN_INTERVAL_MS));
  expect(Date.now() - burstStart).toBeLessThan(30 * STREAM_MIN_INTERVAL_MS);
  expect(stream.received).toEqual(['{"value":0}', '{"value":50}']);

  stream.close();
  await waitFor(() => (listeners.size === 0 ? true : undefined), "the stream's unsubscribe");
});
