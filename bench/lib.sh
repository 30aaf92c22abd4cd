# lib.sh: what bench.sh and workers.sh share (sourced, never run): the
# state of a server process, stopping one, reading loadgen's key=value
# lines, and the medians and ratios of the tables.

# alive PID: true while PID runs and is not a zombie waiting to be reaped.
alive() {
    local st
    st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    st=${st##*) }
    [[ ${st%% *} != Z ]]
}

# stop_server PID: TERM, KILL if it still runs 3 s later; reaped; SERVER_PID cleared.
stop_server() {
    local i
    kill -TERM "$1" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
        alive "$1" || break
        sleep 0.02
    done
    alive "$1" && kill -KILL "$1" 2>/dev/null
    { wait "$1"; } 2>/dev/null || true
    SERVER_PID=
}

# field LINE KEY: the value of KEY=value in a loadgen line.
field() {
    sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" <<<"$1"
}

# median VALUES...: n/a for none; the mean of the middle two for an even count.
median() {
    printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 }
        END { if (NR == 0) print "n/a";
              else if (NR % 2) print a[(NR + 1) / 2];
              else printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# ratio A B: A/B to two places, n/a when either is n/a or fail, or B is 0.
ratio() {
    [[ $1 == n/a || $2 == n/a || $2 == fail || $1 == fail ]] && { echo n/a; return; }
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f\n", a / b; else print "n/a" }'
}
