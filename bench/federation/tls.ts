import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const MAKE_CERTS = fileURLToPath(new URL("../../deploy/tls/make-certs.sh", import.meta.url));

/** A federation's mutual-TLS material, as deploy/tls/make-certs.sh issues it (PEM). */
export interface TlsMaterial {
  readonly ca: Uint8Array;
  readonly coordinatorCert: Uint8Array;
  readonly coordinatorKey: Uint8Array;
  readonly sites: ReadonlyMap<string, { readonly cert: Uint8Array; readonly key: Uint8Array }>;
}

/** Issues a CA, the coordinator's certificate for 127.0.0.1 and one client certificate per site. */
export function makeTlsMaterial(siteIds: readonly string[]): TlsMaterial {
  const dir = mkdtempSync(join(tmpdir(), "fl-bench-tls-"));
  try {
    execFileSync(
      "bash",
      [
        MAKE_CERTS,
        "--out",
        dir,
        "--coordinator-san",
        "IP:127.0.0.1",
        ...siteIds.flatMap((id) => ["--site", id]),
      ],
      { stdio: "ignore" },
    );
    const read = (name: string) => new Uint8Array(readFileSync(join(dir, name)));
    return {
      ca: read("ca.crt"),
      coordinatorCert: read("coordinator.crt"),
      coordinatorKey: read("coordinator.key"),
      sites: new Map(siteIds.map((id) => [id, { cert: read(`${id}.crt`), key: read(`${id}.key`) }])),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
