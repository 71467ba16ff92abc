#!/usr/bin/env bash
# Issues the TLS material for a federation with OpenSSL:
#   ca.crt / ca.key              a private CA (keep ca.key offline once the certificates exist)
#   coordinator.crt / .key       the coordinator's gRPC server certificate, with the SANs clients dial
#   <site>.crt / <site>.key      one client certificate per hospital, for mutual TLS (CN = site id)
#   nats.crt / nats.key          optional: a server certificate for nats-server (--nats-san)
#
# Re-running it with the same --out reuses the CA and skips certificates that already exist, so a
# new hospital can be added later without re-issuing the others (use --force to re-issue).
#
# Example:
#   deploy/tls/make-certs.sh --out ./secrets/tls \
#     --coordinator-san DNS:fl.example.org,DNS:coordinator,IP:10.20.0.5 \
#     --site st-marys --site riverside
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: make-certs.sh --out DIR --site ID [--site ID ...] [options]

  --out DIR                 where certificates and keys are written (created, mode 700)
  --site ID                 a hospital site id (as given to `fl keys generate --id`); repeatable
  --coordinator-san LIST    SANs of the coordinator certificate, comma-separated, each DNS:<name>
                            or IP:<address>; must include the host clients put in `coordinator:`
                            (default: DNS:localhost,DNS:coordinator,IP:127.0.0.1)
  --nats-san LIST           also issue nats.crt/nats.key with these SANs (e.g. DNS:nats)
  --ca-name NAME            CA common name (default: "FL Federation CA")
  --ca-days N               CA validity in days (default: 3650)
  --days N                  leaf certificate validity in days (default: 825)
  --force                   re-issue leaf certificates that already exist (the CA is kept)
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
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

command -v openssl >/dev/null || die "openssl is not installed (apt-get install -y openssl)"
[[ -n "$OUT" ]] || { usage >&2; die "--out is required"; }
[[ ${#SITES[@]} -gt 0 ]] || { usage >&2; die "at least one --site is required"; }
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
