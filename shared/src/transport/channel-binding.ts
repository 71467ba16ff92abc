import { X509Certificate } from "node:crypto";
import { ErrorCode, FlError } from "../errors.js";

/**
 * What binds a session to its mutual-TLS channel: the lower-case hex SHA-256 of the client
 * certificate (DER), "" without one. The coordinator reads it off the connection, the site off
 * its own certificate file; both sign it into the join (docs/protocol.md).
 */
export function channelBindingOfFingerprint(fingerprint256: string | undefined): string {
  return typeof fingerprint256 === "string" ? fingerprint256.replaceAll(":", "").toLowerCase() : "";
}

export function channelBindingOfCertificate(pem: Buffer | undefined): string {
  if (!pem) return "";
  try {
    return channelBindingOfFingerprint(new X509Certificate(pem).fingerprint256);
  } catch (error) {
    throw new FlError(ErrorCode.InvalidConfig, "the TLS client certificate is not a PEM X.509 certificate", {
      cause: error,
    });
  }
}
