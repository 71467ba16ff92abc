import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { freePort, previousPort } from "../../../cli/simulate/run-folder.js";

const dirs: string[] = [];
const servers: Server[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

function yamlFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "fl-run-folder-"));
  dirs.push(dir);
  const path = join(dir, "coordinator.yaml");
  writeFileSync(path, text);
  return path;
}

async function occupied(): Promise<number> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const address = server.address();
  if (typeof address !== "object" || !address) throw new Error("no address");
  return address.port;
}

describe("previousPort", () => {
  it("reads the gRPC port from listen and the operator port from admin.listen", () => {
    const path = yamlFile(
      'listen: "127.0.0.1:41001"\nadmin:\n  listen: "127.0.0.1:41002"\n  tokenFile: admin.token\n',
    );
    expect(previousPort(path)).toBe(41001);
    expect(previousPort(path, "admin")).toBe(41002);
  });

  it("gives nothing for port 0, a missing admin block or a missing file", () => {
    const path = yamlFile('listen: "127.0.0.1:41003"\nadmin: { listen: "127.0.0.1:0", tokenFile: t }\n');
    expect(previousPort(path, "admin")).toBeUndefined();
    expect(previousPort(yamlFile('listen: "127.0.0.1:41004"\n'), "admin")).toBeUndefined();
    expect(previousPort("/nonexistent/coordinator.yaml", "admin")).toBeUndefined();
  });
});

describe("freePort", () => {
  it("keeps a preferred port that is free, and avoids one in use", async () => {
    const busy = await occupied();
    const other = await freePort(busy);
    expect(other).not.toBe(busy);
    expect(await freePort(other)).toBe(other);
  });

  it("never returns a port already chosen for another listener", async () => {
    const first = await freePort();
    // Preferring the taken port still yields a different one, though it is free.
    const second = await freePort(first, [first]);
    expect(second).not.toBe(first);
    expect(second).toBeGreaterThan(0);
  });
});
