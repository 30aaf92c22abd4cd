#!/usr/bin/env bash
# workers.sh: what `make bench-workers` runs. Owns the multi-core columns:
# examples/echo_workers.lua over 1 worker and over WORKERS workers, the C
# reference server (one thread) and Go's echo server (bench/peers/go_echo,
# GOMAXPROCS=WORKERS: the same cores) beside them, alternated,
# medians of BENCH_REPS runs, the scaling factor N/1; then a reload under
# load: bench/reload_load.lua dials in a loop while the supervisor gets
# SIGHUP, and the failed conns (must be 0) and the reload times are printed.
#
# Environment: WORKERS (default nproc), BENCH_QUICK=1, BENCH_REPS, BENCH_SECS,
# LUDS (default build/luds).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=build/bench
LUDS=${LUDS:-build/luds}
WORKERS=${WORKERS:-$(nproc)}
if [[ ${BENCH_QUICK:-0} == 1 ]]; then REPS=1 SECS=1; else REPS=3 SECS=2; fi
REPS=${BENCH_REPS:-$REPS}
SECS=${BENCH_SECS:-$SECS}
RELOAD_SECS=${BENCH_RELOAD_SECS:-4}

COLUMNS=(
    "pingpong c=100|pingpong -c 100|ops_per_sec"
    "pingpong c=1000|pingpong -c 1000|ops_per_sec"
    "bulk MB/s|bulk|mb_per_sec"
)
SERVER_PID=
RUN_DIR=$(mktemp -d)
GO=0

log() { printf '%s\n' "$*" >&2; }

cleanup() {
    [[ -z $SERVER_PID ]] || stop_server "$SERVER_PID"
    rm -rf "$RUN_DIR"
}

# start_server WHO PATH: C, luds1, ludsN or go; sets SERVER_PID.
start_server() {
    rm -f "$2"
    case $1 in # exec: SERVER_PID is the server's own (the supervisor's) pid
        luds1) LUDS_WORKERS=1 exec "$LUDS" examples/echo_workers.lua serve "$2" ;;
        ludsN) LUDS_WORKERS=$WORKERS exec "$LUDS" examples/echo_workers.lua serve "$2" ;;
        go) GOMAXPROCS=$WORKERS exec "$OUT/go_echo" unix "$2" ;;
        C) exec "$OUT/ref_server" unix "$2" ;;
    esac >"$RUN_DIR/server.out" 2>"$RUN_DIR/server.err" &
    SERVER_PID=$!
    local i
    for ((i = 0; i < 250; i++)); do
        [[ -S $2 ]] && return 0
        alive "$SERVER_PID" || break
        sleep 0.02
    done
    log "  $1 did not come up: $(tail -n 3 "$RUN_DIR/server.err")"
    return 1
}

# column SPEC: appends a row to TABLE.
column() {
    local name args key who rep line
    IFS='|' read -r name args key <<<"$1"
    local -a largs
    read -r -a largs <<<"$args"
    local -A vals=()
    local whos=(C luds1 ludsN)
    (( GO )) && whos+=(go)
    for ((rep = 1; rep <= REPS; rep++)); do
        for who in "${whos[@]}"; do
            start_server "$who" "$RUN_DIR/s.sock" || { stop_server "$SERVER_PID"; continue; }
            if line=$(timeout -k 5 $((${SECS%.*} + 60)) "$OUT/loadgen" "${largs[0]}" \
                "$RUN_DIR/s.sock" "${largs[@]:1}" -d "$SECS" 2>"$RUN_DIR/loadgen.err"); then
                [[ $(field "$line" errors) == 0 ]] || log "  warning: $who had errors: $line"
                vals[$who]+=" $(field "$line" "$key")"
                log "  $name [$who #$rep]: $key=$(field "$line" "$key")"
            else
                log "  $name [$who #$rep] failed: $(tail -n 2 "$RUN_DIR/loadgen.err")"
            fi
            stop_server "$SERVER_PID"
        done
    done
    local -A med=()
    local -a v
    for who in C luds1 ludsN go; do
        read -r -a v <<<"${vals[$who]:-}"
        med[$who]=$( (( ${#v[@]} )) && median "${v[@]}" || echo n/a)
    done
    TABLE+=("$(printf '%-16s %12s %12s %12s %6s %12s %6s' "$name" "${med[C]}" "${med[luds1]}" \
        "${med[ludsN]}" "$(ratio "${med[ludsN]}" "${med[luds1]}")" "${med[go]}" \
        "$(ratio "${med[ludsN]}" "${med[go]}")")")
}

# A reload under load: failed conns, the new generation's ready time (the
# supervisor's own line) and how long until every old worker was gone.
reload() {
    local sock=$RUN_DIR/r.sock old pid t0 t1 gone=n/a i
    start_server ludsN "$sock" || return 1
    sleep 0.2
    old=$(pgrep -P "$SERVER_PID" | tr '\n' ' ')
    "$LUDS" bench/reload_load.lua "$sock" "$RELOAD_SECS" 50 >"$RUN_DIR/load.out" &
    local load=$!
    sleep "$(awk -v s="$RELOAD_SECS" 'BEGIN { print s / 2 }')"
    t0=$(date +%s.%N)
    kill -HUP "$SERVER_PID"
    for ((i = 0; i < 1000; i++)); do
        local left=0
        for pid in $old; do alive "$pid" && left=1; done
        (( left )) || { t1=$(date +%s.%N); gone=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'); break; }
        sleep 0.01
    done
    wait "$load" || true
    stop_server "$SERVER_PID"
    local ready
    ready=$(sed -n 's/.*generation 2 ready in \([0-9.]*\) s.*/\1/p' "$RUN_DIR/server.err")
    RELOAD="$(cat "$RUN_DIR/load.out") new_ready_s=${ready:-n/a} old_gone_s=$gone"
    [[ $(field "$RELOAD" failed) == 0 ]]
}

main() {
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    mkdir -p "$OUT"
    local c
    for c in loadgen ref_server; do
        cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -o "$OUT/$c" "bench/$c.c"
    done
    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
    if command -v go >/dev/null; then
        # shellcheck source=peers/peers.sh
        source bench/peers/peers.sh
        build_go_peer && GO=1 || log "note: building the go peer failed; go is n/a"
    else
        log "note: go not found (bench/peers/setup.sh installs golang-go); go is n/a"
    fi
    log "bench-workers: 1 and $WORKERS workers, $REPS repetition(s) x ${SECS}s"
    TABLE=()
    local spec
    for spec in "${COLUMNS[@]}"; do column "$spec"; done
    printf '\n%-16s %12s %12s %12s %6s %12s %6s\n' column "C (1 thread)" "1 worker" \
        "$WORKERS workers" "N/1" "Go ($WORKERS)" "N/Go"
    printf '%s\n' "${TABLE[@]}"
    printf '(ops/s = round trips per second; bulk in MB/s of verified echo; %s cores)\n' "$(nproc)"
    local rc=0
    reload || rc=1
    printf '\nreload under load (%s workers, 50 dialling tasks, %s s): %s\n' "$WORKERS" \
        "$RELOAD_SECS" "$RELOAD"
    return "$rc"
}

# shellcheck source=lib.sh
source bench/lib.sh
main "$@"
