import { execFile } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { type Browser, chromium } from "playwright-core";
import { afterEach, expect, it } from "vitest";
import type { FederationStatus } from "../../../coordinator/src/admin/status.js";
import { publicIdentity } from "../../../shared/src/crypto/index.js";
import { callBody, SessionMethod } from "../../../shared/src/fl/session-calls.js";
import type { FlTask } from "../../../shared/src/fl/task.js";
import { forkTypeScript } from "../../../shared/src/io/ts-child.js";
import { FakeSite } from "../../helpers/fake-site.js";
import { startOperatorCoordinator, waitFor } from "../../helpers/operator-coordinator.js";

// An operator restarts the coordinator (here: it is killed) and opens the dashboard: the curve,
// the round count and the update counters are the federation's, rebuilt from state.db, not a
// blank page that only fills with what happens after the restart.
const FL_TS = fileURLToPath(new URL("../../../cli/fl.ts", import.meta.url));
const FL_BIN = fileURLToPath(new URL("../../../bin/fl.js", import.meta.url));
const CHROMIUM = "/usr/bin/chromium";
const cleanups: (() => unknown)[] = [];

afterEach(async () => {
  for (const clean of cleanups.splice(0).reverse()) await clean();
});

type PageGlobals = {
  Chart: { getChart(id: string): { data: { datasets: { label: string; data: unknown[] }[] } } | undefined };
};

const noChromium = !existsSync(CHROMIUM);
it.skipIf(noChromium)(
  `after a real coordinator restart the dashboard shows the stored curve and counters${
    noChromium ? ` (SKIPPED: no ${CHROMIUM}; run scripts/system-deps.sh or apt-get install chromium)` : ""
  }`,
  async () => {
    const first = await startOperatorCoordinator({
      federationId: "wards",
      siteIds: ["alpha", "beta"],
      rounds: 3,
      evaluateEvery: 1,
    });
    cleanups.push(first.close);
    const { dir, token } = first;
    const get = async (base: string, path: string) =>
      fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });

    // Round 1 with known losses, a replayed upload, an evaluation, then a late upload.
    const sites = first.sites.map(
      (id) => new FakeSite(first.grpcAddress, id, publicIdentity(first.coordinatorIdentity)),
    );
    cleanups.push(() => {
      for (const site of sites) site.close();
    });
    for (const site of sites) await site.join();
    const [alpha, beta] = sites as [FakeSite, FakeSite];
    const deliver = async (site: FakeSite, task: FlTask | "done", loss: number, examples: number) => {
      if (task === "done") throw new Error("no round 1");
      const sealed = site.pack(task, await site.download(task), 0.1, examples);
      const trainMetrics = { loss };
      const auth = site.session.authorize(
        SessionMethod.UploadUpdate,
        callBody.uploadUpdate({ signature: sealed.signature, trainMetrics }),
      );
      expect(await site.connection.uploadUpdate(auth, sealed, trainMetrics)).toMatchObject({
        accepted: true,
      });
      return sealed;
    };
    const alphaTask = await alpha.nextTask();
    const betaTask = await beta.nextTask();
    const alphaSealed = await deliver(alpha, alphaTask, 0.5, 10);
    expect(await alpha.upload(alphaSealed)).toMatchObject({ accepted: false, reasonCode: "FL_REPLAY" });
    await deliver(beta, betaTask, 2, 30);
    const expectedLoss = (0.5 * 10 + 2 * 30) / 40;
    for (const site of sites) {
      const task = await site.nextTask();
      if (task === "done" || task.kind !== "evaluate") throw new Error("no evaluation after round 1");
      // Alpha gets 3 of its 4 images right, beta all 4: pooled accuracy 7/8.
      await site.evaluate(
        task,
        site === alpha
          ? [
              [1, 0, 0, 0],
              [0, 1, 0, 0],
              [0, 0, 0, 1],
              [0, 0, 0, 1],
            ]
          : [
              [1, 0, 0, 0],
              [0, 1, 0, 0],
              [0, 0, 1, 0],
              [0, 0, 0, 1],
            ],
      );
    }
    // A late upload for round 1, once it is committed: refused after its signature was checked,
    // so recorded in state.db (a replay of an upload id already stored is refused but not stored).
    if (alphaTask === "done") throw new Error("no round 1");
    const late = alpha.pack(alphaTask, await alpha.download(alphaTask), 0.2, 10);
    expect(await alpha.upload(late)).toMatchObject({ accepted: false, reasonCode: "FL_WRONG_ROUND" });
    const before = await waitFor(async () => {
      const status = (await (await get(first.adminBase, "/status")).json()) as FederationStatus;
      return status.lastEvaluation && Object.keys(status.updates.rejected).length === 2 ? status : undefined;
    }, "the evaluation of round 1 in /status");
    expect(before.updates).toEqual({ accepted: 2, rejected: { FL_REPLAY: 1, FL_WRONG_ROUND: 1 } });

    // Killed: nothing is flushed on the way out, so what comes back can only come from state.db.
    first.child.kill("SIGKILL");
    await first.exited;
    for (const site of sites) site.close();
    for (const name of ["coordinator.addr", "admin.addr"]) rmSync(join(dir, name), { force: true });
    const child = forkTypeScript(FL_TS, ["coordinator", "--config", join(dir, "coordinator.json")], {
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    cleanups.push(() => {
      if (child.exitCode === null) child.kill("SIGKILL");
    });
    const adminAddr = await waitFor(
      () =>
        existsSync(join(dir, "admin.addr"))
          ? readFileSync(join(dir, "admin.addr"), "utf8").trim() || undefined
          : undefined,
      `admin.addr of the restarted coordinator (stderr: ${stderr})`,
    );
    const base = `http://${adminAddr}`;

    const after = (await (await get(base, "/status")).json()) as FederationStatus;
    expect(after.updates).toEqual({ accepted: 2, rejected: { FL_WRONG_ROUND: 1 } });
    expect(after.plan).toMatchObject({ completedRounds: 1, totalRounds: 3 });
    expect(after.lastEvaluation?.pooled).toMatchObject({ accuracy: 7 / 8, count: 8 });
    // The sites have not joined this coordinator, but their backend and last contact are known.
    expect(after.sites.map((s) => [s.siteId, s.state, s.backend])).toEqual([
      ["alpha", "never", "test"],
      ["beta", "never", "test"],
    ]);
    const { stdout } = await promisify(execFile)(process.execPath, [FL_BIN, "status", "--run", dir]);
    expect(stdout).toContain("1/3 rounds done");
    expect(stdout).toContain("updates: 2 accepted, 1 rejected (FL_WRONG_ROUND 1)");

    const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    cleanups.push(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const pageErrors: string[] = [];
    page.on("pageerror", (error) => pageErrors.push(error.message));
    expect((await page.goto(`${base}/dashboard?token=${encodeURIComponent(token)}`))?.status()).toBe(200);
    const curve = () =>
      page.evaluate(() =>
        Object.fromEntries(
          (globalThis as unknown as PageGlobals).Chart.getChart("curve")?.data.datasets.map((d) => [
            d.label,
            d.data,
          ]) ?? [],
        ),
      );
    await expect.poll(curve).toMatchObject({
      "training loss": [{ x: 1, y: expectedLoss }],
      "pooled accuracy": [{ x: 1, y: 7 / 8 }],
    });
    await expect.poll(() => page.locator("#curve-empty").isHidden()).toBe(true);
    await expect.poll(() => page.locator("#rounds").textContent()).toMatch(/^1\/3 rounds done/);
    expect(await page.locator("#updates").textContent()).toBe(
      "updates: 2 accepted, 1 rejected (FL_WRONG_ROUND 1)",
    );
    const row = (id: string) => page.locator(`#sites tr[data-site="${id}"] td`);
    expect(await row("alpha").nth(1).textContent()).toBe("never");
    expect(await row("alpha").nth(3).textContent()).toBe("test");
    await page.screenshot({ path: join(dir, "dashboard-after-restart.png"), fullPage: true });
    expect(pageErrors).toEqual([]);
  },
);
