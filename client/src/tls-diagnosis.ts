import { ErrorCode, FlError } from "../../shared/src/errors.js";

/** Where the client's TLS settings come from, to name them in a diagnosis. */
export interface TlsSettings {
  /** The `coordinator:` address as configured. */
  readonly coordinator: string;
  readonly ca: string;
  readonly cert?: string;
}

/**
 * grpc-js reports every failed TLS handshake as UNAVAILABLE ("coordinator unreachable"), the same
 * as a coordinator that is down; its detail still carries OpenSSL's reason. Those reasons are
 * configuration that no retry mends, so they are named here with the setting to change. A client
 * certificate that the coordinator refuses cannot be told apart (grpc-js says "Failed to connect"
 * after a TLS 1.3 handshake), so that case stays a retry; docs/deploy.md §9 lists it.
 */
export function diagnoseTls(error: FlError, tls: TlsSettings): FlError | undefined {
  const detail = error.message;
  const host = tls.coordinator.slice(0, tls.coordinator.lastIndexOf(":")) || tls.coordinator;
  const explain = (what: string) =>
    new FlError(ErrorCode.InvalidConfig, `${what} (${oneLine(detail)})`, { cause: error });
  if (/alert certificate required/i.test(detail))
    return explain(
      `the coordinator at ${tls.coordinator} requires a client certificate (mutual TLS) and this site sent none: set tls.cert and tls.key in the client config to this site's certificate and key`,
    );
  if (/ERR_TLS_CERT_ALTNAME_INVALID|does not match certificate's altnames/i.test(detail))
    return explain(
      `the coordinator's certificate is not issued for "${host}" (the host in coordinator: ${tls.coordinator}): dial a name the certificate lists, or re-issue it with deploy/tls/make-certs.sh --coordinator-san`,
    );
  if (/certificate has expired|CERT_HAS_EXPIRED/i.test(detail))
    return explain(`the coordinator's certificate at ${tls.coordinator} has expired: re-issue it`);
  if (
    /self[- ]signed certificate|unable to get local issuer certificate|unable to verify the first certificate|certificate signature failure/i.test(
      detail,
    )
  )
    return explain(
      `the coordinator's certificate at ${tls.coordinator} is not issued by the CA in tls.ca (${tls.ca}): set tls.ca to the federation's ca.crt`,
    );
  if (
    /alert (unknown ca|bad certificate|certificate unknown|certificate revoked|certificate expired)/i.test(
      detail,
    )
  )
    return explain(
      `the coordinator refused this site's certificate (tls.cert: ${tls.cert ?? "none"}): it must be issued by the federation's CA and still be valid`,
    );
  return undefined;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}
