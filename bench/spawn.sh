#!/usr/bin/env bash
# spawn.sh: what `make bench-spawn` runs. Starts `true` and waits for it, N
# times, on luds (bench/spawn.lua, luds.exec + p:wait) and on Go
# (bench/spawn_go, exec.Command("true").Run()), one after the other (K=1)
# and with SPAWN_K in flight, and luds once more with /dev/null for stdio as
# Go's Run gives it; they alternate, REPS times, and the medians and their
# ratios are printed. Without go (bench/peers/setup.sh installs
# golang-go) the Go column shows n/a.
#
# Environment: SPAWN_N (default 3000), SPAWN_K (default 8), BENCH_QUICK=1,
# BENCH_REPS (default 3), LUDS (default build/luds).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=build/bench
LUDS=${LUDS:-build/luds}
N=${SPAWN_N:-3000}
K=${SPAWN_K:-8}
if [[ ${BENCH_QUICK:-0} == 1 ]]; then REPS=1 N=${SPAWN_N:-1000}; else REPS=3; fi
REPS=${BENCH_REPS:-$REPS}
GO_BIN=$OUT/spawn_go

build_go() {
    local godir=$ROOT/$OUT/go
    command -v go >/dev/null || return 1
    mkdir -p "$godir/cache" "$godir/home"
    env HOME="$godir/home" GOCACHE="$godir/cache" GOENV=off GO111MODULE=off \
        go build -o "$GO_BIN" bench/spawn_go/main.go
}

# rate WHO K: one run's processes per second (the last field of its line).
rate() {
    local line
    case $1 in
        luds) line=$("$LUDS" bench/spawn.lua "$N" "$2") ;;
        null) line=$("$LUDS" bench/spawn.lua "$N" "$2" null) ;;
        go) line=$("$GO_BIN" "$N" "$2") ;;
    esac
    echo "${line##* }"
}

# The middle value of the arguments (REPS is odd by default).
middle() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

main() {
    local go=1 k who rep
    build_go || { go=0; echo "note: go not found or its build failed; Go shows n/a" >&2; }
    declare -A runs
    for ((rep = 1; rep <= REPS; rep++)); do
        for k in 1 "$K"; do
            for who in luds null go; do
                [[ $who == go && $go == 0 ]] && continue
                runs[$who$k]+=" $(rate "$who" "$k")"
            done
        done
    done
    for k in 1 "$K"; do
        local l z g
        l=$(middle ${runs[luds$k]})
        z=$(middle ${runs[null$k]})
        g=n/a
        [[ $go == 0 ]] || g=$(middle ${runs[go$k]})
        printf 'spawn+wait true, %d in flight, processes/s: luds %s  luds(stdio null) %s  Go %s\n' \
            "$k" "$l" "$z" "$g"
        printf '  runs: luds%s; luds(null)%s; Go%s\n' "${runs[luds$k]}" "${runs[null$k]}" \
            "${runs[go$k]:- n/a}"
        [[ $g == n/a ]] || awk -v l="$l" -v z="$z" -v g="$g" -v k="$k" \
            'BEGIN { printf "  luds/Go %.2f  luds(null)/Go %.2f (%d in flight)\n", l / g, z / g, k }'
    done
}

main "$@"
