import { describe, expect, it } from "vitest";
import { createRefusalReporter, hostOf } from "../../../../../coordinator/src/transport/grpc/refusal-log.js";
import { parseListen } from "../../../../../coordinator/src/transport/grpc/tls-listener.js";
import {
  classifyHandshakeFailure,
  type TlsRefusal,
} from "../../../../../coordinator/src/transport/grpc/tls-refusal.js";

const CA = '"FL Federation CA"';
// What Node 20 / OpenSSL 3 gave for real handshakes (see test/integration/coordinator/tls-refusals.test.ts).
const NO_CERT = {
  code: "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE",
  message:
    "80ACAB5AA77F0000:error:0A0000C7:SSL routines:tls_process_client_certificate:peer did not return a certificate:../deps/openssl/openssl/ssl/statem/statem_srvr.c:3517:\n",
};
const PLAINTEXT = {
  code: "ERR_SSL_WRONG_VERSION_NUMBER",
  message:
    "805C2B14397F0000:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:354:\n",
};
const RESET = { code: "ECONNRESET", message: "socket hang up" };

describe("classifyHandshakeFailure", () => {
  it("reads the verify result Node leaves on the socket, not the ECONNRESET it reports", () => {
    expect(
      classifyHandshakeFailure({ ...RESET, authorizationError: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" }, CA),
    ).toMatchObject({
      reason: "unknown_ca",
      explanation: expect.stringContaining(`federation's CA (${CA})`),
    });
    expect(classifyHandshakeFailure({ ...RESET, authorizationError: "CERT_HAS_EXPIRED" }, CA)?.reason).toBe(
      "expired",
    );
    expect(classifyHandshakeFailure({ ...RESET, authorizationError: "CERT_NOT_YET_VALID" }, CA)?.reason).toBe(
      "not_yet_valid",
    );
    expect(classifyHandshakeFailure({ ...RESET, authorizationError: "INVALID_PURPOSE" }, CA)?.reason).toBe(
      "not_a_client_certificate",
    );
    const unusual = classifyHandshakeFailure({ ...RESET, authorizationError: "CERT_CHAIN_TOO_LONG" }, CA);
    expect(unusual).toMatchObject({
      reason: "invalid_certificate",
      explanation: expect.stringContaining("CERT_CHAIN_TOO_LONG"),
    });
  });

  it("names handshakes that OpenSSL itself failed, in its words without file and line", () => {
    expect(classifyHandshakeFailure(NO_CERT, CA)).toMatchObject({
      reason: "no_client_certificate",
      explanation: expect.stringContaining("set tls.cert and tls.key"),
    });
    const plaintext = classifyHandshakeFailure(PLAINTEXT, CA);
    expect(plaintext?.reason).toBe("plaintext");
    expect(plaintext?.explanation).toContain("(wrong version number)");
    expect(plaintext?.explanation).not.toContain("ssl3_record.c");
    expect(
      classifyHandshakeFailure(
        {
          code: "ERR_SSL_UNSUPPORTED_PROTOCOL",
          message: "x:error:0A000102:SSL routines:f:unsupported protocol:y",
        },
        CA,
      ),
    ).toMatchObject({
      reason: "protocol_mismatch",
      explanation: expect.stringContaining("(unsupported protocol)"),
    });
    expect(
      classifyHandshakeFailure(
        {
          code: "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA",
          message: "x:error:0A000418:SSL routines:f:tlsv1 alert unknown ca:y",
        },
        CA,
      )?.reason,
    ).toBe("client_refused_coordinator_certificate");
  });

  it("leaves out a client that only went away (a TCP probe), which is nothing to fix", () => {
    expect(classifyHandshakeFailure(RESET, CA)).toBeUndefined();
    expect(classifyHandshakeFailure({ ...RESET, authorizationError: null }, CA)).toBeUndefined();
    expect(classifyHandshakeFailure({ code: "EPIPE", message: "write EPIPE" }, CA)).toBeUndefined();
  });
});

describe("createRefusalReporter", () => {
  const expired: TlsRefusal = { reason: "expired", explanation: "its client certificate has expired" };
  const unknownCa: TlsRefusal = { reason: "unknown_ca", explanation: "not signed by the federation's CA" };

  it("logs an address and reason once per window, counts every refusal, and says how many it left out", () => {
    let now = 1_000_000;
    const lines: string[] = [];
    const counted: string[] = [];
    const reporter = createRefusalReporter({
      log: (line) => lines.push(line),
      count: (reason) => counted.push(reason),
      windowMs: 60_000,
      now: () => now,
    });
    // A looping client: a new source port each time.
    for (let port = 40_000; port < 40_010; port++) reporter.refused(`10.0.0.5:${port}`, expired);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^refused a TLS client at 10\.0\.0\.5:40000: its client certificate has expired\./,
    );
    expect(lines[0]).toContain('fl_tls_handshake_failures_total{reason="expired"}');
    // Another reason from the same address, and another address, are news.
    reporter.refused("10.0.0.5:40011", unknownCa);
    reporter.refused("10.0.0.6:40012", expired);
    expect(lines).toHaveLength(3);
    now += 59_999;
    reporter.refused("10.0.0.5:40013", expired);
    expect(lines).toHaveLength(3);
    now += 1;
    reporter.refused("10.0.0.5:40014", expired);
    expect(lines).toHaveLength(4);
    // 9 left out in the first burst, and 1 just before the window ended.
    expect(lines[3]).toContain("(10 more from 10.0.0.5 for this reason since it was last logged)");
    expect(counted).toHaveLength(14);
    expect(counted.filter((r) => r === "expired")).toHaveLength(13);
  });

  it("keys IPv6 peers by address as grpc-js writes them (no brackets)", () => {
    expect(hostOf("::1:50123")).toBe("::1");
    expect(hostOf("::ffff:10.0.0.5:50123")).toBe("::ffff:10.0.0.5");
    expect(hostOf("127.0.0.1:1")).toBe("127.0.0.1");
  });
});

describe("parseListen", () => {
  it("takes host:port, bracketed IPv6 and :port, and refuses anything else with an example", () => {
    expect(parseListen("0.0.0.0:50051")).toEqual({ host: "0.0.0.0", port: 50051 });
    expect(parseListen("[::]:0")).toEqual({ host: "::", port: 0 });
    expect(parseListen(":7000")).toEqual({ host: undefined, port: 7000 });
    for (const bad of ["50051", "host:", "host:port", "host:70000", "host:-1"])
      expect(() => parseListen(bad), bad).toThrow(/is not host:port \(for example 0\.0\.0\.0:50051/);
  });
});
