#!/usr/bin/env bash
# Issues the TLS material for a federation with OpenSSL:
#   ca.crt / ca.key              a private CA (keep ca.key offline once the certificates exist)
#   coordinator.crt / .key       the coordinator's gRPC server certificate, with the SANs clients dial
#   <site>.crt / <site>.key      one client certificate per hospital, for mutual TLS (CN = site id)
#   nats.crt / nats.key          optional: a server certificate for nats-server (--nats-san)
#   ca.crl                       with --revoke: the CA's revocation list, for the coordinator's tls.crl
#
# Re-running it with the same --out reuses the CA and skips certificates that already exist, so a
# new hospital can be added later without re-issuing the others (use --force to re-issue).
#
# Example:
#   deploy/tls/make-certs.sh --out ./secrets/tls \
#     --coordinator-san DNS:fl.example.org,DNS:coordinator,IP:10.20.0.5 \
#     --site st-marys --site riverside
#   deploy/tls/make-certs.sh --out ./secrets/tls --revoke riverside   # then the coordinator refuses it
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: make-certs.sh --out DIR [--site ID ...] [options]
       make-certs.sh --out DIR --revoke ID [--revoke ID ...]

  --out DIR                 where certificates and keys are written (created, mode 700)
  --site ID                 a hospital site id (as given to `fl keys generate --id`); repeatable.
                            Without any, only the CA and the coordinator's certificate are made:
                            hospitals then send CSRs (`fl keys request`) for `fl provision`
  --coordinator-san LIST    SANs of the coordinator certificate, comma-separated, each DNS:<name>
                            or IP:<address>; must include the host clients put in `coordinator:`
                            (default: DNS:localhost,DNS:coordinator,IP:127.0.0.1)
  --nats-san LIST           also issue nats.crt/nats.key with these SANs (e.g. DNS:nats)
  --ca-name NAME            CA common name (default: "FL Federation CA")
  --ca-days N               CA validity in days (default: 3650)
  --days N                  leaf certificate validity in days (default: 825)
  --force                   re-issue leaf certificates that already exist (the CA is kept)
  --revoke ID               revoke the hospital's certificate DIR/ID.crt and rewrite DIR/ca.crl,
                            signed by the CA, listing every certificate revoked so far (the
                            coordinator's tls.crl; it re-reads the file, no restart needed)
  -h, --help                this help
EOF
}

die() {
  echo "make-certs: $*" >&2
  exit 1
}

OUT=""
SITES=()
COORDINATOR_SAN="DNS:localhost,DNS:coordinator,IP:127.0.0.1"
NATS_SAN=""
CA_NAME="FL Federation CA"
CA_DAYS=3650
DAYS=825
FORCE=0
REVOKE=()

while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) OUT="${2:?--out needs a directory}"; shift 2 ;;
    --site) SITES+=("${2:?--site needs an id}"); shift 2 ;;
    --coordinator-san) COORDINATOR_SAN="${2:?--coordinator-san needs a list}"; shift 2 ;;
    --nats-san) NATS_SAN="${2:?--nats-san needs a list}"; shift 2 ;;
    --ca-name) CA_NAME="${2:?--ca-name needs a name}"; shift 2 ;;
    --ca-days) CA_DAYS="${2:?--ca-days needs a number}"; shift 2 ;;
    --days) DAYS="${2:?--days needs a number}"; shift 2 ;;
    --force) FORCE=1; shift ;;
    --revoke) REVOKE+=("${2:?--revoke needs a site id}"); shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

command -v openssl >/dev/null || die "openssl is not installed (apt-get install -y openssl)"
[[ -n "$OUT" ]] || { usage >&2; die "--out is required"; }

# --- revocation -------------------------------------------------------------------------------
# openssl ca keeps the revoked certificates in an index file; it and the CRL number live in DIR,
# so that each run adds to the list instead of replacing it.
if [[ ${#REVOKE[@]} -gt 0 ]]; then
  [[ ${#SITES[@]} -eq 0 ]] || die "--revoke cannot be combined with --site: revoke first, then issue"
  [[ -f "$OUT/ca.crt" && -f "$OUT/ca.key" ]] || die "$OUT has no ca.crt and ca.key: revoke with the CA that issued the certificate"
  umask 077
  touch "$OUT/crl-index.txt"
  [[ -f "$OUT/crl-number" ]] || echo 01 >"$OUT/crl-number"
  WORK="$(mktemp -d)"
  trap 'rm -rf "$WORK"' EXIT
  printf '[ca]\ndefault_ca = fl_ca\n[fl_ca]\ndatabase = %s\ncrlnumber = %s\ndefault_md = sha256\ndefault_crl_days = 30\n' \
    "$OUT/crl-index.txt" "$OUT/crl-number" >"$WORK/ca.cnf"
  for site in "${REVOKE[@]}"; do
    [[ -f "$OUT/$site.crt" ]] || die "no certificate $OUT/$site.crt to revoke"
    serial="$(openssl x509 -in "$OUT/$site.crt" -noout -serial | cut -d= -f2)"
    if grep -q "	$serial	" "$OUT/crl-index.txt"; then
      echo "$site ($serial) is already revoked"
      continue
    fi
    expiry="$(date -u -d "$(openssl x509 -in "$OUT/$site.crt" -noout -enddate | cut -d= -f2)" +%y%m%d%H%M%SZ)"
    subject="$(openssl x509 -in "$OUT/$site.crt" -noout -subject -nameopt compat | sed 's/^subject=//')"
    printf 'R\t%s\t%s\t%s\tunknown\t%s\n' "$expiry" "$(date -u +%y%m%d%H%M%SZ)" "$serial" "$subject" >>"$OUT/crl-index.txt"
    echo "revoked $OUT/$site.crt (serial $serial)"
  done
  openssl ca -config "$WORK/ca.cnf" -gencrl -keyfile "$OUT/ca.key" -cert "$OUT/ca.crt" -out "$OUT/ca.crl" 2>/dev/null
  chmod 644 "$OUT/ca.crl"
  openssl crl -in "$OUT/ca.crl" -CAfile "$OUT/ca.crt" -noout 2>/dev/null ||
    die "the new $OUT/ca.crl does not verify against $OUT/ca.crt"
  echo "wrote $OUT/ca.crl ($(grep -c '^R' "$OUT/crl-index.txt") revoked); set the coordinator's tls.crl to it"
  exit 0
fi
[[ "$CA_DAYS" =~ ^[1-9][0-9]*$ && "$DAYS" =~ ^[1-9][0-9]*$ ]] || die "--days and --ca-days must be positive integers"

check_san_list() {
  local list="$1" entry
  IFS=',' read -r -a entries <<<"$list"
  for entry in "${entries[@]}"; do
    [[ "$entry" =~ ^(DNS:[A-Za-z0-9*.-]+|IP:[0-9A-Fa-f.:]+)$ ]] ||
      die "bad SAN entry '$entry' in '$list': use DNS:<name> or IP:<address>, comma-separated"
  done
}
check_san_list "$COORDINATOR_SAN"
[[ -z "$NATS_SAN" ]] || check_san_list "$NATS_SAN"
for site in "${SITES[@]}"; do
  [[ "$site" =~ ^[A-Za-z0-9._-]{1,64}$ && "$site" != .* ]] ||
    die "bad site id '$site': use 1-64 letters, digits, '.', '-' or '_' (the id given to fl keys generate)"
  [[ "$site" != "ca" && "$site" != "coordinator" && "$site" != "nats" ]] ||
    die "site id '$site' clashes with a file this script writes; choose another id"
done

umask 077
mkdir -p "$OUT"
chmod 700 "$OUT"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

new_key() {
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
}

random_serial() {
  echo "0x$(openssl rand -hex 16)"
}

# --- CA ---------------------------------------------------------------------------------------
if [[ -f "$OUT/ca.crt" && -f "$OUT/ca.key" ]]; then
  echo "reusing CA $OUT/ca.crt"
elif [[ -f "$OUT/ca.crt" || -f "$OUT/ca.key" ]]; then
  die "$OUT has only one of ca.crt and ca.key; restore the other or move both away"
else
  new_key "$OUT/ca.key"
  openssl req -x509 -new -key "$OUT/ca.key" -sha256 -days "$CA_DAYS" -subj "/CN=$CA_NAME" \
    -set_serial "$(random_serial)" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" \
    -out "$OUT/ca.crt"
  echo "created CA $OUT/ca.crt (keep ca.key offline once all certificates are issued)"
fi

# issue NAME CN USAGE SANS: writes NAME.key and NAME.crt signed by the CA.
issue() {
  local name="$1" cn="$2" usage="$3" sans="$4"
  if [[ -f "$OUT/$name.crt" && $FORCE -eq 0 ]]; then
    echo "keeping $OUT/$name.crt (use --force to re-issue)"
    return
  fi
  new_key "$OUT/$name.key"
  openssl req -new -key "$OUT/$name.key" -subj "/CN=$cn" -out "$WORK/$name.csr"
  cat >"$WORK/$name.ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=$usage
subjectAltName=$sans
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid,issuer
EOF
  openssl x509 -req -in "$WORK/$name.csr" -CA "$OUT/ca.crt" -CAkey "$OUT/ca.key" \
    -set_serial "$(random_serial)" -days "$DAYS" -sha256 -extfile "$WORK/$name.ext" \
    -out "$OUT/$name.crt" 2>/dev/null
  echo "issued $OUT/$name.crt ($usage; $sans)"
}

issue coordinator coordinator serverAuth "$COORDINATOR_SAN"
[[ -z "$NATS_SAN" ]] || issue nats nats serverAuth "$NATS_SAN"
for site in "${SITES[@]}"; do
  issue "$site" "$site" clientAuth "DNS:$site"
done

# Certificates are public; keys stay owner-only.
chmod 644 "$OUT"/*.crt
chmod 600 "$OUT"/*.key

# --- self-check -------------------------------------------------------------------------------
openssl verify -CAfile "$OUT/ca.crt" -purpose sslserver "$OUT/coordinator.crt" >/dev/null
[[ -z "$NATS_SAN" ]] || openssl verify -CAfile "$OUT/ca.crt" -purpose sslserver "$OUT/nats.crt" >/dev/null
for site in "${SITES[@]}"; do
  openssl verify -CAfile "$OUT/ca.crt" -purpose sslclient "$OUT/$site.crt" >/dev/null
done
echo "all certificates verify against $OUT/ca.crt"
