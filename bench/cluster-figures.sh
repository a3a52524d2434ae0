#!/usr/bin/env bash
# The membership figures of a three-node cluster on loopback, with the default
# heartbeat settings (or whatever COREMESH_* variables are set): how long the
# cluster takes to converge from one seed, how much CPU each control thread
# uses once it is steady, and how long a SIGSTOPped node takes to be declared
# down (and that it comes back after SIGCONT).
#
#   bench/cluster-figures.sh [--steady SECS] [--rounds N]
#
# Uses target/release/coremesh-node (built first). Every wait has a deadline;
# the nodes are killed on exit. Prints one line per figure.
set -euo pipefail
cd "$(dirname "$0")/.."

steady=20
rounds=3
while [ $# -gt 0 ]; do
    case "$1" in
        --steady) steady="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        *) echo "usage: $0 [--steady SECS] [--rounds N]" >&2; exit 2 ;;
    esac
done

cargo build -q --release --bin coremesh-node
node=target/release/coremesh-node
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

stamp() { while IFS= read -r line; do echo "$(now_ms) $line"; done; }

# start NAME LISTEN [SEED]: a node whose stdout lines land, stamped with the
# time in ms, in $work/NAME.out; sets $pid once it printed its ready line.
start() {
    local name=$1 listen=$2 seed=${3:-}
    COREMESH_LISTEN=$listen COREMESH_SEEDS=$seed "$node" serve \
        > >(stamp >"$work/$name.out") 2>"$work/$name.err" &
    pid=$!
    disown "$pid"
    pids+=("$pid")
    local deadline=$(( $(now_ms) + 10000 ))
    until grep -q " ready " "$work/$name.out" 2>/dev/null; do
        if [ "$(now_ms)" -gt "$deadline" ]; then
            echo "node $name printed no ready line within 10 s" >&2
            cat "$work/$name.err" >&2
            exit 1
        fi
        sleep 0.01
    done
}

id_of() { awk '$2 == "ready" { print $3; exit }' "$work/$1.out"; }

# wait_lines NAME PATTERN COUNT LIMIT_MS: the time (ms) of the COUNT-th line of
# NAME matching PATTERN, waiting at most LIMIT_MS.
wait_lines() {
    local name=$1 pattern=$2 count=$3 limit=$4
    local deadline=$(( $(now_ms) + limit ))
    while :; do
        local t
        t=$(grep -E " $pattern" "$work/$name.out" | sed -n "${count}p" | cut -d' ' -f1)
        if [ -n "$t" ]; then echo "$t"; return 0; fi
        if [ "$(now_ms)" -gt "$deadline" ]; then echo "timeout"; return 0; fi
        sleep 0.005
    done
}

control_ns() {
    local pid=$1
    for t in /proc/"$pid"/task/*; do
        # comm holds the first 15 bytes of the thread's name, coremesh-control.
        if [ "$(cat "$t/comm")" = "coremesh-contro" ]; then
            cut -d' ' -f1 "$t/schedstat"
            return
        fi
    done
    echo "no coremesh-control thread in process $pid" >&2
    exit 1
}

port=$(( 20000 + RANDOM % 20000 ))
seed=127.0.0.1:$port
start a "$seed"
pid_a=$pid
t0=$(now_ms)
start b 127.0.0.1:0 "$seed"; pid_b=$pid
start c 127.0.0.1:0 "$seed"; pid_c=$pid
converged=0
for n in a b c; do
    t=$(wait_lines "$n" "member up" 2 10000)
    [ "$t" = timeout ] && { echo "converge: $n did not see two members up within 10 s" >&2; exit 1; }
    [ "$t" -gt "$converged" ] && converged=$t
done
echo "converge: 3 nodes from one seed in $(( converged - t0 )) ms (from starting the two joiners until every node saw the other two up)"

sleep 2
before_a=$(control_ns "$pid_a"); before_b=$(control_ns "$pid_b"); before_c=$(control_ns "$pid_c")
sleep "$steady"
for pair in "a $pid_a $before_a" "b $pid_b $before_b" "c $pid_c $before_c"; do
    set -- $pair
    used=$(( $(control_ns "$2") - $3 ))
    awk -v n="$1" -v used="$used" -v secs="$steady" \
        'BEGIN { printf "control thread CPU, node %s: %.3f%% of a core over %d s steady\n", n, used / (secs * 1e7), secs }'
done

id_c=$(id_of c)
timeout_ms=${COREMESH_CONNECTION_TIMEOUT_MS:-3000}
for round in $(seq 1 "$rounds"); do
    downs_a=$(grep -c " member down $id_c" "$work/a.out" || true)
    downs_b=$(grep -c " member down $id_c" "$work/b.out" || true)
    ups_a=$(grep -c " member up $id_c" "$work/a.out" || true)
    t_stop=$(now_ms)
    kill -STOP "$pid_c"
    ta=$(wait_lines a "member down $id_c" $(( downs_a + 1 )) $(( 3 * timeout_ms + 5000 )))
    tb=$(wait_lines b "member down $id_c" $(( downs_b + 1 )) $(( 3 * timeout_ms + 5000 )))
    kill -CONT "$pid_c"
    [ "$ta" = timeout ] || [ "$tb" = timeout ] && { echo "sigstop: not declared down in time (a: $ta, b: $tb)" >&2; exit 1; }
    echo "sigstop round $round: declared down after $(( ta - t_stop )) ms on a, $(( tb - t_stop )) ms on b (connection timeout $timeout_ms ms)"
    tu=$(wait_lines a "member up $id_c" $(( ups_a + 1 )) 20000)
    [ "$tu" = timeout ] && { echo "sigcont: c did not come back within 20 s" >&2; exit 1; }
    echo "sigcont round $round: up again on a $(( tu - ta )) ms after it was declared down"
    sleep 2
done
