#!/usr/bin/env bash
# The two-machine bench path, proven on one machine: two network namespaces
# joined by a veth pair stand in for two hosts. The peers (`coremesh-bench
# peers`: raw TCP, coremesh and ractor_cluster) run in cm-peer at 10.77.0.1,
# the client (`coremesh-bench report` by default) in cm-client at 10.77.0.2
# with COREMESH_BENCH_PEER=10.77.0.1:7700, exactly as on two machines.
#
# Usage: bench/netns-two-machines.sh [report|remote] [-- extra args]
#   report (default): target/release/coremesh-bench report, chart in target/
#   remote:           cargo bench -p coremesh-bench --bench remote
# Env: COREMESH_BENCH_SECS (default 1 here), PEER_CPU (default: the second
# allowed CPU), CLIENT_CPU is chosen by the bench itself (the first).
#
# Needs root and iproute2; skips (exit 0, with a message) without them.
# Removes both namespaces on every exit (trap), and every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE="${1:-report}"
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift

if [ "$(id -u)" -ne 0 ]; then
    echo "netns-two-machines: skipped: needs root (network namespaces)"; exit 0
fi
if ! command -v ip >/dev/null 2>&1; then
    echo "netns-two-machines: skipped: the ip command (iproute2) is missing"; exit 0
fi
case "$MODE" in report|remote) ;; *) echo "netns-two-machines: unknown mode '$MODE' (report or remote)" >&2; exit 2;; esac

NS_PEER=cm-peer
NS_CLIENT=cm-client
PEER_IP=10.77.0.1
CLIENT_IP=10.77.0.2
PORT=7700
BIN="${CARGO_TARGET_DIR:-target}/release/coremesh-bench"
WORK="$(mktemp -d)"
PEERS_PID=""

cleanup() {
    set +e
    # Closing the peers' stdin (fd 3) stops them; kill what is left after 10 s.
    exec 3>&- 2>/dev/null
    if [ -n "$PEERS_PID" ]; then
        for _ in $(seq 100); do kill -0 "$PEERS_PID" 2>/dev/null || break; sleep 0.1; done
        kill "$PEERS_PID" 2>/dev/null
    fi
    for pid in $(ip netns pids "$NS_PEER" 2>/dev/null) $(ip netns pids "$NS_CLIENT" 2>/dev/null); do
        kill "$pid" 2>/dev/null
    done
    ip netns del "$NS_PEER" 2>/dev/null
    ip netns del "$NS_CLIENT" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "== building (release)"
cargo build -p coremesh-bench --release --quiet

echo "== namespaces $NS_PEER ($PEER_IP) and $NS_CLIENT ($CLIENT_IP), joined by veth"
ip netns del "$NS_PEER" 2>/dev/null || true
ip netns del "$NS_CLIENT" 2>/dev/null || true
ip netns add "$NS_PEER"
ip netns add "$NS_CLIENT"
ip link add cm-veth-p netns "$NS_PEER" type veth peer name cm-veth-c netns "$NS_CLIENT"
ip -n "$NS_PEER" addr add "$PEER_IP/24" dev cm-veth-p
ip -n "$NS_CLIENT" addr add "$CLIENT_IP/24" dev cm-veth-c
for ns in "$NS_PEER" "$NS_CLIENT"; do
    ip -n "$ns" link set lo up
done
ip -n "$NS_PEER" link set cm-veth-p up
ip -n "$NS_CLIENT" link set cm-veth-c up

# The second CPU this shell may run on (the bench pins its client to the first).
second_cpu() {
    local list cpus=() item
    list="$(taskset -pc $$ 2>/dev/null | sed 's/.*: //')" || return 0
    for item in ${list//,/ }; do
        if [[ "$item" == *-* ]]; then cpus+=($(seq "${item%-*}" "${item#*-}")); else cpus+=("$item"); fi
    done
    [ "${#cpus[@]}" -ge 2 ] && echo "${cpus[1]}"
    return 0
}
PEER_CPU="${PEER_CPU:-$(second_cpu)}"
CPU_ARGS=()
if [ -n "$PEER_CPU" ]; then CPU_ARGS=(--cpu "$PEER_CPU"); fi

echo "== peers in $NS_PEER: coremesh-bench peers --listen $PEER_IP:$PORT ${CPU_ARGS[*]}"
mkfifo "$WORK/stdin"
ip netns exec "$NS_PEER" "$BIN" peers --listen "$PEER_IP:$PORT" "${CPU_ARGS[@]}" \
    <"$WORK/stdin" >"$WORK/peers.out" 2>"$WORK/peers.err" &
PEERS_PID=$!
exec 3>"$WORK/stdin"   # held open: the peers run until it closes
for _ in $(seq 300); do
    grep -q '^ready$' "$WORK/peers.out" 2>/dev/null && break
    kill -0 "$PEERS_PID" 2>/dev/null || break
    sleep 0.1
done
if ! grep -q '^ready$' "$WORK/peers.out"; then
    echo "netns-two-machines: the peers did not start within 30 s" >&2
    cat "$WORK/peers.out" "$WORK/peers.err" >&2
    exit 1
fi
sed 's/^/  /' "$WORK/peers.out"

export COREMESH_BENCH_PEER="$PEER_IP:$PORT"
export COREMESH_BENCH_SECS="${COREMESH_BENCH_SECS:-1}"
echo "== client in $NS_CLIENT: COREMESH_BENCH_PEER=$COREMESH_BENCH_PEER COREMESH_BENCH_SECS=$COREMESH_BENCH_SECS"
if [ "$MODE" = report ]; then
    timeout 600 ip netns exec "$NS_CLIENT" env COREMESH_BENCH_PEER="$COREMESH_BENCH_PEER" \
        COREMESH_BENCH_SECS="$COREMESH_BENCH_SECS" "$BIN" report "$@"
else
    timeout 900 ip netns exec "$NS_CLIENT" env COREMESH_BENCH_PEER="$COREMESH_BENCH_PEER" \
        COREMESH_BENCH_SECS="$COREMESH_BENCH_SECS" cargo bench -p coremesh-bench --bench remote -- "$@"
fi
echo "== done; removing the namespaces"
