// tsyringe, which @peculiar/x509 uses inside, needs the Reflect metadata API before it loads.
import "reflect-metadata";
import { readFileSync, statSync } from "node:fs";
import * as x509 from "@peculiar/x509";
import { ErrorCode, errorMessage, FlError } from "../../../../shared/src/errors.js";

/**
 * Certificate revocation for mutual TLS. grpc-js takes no CRL, so the coordinator checks each
 * caller's client certificate against one itself: the serial numbers a CRL file lists, the CRL
 * verified against the federation's CA (a list nobody signed revokes nothing). The file is read
 * again when it changes, so revoking a hospital's certificate needs no restart.
 */
export interface RevocationList {
  /** FlError(UnknownSite) naming the serial when the certificate is revoked: the site stops. */
  check(serialNumber: string | undefined): void;
}

const RECHECK_MS = 2000;

export async function loadRevocationList(
  crlPath: string,
  caPem: Buffer,
  now: () => number = Date.now,
): Promise<RevocationList> {
  const ca = new x509.X509Certificate(caPem.toString("utf8"));
  const read = async (): Promise<{ revoked: Set<string>; mtimeMs: number }> => {
    const mtimeMs = statSync(crlPath).mtimeMs;
    let crl: x509.X509Crl;
    try {
      crl = new x509.X509Crl(readFileSync(crlPath, "utf8"));
    } catch (error) {
      throw new FlError(
        ErrorCode.InvalidConfig,
        `tls.crl ${crlPath} is not a PEM CRL: ${errorMessage(error)}`,
        {
          cause: error,
        },
      );
    }
    if (!(await crl.verify({ publicKey: await ca.publicKey.export() })))
      throw new FlError(
        ErrorCode.InvalidConfig,
        `tls.crl ${crlPath} is not signed by the CA in tls.ca: issue it with the federation's CA`,
      );
    return { revoked: new Set(crl.entries.map((entry) => normaliseSerial(entry.serialNumber))), mtimeMs };
  };
  let current = await read();
  let checkedAtMs = now();
  let reloading: Promise<void> | undefined;
  const reloadIfChanged = () => {
    if (reloading || now() - checkedAtMs < RECHECK_MS) return;
    checkedAtMs = now();
    reloading = (async () => {
      try {
        if (statSync(crlPath).mtimeMs !== current.mtimeMs) current = await read();
      } catch {
        // A CRL being rewritten, or a bad new one, leaves the last good list in force.
      } finally {
        reloading = undefined;
      }
    })();
  };
  return {
    check(serialNumber) {
      reloadIfChanged();
      if (serialNumber === undefined) return;
      if (current.revoked.has(normaliseSerial(serialNumber)))
        throw new FlError(
          ErrorCode.UnknownSite,
          `the client certificate with serial ${normaliseSerial(serialNumber)} is revoked (tls.crl): this hospital needs a new certificate`,
        );
    },
  };
}

/** Hex without leading zeros, lower case: how both Node and the CRL spell a serial, once normalised. */
function normaliseSerial(serial: string): string {
  return serial
    .replaceAll(":", "")
    .toLowerCase()
    .replace(/^0+(?=.)/, "");
}
