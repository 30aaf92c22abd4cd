#!/usr/bin/env bash
# bench.sh: what `make bench` runs. Owns building loadgen, ref_server and
# ref_proxy, running every column against the C reference server and the
# luds example servers in alternation, and printing the comparison table plus
# the idle memory cost per connection. The proxy columns put ref_proxy or
# examples/proxy.lua (luds.copy) in front of the C echo server.
#
# Environment:
#   BENCH_QUICK=1        1 repetition of 1 s per run (quick check)
#   BENCH_REPS, BENCH_SECS, BENCH_IDLE_CONNS   override the defaults (3, 2, 10000)
#   BENCH_PIN=1          pin server to CPU 0 and loadgen to CPU 1 with taskset
#   LUDS_SERVER_CMD      replaces the luds server; run as: $LUDS_SERVER_CMD KIND PATH
#                        (KIND is unix, unixgram or unixpacket; it must exec the server)
#   LUDS                 luds binary (default build/luds)
#   BENCH_PEERS          other servers to add as columns, any of: cqueues luv
#                        luasocket go (see bench/peers/peers.sh; `make bench-peers`)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=build/bench
LUDS=${LUDS:-build/luds}
if [[ ${BENCH_QUICK:-0} == 1 ]]; then REPS=1 SECS=1; else REPS=3 SECS=2; fi
REPS=${BENCH_REPS:-$REPS}
SECS=${BENCH_SECS:-$SECS}
IDLE_CONNS=${BENCH_IDLE_CONNS:-10000}
read -r -a PEERS <<<"${BENCH_PEERS:-}"
CFLAGS=(-std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror)

# name|loadgen mode and args|server kind|luds script|result key. The stream
# example echoes with luds.copy; the r/w columns run the same test against a
# Lua read/write loop (bench/echo_rw.lua). alt: one conn whose client writes
# a 64 KiB chunk and reads its echo, in turn. blocking: one conn whose
# client blocks in recv between messages, so a server that parks pays a
# wake-up per round trip.
COLUMNS=(
    "pingpong c=1|pingpong -c 1|unix|examples/echo_unix.lua|ops_per_sec"
    "pingpong c=100|pingpong -c 100|unix|examples/echo_unix.lua|ops_per_sec"
    "pingpong c=1000|pingpong -c 1000|unix|examples/echo_unix.lua|ops_per_sec"
    "bulk MB/s|bulk|unix|examples/echo_unix.lua|mb_per_sec"
    "alt MB/s|alt|unix|examples/echo_unix.lua|mb_per_sec"
    "r/w c=100|pingpong -c 100|unix|bench/echo_rw.lua|ops_per_sec"
    "r/w c=1000|pingpong -c 1000|unix|bench/echo_rw.lua|ops_per_sec"
    "r/w bulk MB/s|bulk|unix|bench/echo_rw.lua|mb_per_sec"
    "r/w alt MB/s|alt|unix|bench/echo_rw.lua|mb_per_sec"
    "dgram c=1|dgram -c 1|unixgram|examples/echo_unixgram.lua|ops_per_sec"
    "seqpacket c=1|seqpacket -c 1|unixpacket|examples/echo_unixpacket.lua|ops_per_sec"
    "blocking c=1|pingpong -c 1 -b|unix|examples/echo_unix.lua|ops_per_sec"
    "blocking dgram|dgram -c 1 -b|unixgram|examples/echo_unixgram.lua|ops_per_sec"
    "blocking seqpkt|seqpacket -c 1 -b|unixpacket|examples/echo_unixpacket.lua|ops_per_sec"
    "proxy c=100|pingpong -c 100|proxy|examples/proxy.lua|ops_per_sec"
    "proxy bulk MB/s|bulk|proxy|examples/proxy.lua|mb_per_sec"
)

SERVER_PID=
BACKEND_PID=
RUN_DIR=
RESULT=
FAILURES=0

log() { printf '%s\n' "$*" >&2; }

cleanup() {
    [[ -n $SERVER_PID ]] && stop_server "$SERVER_PID"
    [[ -n $BACKEND_PID ]] && stop_backend
    [[ -n $RUN_DIR ]] && rm -rf "$RUN_DIR"
    return 0
}

build_tools() {
    mkdir -p "$OUT"
    cc "${CFLAGS[@]}" -o "$OUT/loadgen" bench/loadgen.c
    cc "${CFLAGS[@]}" -o "$OUT/ref_server" bench/ref_server.c
    cc "${CFLAGS[@]}" -o "$OUT/ref_proxy" bench/ref_proxy.c
    (( ${#PEERS[@]} == 0 )) || peers_init
}

raise_nofile() {
    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
    if (( $(ulimit -n) < IDLE_CONNS + 64 )); then
        log "warning: open-file limit $(ulimit -n) is below $IDLE_CONNS idle connections"
    fi
}

pin() {
    if [[ ${BENCH_PIN:-0} == 1 ]]; then echo "taskset -c $1"; fi
}

luds_available() {
    [[ -n ${LUDS_SERVER_CMD:-} ]] || [[ -x $LUDS && -f $1 ]]
}

# available WHO KIND EXAMPLE: whether WHO has a server for this column.
available() {
    case $1 in
        C) return 0 ;;
        luds) luds_available "$3" ;;
        *) [[ $3 != bench/echo_rw.lua ]] && peer_supports "$1" "$2" ;; # theirs are loops already
    esac
}

# start_server WHO KIND EXAMPLE PATH LOG: sets SERVER_PID. A proxy relays
# to the C echo server on PATH.backend (started first: see start_backend).
start_server() {
    local cmd
    if [[ $2 == proxy && $1 == C ]]; then
        cmd=("$OUT/ref_proxy" "$4" "$4.backend")
    elif [[ $2 == proxy ]]; then
        cmd=("$LUDS" "$3" unix "$4" unix "$4.backend")
    elif [[ $1 != C && $1 != luds ]]; then
        peer_cmd "$1" "$2" "$4"
        cmd=("${PEER_CMD[@]}")
    elif [[ $1 == C ]]; then
        cmd=("$OUT/ref_server" "$2" "$4")
    elif [[ -n ${LUDS_SERVER_CMD:-} ]]; then
        read -r -a cmd <<<"$LUDS_SERVER_CMD"
        cmd+=("$2" "$4")
    else
        cmd=("$LUDS" "$3" serve "$4")
    fi
    # shellcheck disable=SC2046
    $(pin 0) "${cmd[@]}" >"$5" 2>&1 &
    SERVER_PID=$!
}

# start_backend PATH LOG: the C echo server behind a proxy; sets BACKEND_PID.
start_backend() {
    # shellcheck disable=SC2046
    $(pin 1) "$OUT/ref_server" unix "$1" >"$2" 2>&1 &
    BACKEND_PID=$!
    wait_socket "$1" "$BACKEND_PID"
}

stop_backend() {
    local pid=$BACKEND_PID
    stop_server "$pid"
    BACKEND_PID=
}

wait_socket() {
    local i
    for ((i = 0; i < 250; i++)); do
        [[ -S $1 ]] && return 0
        alive "$2" || return 1
        sleep 0.02
    done
    return 1
}

peak_rss_kib() {
    awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || true
}

# check_errors WHO LINE: a run that completed with broken connections or
# lost datagrams still counts, but is flagged.
check_errors() {
    local errors lost
    errors=$(field "$2" errors) lost=$(field "$2" lost)
    if [[ ${errors:-0} != 0 || ${lost:-0} != 0 ]]; then
        log "  warning: $1 run had errors=$errors lost=$lost"
        [[ ${errors:-0} == 0 ]] || FAILURES=$((FAILURES + 1))
    fi
}

# run_one WHO KIND EXAMPLE LOADGEN_ARGS...: sets RESULT to the loadgen line
# plus the server's peak RSS (hwm_kib), or fails.
run_one() {
    local who=$1 kind=$2 example=$3 line='' hwm='' rc=0
    RESULT=
    shift 3
    RUN_DIR=$(mktemp -d)
    local sock=$RUN_DIR/s.sock mode=$1
    shift
    if [[ $kind == proxy ]] && ! start_backend "$sock.backend" "$RUN_DIR/backend.log"; then
        log "  C echo server behind the proxy did not come up"
        rc=1
    fi
    start_server "$who" "$kind" "$example" "$sock" "$RUN_DIR/server.log"
    if (( rc )); then
        :
    elif ! wait_socket "$sock" "$SERVER_PID"; then
        log "  $who server did not come up: $(tail -n 3 "$RUN_DIR/server.log")"
        rc=1
    else
        # shellcheck disable=SC2046
        line=$(timeout -k 5 $((${SECS%.*} + 120)) $(pin 1) "$OUT/loadgen" "$mode" "$sock" "$@" \
            2>"$RUN_DIR/loadgen.err") || rc=1
        hwm=$(peak_rss_kib "$SERVER_PID")
        [[ $rc == 0 ]] || log "  $who $mode failed: $(tail -n 3 "$RUN_DIR/loadgen.err")"
        check_errors "$who" "$line"
    fi
    stop_server "$SERVER_PID"
    [[ -z $BACKEND_PID ]] || stop_backend
    rm -rf "$RUN_DIR"
    RUN_DIR=
    (( rc == 0 )) || FAILURES=$((FAILURES + 1))
    RESULT="$line hwm_kib=${hwm:-0}"
    return "$rc"
}

max_of() {
    printf '%s\n' "$@" | sort -g | tail -n 1
}

fmt_rss() {
    [[ $1 =~ ^[0-9]+$ ]] || { echo n/a; return; }
    awk -v k="$1" 'BEGIN { printf "%.1f MiB\n", k / 1024 }'
}

# bench_column SPEC: alternates the C, luds and peer runs; appends one table row.
bench_column() {
    local name args kind example key rep who res
    IFS='|' read -r name args kind example key <<<"$1"
    local -a largs
    local -A vals=() hwms=() has=()
    read -r -a largs <<<"$args"
    for who in C luds "${PEERS[@]}"; do
        has[$who]=0
        available "$who" "$kind" "$example" && has[$who]=1
    done
    for ((rep = 1; rep <= REPS; rep++)); do
        for who in C luds "${PEERS[@]}"; do
            [[ ${has[$who]} == 0 ]] && continue
            run_one "$who" "$kind" "$example" "${largs[@]}" -d "$SECS" || continue
            res=$RESULT
            log "  $name [$who #$rep]: $key=$(field "$res" "$key") p50_us=$(field "$res" p50_us) p99_us=$(field "$res" p99_us)"
            vals[$who]+=" $(field "$res" "$key")"
            hwms[$who]+=" $(field "$res" hwm_kib)"
        done
    done
    local -A med=() peak=()
    local -a v h
    for who in C luds "${PEERS[@]}"; do
        read -r -a v <<<"${vals[$who]:-}"
        read -r -a h <<<"${hwms[$who]:-}"
        if [[ $who != C && ${has[$who]} == 0 ]]; then
            med[$who]=n/a peak[$who]=
        elif (( ${#v[@]} )); then
            med[$who]=$(median "${v[@]}") peak[$who]=$(max_of "${h[@]}")
        else
            med[$who]=fail peak[$who]=$(max_of "${h[@]}")
        fi
    done
    local row
    row=$(printf '%-16s %14s %14s %8s %12s %14s' "$name" "${med[C]}" "${med[luds]}" \
        "$(ratio "${med[luds]}" "${med[C]}")" "$(fmt_rss "${peak[C]}")" "$(fmt_rss "${peak[luds]}")")
    for who in "${PEERS[@]}"; do
        row+=$(printf ' %*s %*s %*s' "$(peer_width "$who" 0)" "${med[$who]}" \
            "$(peer_width "$who" 1)" "$(ratio "${med[$who]}" "${med[C]}")" \
            "$(peer_width "$who" 2)" "$(fmt_rss "${peak[$who]}")")
    done
    TABLE+=("$row")
}

# bench_idle WHO: N idle connections, one echoed byte each; prints KiB/conn.
bench_idle() {
    local who=$1 res n=$IDLE_CONNS w=$(( ${#PEERS[@]} ? 9 : 6 ))
    if [[ $who == luds ]] && ! luds_available examples/echo_unix.lua; then
        IDLE+=("$(printf "%-${w}s n/a (no luds server)" "$who")")
        return
    fi
    if [[ $who != C && $who != luds ]]; then
        if ! peer_supports "$who" unix; then
            IDLE+=("$(printf "%-${w}s n/a (not available)" "$who")")
            return
        fi
        n=$(peer_idle_conns "$who" "$n")
    fi
    RUN_DIR=$(mktemp -d)
    local sock=$RUN_DIR/s.sock
    start_server "$who" unix examples/echo_unix.lua "$sock" "$RUN_DIR/server.log"
    if ! wait_socket "$sock" "$SERVER_PID"; then
        log "  idle [$who] server did not come up: $(tail -n 3 "$RUN_DIR/server.log")"
        IDLE+=("$(printf "%-${w}s failed" "$who")")
        FAILURES=$((FAILURES + 1))
    elif res=$(timeout -k 5 200 "$OUT/loadgen" idle "$sock" -n "$n" -p "$SERVER_PID" \
        2>"$RUN_DIR/loadgen.err"); then
        check_errors "$who" "$res"
        IDLE+=("$(printf "%-${w}s %8s KiB/conn  (RSS %s -> %s KiB, %s of %s conns echoed)" \
            "$who" "$(field "$res" kib_per_conn)" "$(field "$res" rss_before_kib)" \
            "$(field "$res" rss_after_kib)" "$(field "$res" ops)" "$n")")
        (( n == IDLE_CONNS )) || IDLE[-1]+=" capped: $(peer_idle_why "$who")"
    else
        log "  idle [$who] failed: $(tail -n 3 "$RUN_DIR/loadgen.err")"
        IDLE+=("$(printf "%-${w}s failed" "$who")")
        FAILURES=$((FAILURES + 1))
    fi
    stop_server "$SERVER_PID"
    rm -rf "$RUN_DIR"
    RUN_DIR=
}

main() {
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    build_tools
    raise_nofile
    if [[ -z ${LUDS_SERVER_CMD:-} && ! -x $LUDS ]]; then
        log "note: $LUDS not built; luds columns will be n/a"
    fi
    log "bench: $REPS repetition(s) x ${SECS}s per server per column"
    TABLE=() IDLE=()
    local spec
    for spec in "${COLUMNS[@]}"; do
        bench_column "$spec"
    done
    for who in C luds "${PEERS[@]}"; do
        bench_idle "$who"
    done
    local head
    head=$(printf '%-16s %14s %14s %8s %12s %14s' column "C median" "luds median" \
        "luds/C" "C peak RSS" "luds peak RSS")
    for who in "${PEERS[@]}"; do
        head+=$(printf ' %*s %*s %*s' "$(peer_width "$who" 0)" "$who" \
            "$(peer_width "$who" 1)" "$who/C" "$(peer_width "$who" 2)" "$who RSS")
    done
    printf '\n%s\n' "$head"
    printf '%s\n' "${TABLE[@]}"
    printf '(ops/s = round trips per second; bulk in MB/s of verified echo; proxy: through\n'
    printf ' ref_proxy or examples/proxy.lua to the C echo server)\n'
    (( ${#PEERS[@]} == 0 )) || peers_legend
    printf '\nidle memory, %s connections to the stream echo server:\n' "$IDLE_CONNS"
    printf '%s\n' "${IDLE[@]}"
    if (( FAILURES > 0 )); then
        log "bench: $FAILURES run(s) failed or had errors"
        return 1
    fi
}

# shellcheck source=lib.sh
source bench/lib.sh
(( ${#PEERS[@]} == 0 )) || source bench/peers/peers.sh

main "$@"
