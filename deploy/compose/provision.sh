#!/usr/bin/env bash
# Creates everything the compose federation needs under ./secrets, the way a real federation is
# provisioned: each hospital makes its own keys in its own folder and hands over only public files
# (idempotent: existing keys and kits are kept, so re-running it after adding a --site only
# provisions the new site):
#
#   secrets/tls/                       operator: CA and the coordinator's server certificate
#   secrets/coordinator/               operator: coordinator.identity.json (secret) + .public.json
#   secrets/<site>/                    hospital: <site>.identity.json and <site>.tls.key (secrets,
#                                      from `fl keys request`), <site>.request.json (sent to the
#                                      operator), then the start-up kit copied in (<site>.crt, ...)
#   secrets/kits/<site>/               operator: the start-up kit `fl provision` wrote (public only)
#   secrets/sites/<site>.public.json   the coordinator's allowlist (`fl provision` enrols here)
#   data/                              the hospitals' images: `fl data synth`, preset 3-hospitals
#                                      (sites metro-icu, community, outpatient), unless data/ has them
#
# Each kit's client.yaml is used unchanged by its hospital's container: `fl provision --data
# config/hospital-data.yaml --work-dir /var/lib/fl` gives it the container's data and work paths.
#
# Usage: ./provision.sh [--site ID ...] [--coordinator-san LIST] [--images-per-site N]
#   defaults: --site metro-icu --site community (site ids of the synthetic preset)
#             --coordinator-san DNS:coordinator,DNS:localhost,IP:127.0.0.1
#             --images-per-site 120
# The `fl` command used can be overridden, e.g. to run it from the image:
#   FL="docker run --rm -u $(id -u):$(id -g) -v $PWD:$PWD cxr-fl:cpu" ./provision.sh
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
SECRETS="$HERE/secrets"
FL="${FL:-node $REPO/bin/fl.js}"
DATA="$HERE/data"
SITES=()
IMAGES_PER_SITE=120
# The sites of the synthetic preset written into data/: a hospital outside it has no images there.
SYNTH_PRESET="3-hospitals"
SYNTH_SITES=(metro-icu community outpatient)
SAN="DNS:coordinator,DNS:localhost,IP:127.0.0.1"
# What config/coordinator.yaml says, and the address the hospitals dial (a SAN of its certificate).
FEDERATION_ID="cxr-demo"
COORDINATOR_ADDRESS="coordinator:50051"
# The uid:gid the images run as (see deploy/docker/Dockerfile.*).
CONTAINER_OWNER="10001:10001"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --site) SITES+=("${2:?--site needs an id}"); shift 2 ;;
    --coordinator-san) SAN="${2:?--coordinator-san needs a list}"; shift 2 ;;
    --images-per-site) IMAGES_PER_SITE="${2:?--images-per-site needs a number}"; shift 2 ;;
    -h | --help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "provision: unknown argument $1" >&2; exit 1 ;;
  esac
done
[[ ${#SITES[@]} -gt 0 ]] || SITES=(metro-icu community)
for site in "${SITES[@]}"; do
  if [[ ! " ${SYNTH_SITES[*]} " == *" $site "* ]]; then
    echo "provision: $site is not a site of the synthetic data (${SYNTH_SITES[*]}), so its client would find no images; use one of those ids" >&2
    exit 1
  fi
done

umask 077
mkdir -p "$SECRETS/sites" "$SECRETS/kits"

# --- operator: CA, coordinator certificate and identity ----------------------------------------
bash "$REPO/deploy/tls/make-certs.sh" --out "$SECRETS/tls" --coordinator-san "$SAN"
if [[ -f "$SECRETS/coordinator/coordinator.identity.json" ]]; then
  echo "keeping identity $SECRETS/coordinator/coordinator.identity.json"
else
  $FL keys generate --id coordinator --out "$SECRETS/coordinator"
fi

requests=()
for site in "${SITES[@]}"; do
  dir="$SECRETS/$site"
  # --- hospital: its own keys, in its own folder; only the request file goes to the operator ---
  if [[ -f "$dir/$site.tls.key" ]]; then
    echo "keeping $site's keys in $dir"
  elif [[ -f "$dir/$site.identity.json" ]]; then
    echo "provision: $dir has an identity but no $site.tls.key (made by an older provision.sh, which issued TLS keys centrally); move $dir and $SECRETS/sites/$site.public.json away and run again" >&2
    exit 1
  else
    $FL keys request --id "$site" --out "$dir"
  fi
  [[ -d "$SECRETS/kits/$site" ]] || requests+=("$dir/$site.request.json")
done

# --- operator: sign the CSRs, enrol the identities, write the kits ------------------------------
if [[ ${#requests[@]} -gt 0 ]]; then
  $FL provision --ca "$SECRETS/tls" --coordinator "$COORDINATOR_ADDRESS" --federation-id "$FEDERATION_ID" \
    --coordinator-public-key "$SECRETS/coordinator/coordinator.public.json" \
    --sites-dir "$SECRETS/sites" --out "$SECRETS/kits" \
    --data "$HERE/config/hospital-data.yaml" --work-dir /var/lib/fl "${requests[@]}"
fi
# --- hospital: the kit goes next to the keys it kept (the compose files mount it from there) -----
for site in "${SITES[@]}"; do cp "$SECRETS/kits/$site/"* "$SECRETS/$site/"; done

# --- the hospitals' images (synthetic) -----------------------------------------------------------
if [[ -f "$DATA/train_study_level.csv" ]]; then
  echo "keeping the images in $DATA"
else
  # Readable by everyone (umask 022, not the secrets' 077): the containers' uid 10001 reads it.
  (umask 022 && $FL data synth --out "$DATA" --preset "$SYNTH_PRESET" --images-per-site "$IMAGES_PER_SITE" --native-size 64)
fi

chmod -R go-rwx "$SECRETS"
if [[ $EUID -eq 0 ]]; then
  chown -R "$CONTAINER_OWNER" "$SECRETS"
  echo "secrets owned by $CONTAINER_OWNER (the containers' user)"
else
  echo
  echo "The containers run as uid 10001 and must be able to read the keys. Run once:"
  echo "  sudo chown -R $CONTAINER_OWNER $SECRETS"
fi
echo "Next: docker compose up --build -d coordinator ${SITES[*]}"
