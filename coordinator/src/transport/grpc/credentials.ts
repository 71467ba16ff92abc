import { X509Certificate } from "node:crypto";
import type { TlsOptions } from "node:tls";

export interface ServerTls {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** CA that client certificates must chain to; with requireClientCert this is mutual TLS. */
  readonly ca?: Buffer;
  readonly requireClientCert: boolean;
}

/** TLS, or plaintext only when a caller says so in as many words (see the config's `insecure`). */
export type ServerSecurity = ServerTls | "insecure";

/**
 * The node:tls server options: those grpc-js's ServerCredentials.createSsl gave its own TLS server
 * (client certificates requested and verified against `ca` under mutual TLS, its cipher list from
 * GRPC_SSL_CIPHER_SUITES when set), and HTTP/2 by ALPN as its HTTP/2 server offered.
 */
export function tlsServerOptions(security: ServerTls): TlsOptions {
  const ciphers = process.env.GRPC_SSL_CIPHER_SUITES;
  return {
    cert: security.cert,
    key: security.key,
    ...(security.ca && { ca: security.ca }),
    requestCert: security.requireClientCert,
    rejectUnauthorized: true,
    minVersion: "TLSv1.2",
    ALPNProtocols: ["h2"],
    ...(ciphers && { ciphers }),
  };
}

/** How the log names the federation's CA: its subject's common name, as make-certs.sh and fl provision set it. */
export function caNameOf(security: ServerTls): string {
  if (!security.ca) return "the system's CAs";
  try {
    const subject = new X509Certificate(security.ca).subject;
    const commonName = /(?:^|\n)CN=([^\n]*)/.exec(subject)?.[1];
    return commonName === undefined ? `"${subject.replaceAll("\n", ", ")}"` : `"${commonName}"`;
  } catch {
    return "the CA in tls.ca";
  }
}
