#!/usr/bin/env bash
# Prints one hospital's manifests from client.template.yaml, for `kubectl apply -f -`.
#   render.sh --site ID --coordinator HOST:PORT --coordinator-cidr CIDR
set -euo pipefail
SITE="" COORDINATOR="" CIDR=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --site) SITE="${2:?}"; shift 2 ;;
    --coordinator) COORDINATOR="${2:?}"; shift 2 ;;
    --coordinator-cidr) CIDR="${2:?}"; shift 2 ;;
    *) echo "render: unknown argument $1" >&2; exit 1 ;;
  esac
done
[[ "$SITE" =~ ^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$ ]] ||
  { echo "render: --site must be lowercase letters, digits and '-' (a Kubernetes name), got '$SITE'" >&2; exit 1; }
[[ "$COORDINATOR" =~ ^[A-Za-z0-9.-]+:[0-9]{1,5}$ ]] ||
  { echo "render: --coordinator must be host:port, got '$COORDINATOR'" >&2; exit 1; }
[[ "$CIDR" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}$ ]] ||
  { echo "render: --coordinator-cidr must be an IPv4 CIDR such as 192.0.2.10/32, got '$CIDR'" >&2; exit 1; }
sed -e "s|__SITE_ID__|$SITE|g" -e "s|__COORDINATOR_CIDR__|$CIDR|g" -e "s|__COORDINATOR__|$COORDINATOR|g" \
  "$(dirname "${BASH_SOURCE[0]}")/client.template.yaml"
