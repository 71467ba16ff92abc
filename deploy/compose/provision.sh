#!/usr/bin/env bash
# Creates everything the compose federation needs under ./secrets (idempotent: existing keys and
# certificates are kept, so re-running it after adding a --site only provisions the new site):
#
#   secrets/tls/                       CA, coordinator server cert, one client cert per hospital
#   secrets/coordinator/               coordinator.identity.json (secret) + coordinator.public.json
#   secrets/<site>/                    <site>.identity.json (secret) + <site>.public.json
#   secrets/sites/<site>.public.json   the coordinator's allowlist (enrolment = copying a file here)
#
# Usage: ./provision.sh [--site ID ...] [--coordinator-san LIST]
#   defaults: --site hospital-a --site hospital-b
#             --coordinator-san DNS:coordinator,DNS:localhost,IP:127.0.0.1
# The `fl` command used for key generation can be overridden, e.g. to run it from the image:
#   FL="docker run --rm -u $(id -u):$(id -g) -v $PWD/secrets:$PWD/secrets cxr-fl:cpu" ./provision.sh
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
SECRETS="$HERE/secrets"
FL="${FL:-node $REPO/bin/fl.js}"
SITES=()
SAN="DNS:coordinator,DNS:localhost,IP:127.0.0.1"
# The uid:gid the images run as (see deploy/docker/Dockerfile.*).
CONTAINER_OWNER="10001:10001"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --site) SITES+=("${2:?--site needs an id}"); shift 2 ;;
    --coordinator-san) SAN="${2:?--coordinator-san needs a list}"; shift 2 ;;
    -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "provision: unknown argument $1" >&2; exit 1 ;;
  esac
done
[[ ${#SITES[@]} -gt 0 ]] || SITES=(hospital-a hospital-b)

umask 077
mkdir -p "$SECRETS/sites"

cert_args=(--out "$SECRETS/tls" --coordinator-san "$SAN")
for site in "${SITES[@]}"; do cert_args+=(--site "$site"); done
bash "$REPO/deploy/tls/make-certs.sh" "${cert_args[@]}"

# generate_identity ID: one Ed25519 + X25519 identity, generated where it will live.
generate_identity() {
  local id="$1" dir="$SECRETS/$1"
  if [[ -f "$dir/$id.identity.json" ]]; then
    echo "keeping identity $dir/$id.identity.json"
  else
    mkdir -p "$dir"
    $FL keys generate --id "$id" --out "$dir"
  fi
  [[ -f "$dir/$id.identity.json" && -f "$dir/$id.public.json" ]] ||
    { echo "provision: '$FL keys generate' did not write $dir/$id.identity.json and $id.public.json" >&2; exit 1; }
}

generate_identity coordinator
for site in "${SITES[@]}"; do
  generate_identity "$site"
  # Enrolment: the coordinator trusts exactly the public keys in sites/.
  cp "$SECRETS/$site/$site.public.json" "$SECRETS/sites/$site.public.json"
  mkdir -p "$HERE/data/$site"
done

chmod -R go-rwx "$SECRETS"
if [[ $EUID -eq 0 ]]; then
  chown -R "$CONTAINER_OWNER" "$SECRETS"
  echo "secrets owned by $CONTAINER_OWNER (the containers' user)"
else
  echo
  echo "The containers run as uid 10001 and must be able to read the keys. Run once:"
  echo "  sudo chown -R $CONTAINER_OWNER $SECRETS"
fi
echo "Put each hospital's images and labels.csv under $HERE/data/<site>/ (or set HOSPITAL_A_DATA / HOSPITAL_B_DATA)."
