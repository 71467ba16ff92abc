/**
 * Why the coordinator refused a client's TLS connection, in the operator's terms: what to check
 * and where. Pure: it reads the error Node gives for a failed handshake and the socket's
 * `authorizationError`, and names one of a closed set of reasons (the metric's label values).
 */

export const TLS_REFUSAL_REASONS = [
  "no_client_certificate",
  "unknown_ca",
  "expired",
  "not_yet_valid",
  "revoked",
  "not_a_client_certificate",
  "invalid_certificate",
  "client_refused_coordinator_certificate",
  "plaintext",
  "protocol_mismatch",
  "handshake_timeout",
  "other",
] as const;

export type TlsRefusalReason = (typeof TLS_REFUSAL_REASONS)[number];

export interface TlsRefusal {
  readonly reason: TlsRefusalReason;
  /** One sentence for the log: what was wrong and what to do. */
  readonly explanation: string;
  /** The certificate's subject CN, where the refusal had the certificate to read it from. */
  readonly commonName?: string;
}

/** What the handshake's failure looked like, from the `tlsClientError` event. */
export interface HandshakeFailure {
  /** Node's `error.code`: `ERR_SSL_…`, `ECONNRESET`, `ERR_TLS_HANDSHAKE_TIMEOUT`. */
  readonly code?: string | undefined;
  readonly message: string;
  /**
   * The socket's `authorizationError` (an OpenSSL verify code such as CERT_HAS_EXPIRED). Node
   * checks the client certificate only after the handshake and then closes the socket without an
   * error of its own (the event says ECONNRESET), so this is where the real reason is.
   */
  readonly authorizationError?: string | null | undefined;
}

/** OpenSSL verify results that mean "no chain to the CA in tls.ca". */
const UNKNOWN_CA = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED",
]);

/** Alerts a client sends when it does not accept the coordinator's certificate. */
const CLIENT_ALERT =
  /^ERR_SSL_(TLSV1_ALERT_UNKNOWN_CA|SSLV3_ALERT_BAD_CERTIFICATE|SSLV3_ALERT_CERTIFICATE_UNKNOWN|SSLV3_ALERT_CERTIFICATE_EXPIRED|SSLV3_ALERT_CERTIFICATE_REVOKED|TLSV1_ALERT_DECRYPT_ERROR|TLSV1_ALERT_ACCESS_DENIED)$/;

/** Codes for a client whose first bytes are not a TLS ClientHello at all. */
const PLAINTEXT = new Set([
  "ERR_SSL_WRONG_VERSION_NUMBER",
  "ERR_SSL_HTTP_REQUEST",
  "ERR_SSL_HTTPS_PROXY_REQUEST",
]);

const PROTOCOL = new Set([
  "ERR_SSL_UNSUPPORTED_PROTOCOL",
  "ERR_SSL_NO_SHARED_CIPHER",
  "ERR_SSL_NO_APPLICATION_PROTOCOL",
  "ERR_SSL_VERSION_TOO_LOW",
  "ERR_SSL_NO_PROTOCOLS_AVAILABLE",
  "ERR_SSL_UNSUPPORTED_SSL_VERSION",
]);

/**
 * The refusal behind a failed handshake, or undefined when the client just went away before
 * finishing it (a TCP health probe, or a client that refused the coordinator's certificate
 * without an alert, as Node and grpc-js clients do: the client names that case itself).
 */
export function classifyHandshakeFailure(failure: HandshakeFailure, caName: string): TlsRefusal | undefined {
  const verify = failure.authorizationError ?? undefined;
  if (verify) return certificateRefusal(verify, caName);
  const code = failure.code ?? "";
  if (code === "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE")
    return {
      reason: "no_client_certificate",
      explanation:
        "the client sent no client certificate, and this coordinator requires mutual TLS: set tls.cert and tls.key in that hospital's client config to its own certificate and key",
    };
  if (CLIENT_ALERT.test(code))
    return {
      reason: "client_refused_coordinator_certificate",
      explanation: `the client refused this coordinator's certificate (${openSslReason(failure)}): its tls.ca must be the federation's CA (${caName}) and the host it dials must be a name in the coordinator's certificate`,
    };
  if (PLAINTEXT.has(code))
    return {
      reason: "plaintext",
      explanation: `the client did not speak TLS (${openSslReason(failure)}): it is configured with insecure: true, or it is not an fl client`,
    };
  if (PROTOCOL.has(code))
    return {
      reason: "protocol_mismatch",
      explanation: `the client's TLS does not match the coordinator's (${openSslReason(failure)}): the coordinator speaks TLS 1.2 or later with HTTP/2 (ALPN h2), as the fl client does`,
    };
  if (code === "ERR_TLS_HANDSHAKE_TIMEOUT")
    return {
      reason: "handshake_timeout",
      explanation:
        "the client did not finish the TLS handshake in time: a slow or broken network path, or a client that is not an fl client",
    };
  if (code.startsWith("ERR_SSL_"))
    return { reason: "other", explanation: `the TLS handshake failed: ${openSslReason(failure)}` };
  return undefined;
}

/** A client certificate that OpenSSL's verification (or the CRL) refused. */
function certificateRefusal(verify: string, caName: string): TlsRefusal {
  if (UNKNOWN_CA.has(verify))
    return {
      reason: "unknown_ca",
      explanation: `its client certificate is not signed by the federation's CA (${caName}) in tls.ca (${verify}): it is another federation's or a self-made one; issue the hospital's certificate from this CA (fl provision)`,
    };
  if (verify === "CERT_HAS_EXPIRED")
    return {
      reason: "expired",
      explanation: `its client certificate has expired (${verify}): issue the hospital a new one from the federation's CA (fl provision)`,
    };
  if (verify === "CERT_NOT_YET_VALID")
    return {
      reason: "not_yet_valid",
      explanation: `its client certificate is not valid yet (${verify}): the clock of this host or of the CA's host is wrong`,
    };
  if (verify === "CERT_REVOKED")
    return {
      reason: "revoked",
      explanation: `its client certificate is revoked (${verify}): the hospital needs a new certificate`,
    };
  if (verify === "INVALID_PURPOSE" || verify === "UNSUPPORTED_CERTIFICATE_PURPOSE")
    return {
      reason: "not_a_client_certificate",
      explanation: `its certificate is not issued for client authentication (${verify}): the client uses a server certificate (the coordinator's or NATS's?) as tls.cert instead of the hospital's own`,
    };
  return {
    reason: "invalid_certificate",
    explanation: `its client certificate does not verify against the federation's CA (${caName}): ${verify}`,
  };
}

/** A client certificate listed in tls.crl, refused at a call (the handshake accepts it). */
export function revokedRefusal(message: string, commonName: string | undefined): TlsRefusal {
  return { reason: "revoked", explanation: message, ...(commonName !== undefined && { commonName }) };
}

/** OpenSSL's own words for a failure, without its file and line. */
function openSslReason(failure: HandshakeFailure): string {
  // "8012…:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/…:354:"
  const match = /SSL routines:[^:]*:([^:]+)/.exec(failure.message);
  return match?.[1] ?? failure.code ?? failure.message.split("\n")[0] ?? "unknown";
}
