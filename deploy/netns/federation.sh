#!/usr/bin/env bash
# A multi-host federation on one Linux machine: the coordinator, a nats-server (JetStream, TLS)
# and three hospitals, each in its own network namespace, joined by veth links to a bridge in a
# hub namespace. Only the namespaces' private addresses (10.77.0.x) are used; gRPC runs over
# mutual TLS with certificates from deploy/tls/make-certs.sh, keys come from `fl keys generate`.
# Needs root, iproute2, openssl and nats-server. See docs/deploy.md ("A multi-host run on one
# machine").
#
#   federation.sh [--dir DIR] up [--prefix P] [--rounds N] [--image-size PX] [--images-per-site N]
#                                [--epochs N] [--backend NAME]
#   federation.sh [--dir DIR] run          start NATS, the coordinator and the hospitals (returns)
#   federation.sh [--dir DIR] events ...   `fl events watch` from the coordinator's host
#   federation.sh [--dir DIR] cut SITE     take SITE's link down at the hub (a pulled cable)
#   federation.sh [--dir DIR] restore SITE bring it back
#   federation.sh [--dir DIR] exec HOST CMD...   run CMD on a host (coordinator, nats or a site id)
#   federation.sh [--dir DIR] wait [--timeout S]  until the coordinator exits; its exit code
#   federation.sh [--dir DIR] down [--purge]      stop everything, delete namespaces (and DIR)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DIR="${TMPDIR:-/tmp}/fl-netns"
SITES=(metro-icu community outpatient) # the synthetic preset 3-hospitals
SUBNET=10.77.0
COORD_IP="$SUBNET.10"
NATS_IP="$SUBNET.20"
GRPC_PORT=50051
NATS_PORT=4222
FEDERATION=netns

die() {
  echo "federation.sh: $*" >&2
  exit 1
}
say() { echo "federation.sh: $*"; }

usage() { sed -n '2,/^set -/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }

site_ip() { # the address of SITES[$1]
  echo "$SUBNET.$((101 + $1))"
}

site_index() {
  local i
  for i in "${!SITES[@]}"; do
    [[ "${SITES[$i]}" == "$1" ]] && { echo "$i"; return; }
  done
  die "unknown site '$1': the sites are ${SITES[*]}"
}

load_state() {
  [[ -f "$DIR/netns.env" ]] || die "$DIR/netns.env not found: run '$0 --dir $DIR up' first"
  # shellcheck source=/dev/null
  source "$DIR/netns.env"
}

ns() { echo "$PREFIX-$1"; } # the namespace of host $1 (hub, coordinator, nats or a site id)

hosts_dir() { echo "/etc/netns/$(ns coordinator)"; }

all_hosts() { echo hub coordinator nats "${SITES[@]}"; }

preflight() {
  [[ $EUID -eq 0 ]] || die "network namespaces need root: run it with sudo"
  command -v ip >/dev/null || die "ip (iproute2) is not installed: apt-get install -y iproute2"
  command -v openssl >/dev/null || die "openssl is not installed: apt-get install -y openssl"
  command -v nats-server >/dev/null || die "nats-server is not installed: apt-get install -y nats-server"
  command -v "$NODE" >/dev/null || die "node not found ('$NODE'): set NODE=/path/to/node (sudo may reset PATH)"
}

fl() { "$NODE" "$REPO/bin/fl.js" "$@"; }

# --- up: namespaces, links, keys, certificates, configs ----------------------------------------
cmd_up() {
  local rounds=3 image_size=32 images=120 epochs=8 backend=auto
  PREFIX=flnet
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --prefix) PREFIX="${2:?--prefix needs a name}"; shift 2 ;;
      --rounds) rounds="${2:?}"; shift 2 ;;
      --image-size) image_size="${2:?}"; shift 2 ;;
      --images-per-site) images="${2:?}"; shift 2 ;;
      --epochs) epochs="${2:?}"; shift 2 ;;
      --backend) backend="${2:?}"; shift 2 ;;
      *) die "up: unknown argument $1" ;;
    esac
  done
  [[ "$PREFIX" =~ ^[a-z][a-z0-9]{0,11}$ ]] || die "--prefix must be 1-12 lowercase letters and digits"
  local n
  for n in "$rounds" "$image_size" "$images" "$epochs"; do
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "--rounds, --image-size, --images-per-site and --epochs take positive integers"
  done
  NODE="${NODE:-node}"
  preflight
  local host
  for host in $(all_hosts); do
    [[ ! -e "/run/netns/$(ns "$host")" ]] || die "namespace $(ns "$host") exists: run '$0 --dir $DIR down' first"
  done
  [[ ! -d "$DIR" || -z "$(ls -A "$DIR")" ]] ||
    die "$DIR is not empty (an earlier run?): '$0 --dir $DIR down --purge' removes it, or choose another --dir"

  # A failure half-way leaves nothing behind.
  trap 'echo "federation.sh: up failed; removing what it made" >&2; remove_namespaces; rm -rf "$DIR" "$(hosts_dir)"' EXIT
  mkdir -p "$DIR"
  cat >"$DIR/netns.env" <<EOF
PREFIX=$PREFIX
NODE=$(command -v "$NODE")
EOF

  ip netns add "$(ns hub)"
  ip -n "$(ns hub)" link add br0 type bridge
  ip -n "$(ns hub)" link set br0 up
  ip -n "$(ns hub)" link set lo up
  # One veth per host, created straight into the two namespaces it joins: eth0 on the host,
  # <hub-side> on the bridge. Nothing touches the root namespace.
  link_host() {
    local host="$1" hub_side="$2" address="$3" n
    n="$(ns "$host")"
    ip netns add "$n"
    ip -n "$n" link set lo up
    ip -n "$n" link add eth0 type veth peer name "$hub_side" netns "$(ns hub)"
    ip -n "$n" addr add "$address/24" dev eth0
    ip -n "$n" link set eth0 up
    ip -n "$(ns hub)" link set "$hub_side" master br0
    ip -n "$(ns hub)" link set "$hub_side" up
  }
  link_host coordinator coord "$COORD_IP"
  # nats.js cannot check a server certificate against an IP address (it then checks the name
  # "localhost"), so the coordinator reaches NATS by name: `ip netns exec` mounts this file as
  # the namespace's /etc/hosts.
  mkdir -p "$(hosts_dir)"
  printf '127.0.0.1 localhost\n%s nats\n' "$NATS_IP" >"$(hosts_dir)/hosts"
  link_host nats nats "$NATS_IP"
  local i
  for i in "${!SITES[@]}"; do link_host "${SITES[$i]}" "site$((i + 1))" "$(site_ip "$i")"; done

  # Each host's own folder, as on separate machines; only public files cross between them.
  local c="$DIR/coordinator" sans=() site
  mkdir -p "$c/sites" "$c/tls" "$c/state" "$DIR/nats/store" "$DIR/logs" "$DIR/run"
  # Each host makes its own keys (in parallel: each is a Node start-up).
  local jobs=() job
  fl keys generate --id coordinator --out "$c" >/dev/null &
  jobs+=($!)
  for site in "${SITES[@]}"; do
    mkdir -p "$DIR/$site/tls" "$DIR/$site/work"
    fl keys generate --id "$site" --out "$DIR/$site" >/dev/null &
    jobs+=($!)
  done
  for job in "${jobs[@]}"; do wait "$job"; done
  for site in "${SITES[@]}"; do sans+=(--site "$site"); done
  "$REPO/deploy/tls/make-certs.sh" --out "$DIR/ca" --coordinator-san "IP:$COORD_IP" \
    --nats-san "DNS:nats,IP:$NATS_IP" "${sans[@]}" >/dev/null
  cp "$DIR/ca/ca.crt" "$DIR/ca/coordinator.crt" "$DIR/ca/coordinator.key" "$c/tls/"
  cp "$DIR/ca/nats.crt" "$DIR/ca/nats.key" "$DIR/nats/"
  for site in "${SITES[@]}"; do
    local s="$DIR/$site"
    cp "$s/$site.public.json" "$c/sites/" # a hospital sends only its public file
    cp "$c/coordinator.public.json" "$s/"
    cp "$DIR/ca/ca.crt" "$DIR/ca/$site.crt" "$DIR/ca/$site.key" "$s/tls/"
    cat >"$s/client.yaml" <<EOF
siteId: $site
federationId: $FEDERATION
coordinator: $COORD_IP:$GRPC_PORT
identity: $site.identity.json
coordinatorPublicKey: coordinator.public.json
tls: { ca: tls/ca.crt, cert: tls/$site.crt, key: tls/$site.key }
data: { kind: synthetic, preset: 3-hospitals, imagesPerSite: $images, imageSize: $image_size, seed: 7 }
workDir: work
backend: $backend
reconnectTimeoutSec: 120
EOF
  done
  cat >"$c/coordinator.yaml" <<EOF
federationId: $FEDERATION
listen: $COORD_IP:$GRPC_PORT
stateDir: state
identity: coordinator.identity.json
sitesDir: sites
tls: { cert: tls/coordinator.crt, key: tls/coordinator.key, ca: tls/ca.crt, requireClientCert: true }
nats: { url: "tls://nats:$NATS_PORT", jetstream: true, tls: { ca: tls/ca.crt } }
model: { architecture: small-cnn, imageSize: $image_size, widths: [4], numClasses: 4, seed: 8 }
plan:
  phases:
    - name: supervised
      task: classify
      rounds: $rounds
      train: { epochs: $epochs, batchSize: 16, learningRate: 0.002 }
  # Every hospital is present for each round to start; a round completes with two of three.
  minSites: 2
  minAvailableSites: ${#SITES[@]}
  fraction: 1
  roundTimeoutSec: 300
  evaluateEvery: 0
  seed: 7
# The soonest a silent site is counted as lost (the minimum the coordinator accepts).
limits: { heartbeatIntervalMs: 1000, heartbeatTimeoutSec: 25 }
EOF
  trap - EXIT
  say "up: namespaces $(ns hub) (bridge), $(ns coordinator) $COORD_IP, $(ns nats) $NATS_IP, $(for i in "${!SITES[@]}"; do printf '%s %s, ' "$(ns "${SITES[$i]}")" "$(site_ip "$i")"; done | sed 's/, $//'); files in $DIR"
}

# --- run: the processes, each in its host's namespace --------------------------------------------
# start NAME HOST CMD...: runs CMD in HOST's namespace in its own session (so that down can stop
# it and its children as a group), logging to logs/NAME.log and its exit code to run/NAME.rc.
start() {
  local name="$1" host="$2"
  shift 2
  rm -f "$DIR/run/$name.rc"
  setsid bash -c 'echo $$ >"$1"; shift; log="$1" rc="$2"; shift 2
    "$@" >>"$log" 2>&1 && code=0 || code=$?; echo "$code" >"$rc"' \
    start "$DIR/run/$name.pid" "$DIR/logs/$name.log" "$DIR/run/$name.rc" \
    ip netns exec "$(ns "$host")" "$@" </dev/null >/dev/null 2>&1 &
  local waited=0
  while [[ ! -s "$DIR/run/$name.pid" ]]; do
    sleep 0.05
    waited=$((waited + 1))
    [[ $waited -lt 100 ]] || die "$name did not start"
  done
}

# wait_for NAME SECONDS TEST...: until TEST holds, or NAME exits or the time is up.
wait_for() {
  local name="$1" seconds="$2" deadline
  shift 2
  deadline=$((SECONDS + seconds))
  until "$@"; do
    if [[ -f "$DIR/run/$name.rc" ]]; then
      tail -n 20 "$DIR/logs/$name.log" >&2
      die "$name exited (code $(cat "$DIR/run/$name.rc")) before it was ready; see $DIR/logs/$name.log"
    fi
    [[ $SECONDS -lt $deadline ]] || die "$name not ready after $seconds s; see $DIR/logs/$name.log"
    sleep 0.2
  done
}

cmd_run() {
  load_state
  preflight
  [[ ! -f "$DIR/run/coordinator.pid" ]] || die "already running: '$0 --dir $DIR down' stops it"
  trap 'echo "federation.sh: run failed; stopping what it started" >&2; stop_processes' EXIT
  start nats nats nats-server -a "$NATS_IP" -p "$NATS_PORT" -js -sd "$DIR/nats/store" \
    --tls --tlscert "$DIR/nats/nats.crt" --tlskey "$DIR/nats/nats.key"
  wait_for nats 30 grep -q "Server is ready" "$DIR/logs/nats.log"
  start coordinator coordinator "$NODE" "$REPO/bin/fl.js" coordinator --config "$DIR/coordinator/coordinator.yaml"
  wait_for coordinator 60 test -s "$DIR/coordinator/state/coordinator.addr"
  local site
  for site in "${SITES[@]}"; do
    start "$site" "$site" "$NODE" "$REPO/bin/fl.js" client --config "$DIR/$site/client.yaml"
  done
  trap - EXIT
  say "run: nats-server on $NATS_IP:$NATS_PORT, coordinator on $COORD_IP:$GRPC_PORT, hospitals ${SITES[*]}; logs in $DIR/logs"
}

cmd_events() {
  load_state
  exec ip netns exec "$(ns coordinator)" "$NODE" "$REPO/bin/fl.js" events watch \
    --nats "tls://nats:$NATS_PORT" --tls-ca "$DIR/coordinator/tls/ca.crt" --federation "$FEDERATION" "$@"
}

cmd_cut() {
  load_state
  local i
  i="$(site_index "${1:?cut needs a site id}")"
  ip -n "$(ns hub)" link set "site$((i + 1))" down
  say "cut: $1's link is down at the hub (its host sees no carrier, the coordinator silence)"
}

cmd_restore() {
  load_state
  local i
  i="$(site_index "${1:?restore needs a site id}")"
  ip -n "$(ns hub)" link set "site$((i + 1))" up
  say "restore: $1's link is up"
}

cmd_exec() {
  load_state
  local host="${1:?exec needs a host: coordinator, nats or a site id}"
  shift
  [[ -e "/run/netns/$(ns "$host")" ]] || die "no namespace $(ns "$host")"
  exec ip netns exec "$(ns "$host")" "$@"
}

cmd_wait() {
  local timeout=600
  [[ "${1:-}" != "--timeout" ]] || timeout="${2:?--timeout needs seconds}"
  load_state
  [[ -f "$DIR/run/coordinator.pid" ]] || die "nothing runs: '$0 --dir $DIR run' first"
  local deadline=$((SECONDS + timeout)) site
  until [[ -f "$DIR/run/coordinator.rc" ]]; do
    [[ $SECONDS -lt $deadline ]] || die "the coordinator is still running after $timeout s"
    sleep 0.5
  done
  # The hospitals leave once they hear that the plan is complete (their next long poll; on a
  # loaded host that can take a while after the coordinator's own exit).
  local grace=$((SECONDS + 30))
  for site in "${SITES[@]}"; do
    until [[ -f "$DIR/run/$site.rc" || $SECONDS -ge $grace ]]; do sleep 0.2; done
  done
  local code
  code="$(cat "$DIR/run/coordinator.rc")"
  [[ ! -f "$DIR/coordinator/state/report.md" ]] || cat "$DIR/coordinator/state/report.md"
  say "wait: the coordinator exited with code $code; hospitals: $(for site in "${SITES[@]}"; do printf '%s=%s ' "$site" "$(cat "$DIR/run/$site.rc" 2>/dev/null || echo running)"; done)"
  return "$code"
}

# Stops every started process group, then anything else left in the namespaces.
stop_processes() {
  local pidfile pid host n
  for pidfile in "$DIR"/run/*.pid; do
    [[ -f "$pidfile" ]] || continue
    pid="$(cat "$pidfile")"
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  local tries=0
  for pidfile in "$DIR"/run/*.pid; do
    [[ -f "$pidfile" ]] || continue
    pid="$(cat "$pidfile")"
    while kill -0 -- "-$pid" 2>/dev/null && [[ $tries -lt 50 ]]; do
      sleep 0.1
      tries=$((tries + 1))
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
  for host in $(all_hosts); do
    n="$(ns "$host")"
    [[ -e "/run/netns/$n" ]] || continue
    for pid in $(ip netns pids "$n" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
  done
}

remove_namespaces() {
  local host n
  for host in $(all_hosts); do
    n="$(ns "$host")"
    [[ ! -e "/run/netns/$n" ]] || ip netns del "$n"
  done
}

cmd_down() {
  local purge=0
  [[ "${1:-}" != "--purge" ]] || purge=1
  if [[ ! -f "$DIR/netns.env" ]]; then
    # Never a recursive delete of a folder this script did not set up: at most an empty one.
    [[ $purge -eq 0 || ! -d "$DIR" ]] || rmdir "$DIR" 2>/dev/null || true
    say "down: nothing set up in $DIR"
    return
  fi
  load_state
  stop_processes
  remove_namespaces # their veths go with them
  rm -rf "$(hosts_dir)"
  rmdir /etc/netns 2>/dev/null || true # only if this left it empty
  if [[ $purge -eq 1 ]]; then
    rm -rf "$DIR"
    say "down: processes stopped, namespaces $PREFIX-* deleted, $DIR removed"
  else
    rm -f "$DIR/netns.env"
    say "down: processes stopped, namespaces $PREFIX-* deleted; logs and reports stay in $DIR"
  fi
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --dir) DIR="$(realpath -m "${2:?--dir needs a folder}")"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) break ;;
  esac
done
command="${1:-}"
[[ -n "$command" ]] || { usage >&2; exit 2; }
shift
case "$command" in
  up) cmd_up "$@" ;;
  run) cmd_run ;;
  events) cmd_events "$@" ;;
  cut) cmd_cut "$@" ;;
  restore) cmd_restore "$@" ;;
  exec) cmd_exec "$@" ;;
  wait) cmd_wait "$@" ;;
  down) cmd_down "$@" ;;
  *) usage >&2; die "unknown command '$command'" ;;
esac
