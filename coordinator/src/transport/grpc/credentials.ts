import * as grpc from "@grpc/grpc-js";

export interface ServerTls {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** CA that client certificates must chain to; with requireClientCert this is mutual TLS. */
  readonly ca?: Buffer;
  readonly requireClientCert: boolean;
}

/** TLS, or plaintext only when a caller says so in as many words (see the config's `insecure`). */
export type ServerSecurity = ServerTls | "insecure";

export function serverCredentials(security: ServerSecurity): grpc.ServerCredentials {
  if (security === "insecure") return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(
    security.ca ?? null,
    [{ cert_chain: security.cert, private_key: security.key }],
    security.requireClientCert,
  );
}
