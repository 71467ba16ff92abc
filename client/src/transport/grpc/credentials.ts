import * as grpc from "@grpc/grpc-js";

export interface ClientTls {
  /** The CA that issued the coordinator's server certificate. */
  readonly ca: Buffer;
  /** This site's client certificate and key, for mutual TLS. */
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

/** TLS, or plaintext only when a caller says so in as many words (see the client's `insecure`). */
export type ChannelSecurity = ClientTls | "insecure";

export function channelCredentials(security: ChannelSecurity): grpc.ChannelCredentials {
  if (security === "insecure") return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(security.ca, security.key ?? null, security.cert ?? null);
}
