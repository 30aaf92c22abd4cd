# peers.sh: sourced by bench/bench.sh when BENCH_PEERS names other servers.
# Owns what bench.sh needs to know about each peer echo server: which socket
# kinds it serves, the command that starts it (as PEER_CMD, run with KIND PATH
# appended), how many idle connections it can hold, and the legend line that
# says which library, Lua and Go versions were measured.
#
# Peers: cqueues luv luasocket go. Each Lua peer runs on the newest Lua
# interpreter (lua5.4, else 5.3, 5.2, 5.1) that can load its library; the
# packages come from bench/peers/setup.sh. A peer that is not installed shows
# n/a everywhere. Environment:
#   BENCH_GOMAXPROCS   GOMAXPROCS for the Go server (default: Go's own, one per core)

declare -A PEER_KINDS=(
    [cqueues]="unix unixpacket"   # cqueues sockets have no recvfrom/sendto
    [luv]="unix"                  # libuv pipes are stream only; udp is IP only
    [luasocket]="unix unixgram"   # LuaSocket has no seqpacket sockets
    [go]="unix unixgram unixpacket"
)
declare -A PEER_MODULE=([cqueues]=cqueues [luv]=luv [luasocket]=socket.unix)
declare -A PEER_PACKAGE=([cqueues]=lua-cqueues [luv]=lua-luv [luasocket]=lua-socket [go]=golang-go)
declare -A PEER_STYLE=(
    [cqueues]="a coroutine per connection"
    [luv]="libuv pipe, read_start -> write"
    [luasocket]="one socket.select loop"
    [go]="a goroutine per connection"
)
# select(2) holds descriptors below FD_SETSIZE (1024) only.
declare -A PEER_IDLE_MAX=([luasocket]=1000)
declare -A PEER_IDLE_WHY=([luasocket]="select() takes descriptors below 1024 only")
declare -A PEER_OK=() PEER_LUA=() PEER_NOTE=()
PEER_CMD=()

pkg_version() {
    dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo '?'
}

# peer_find_lua PEER: the first Lua interpreter that loads PEER's module.
peer_find_lua() {
    local lua
    for lua in lua5.4 lua5.3 lua5.2 lua5.1; do
        command -v "$lua" >/dev/null || continue
        if "$lua" -e "require '${PEER_MODULE[$1]}'" >/dev/null 2>&1; then
            echo "$lua"
            return 0
        fi
    done
    return 1
}

# Builds build/bench/go_echo with every Go directory under build/bench/go,
# so nothing is written to $HOME, and without reaching any network.
build_go_peer() {
    local godir=$ROOT/$OUT/go
    mkdir -p "$godir/cache" "$godir/path" "$godir/home"
    (cd bench/peers/go_echo && env HOME="$godir/home" GOCACHE="$godir/cache" \
        GOPATH="$godir/path" GOMODCACHE="$godir/path/pkg/mod" GOENV=off \
        GOTOOLCHAIN=local GOPROXY=off GOFLAGS= CGO_ENABLED=0 \
        go build -trimpath -o "$ROOT/$OUT/go_echo" .)
}

peers_init() {
    local p lua
    for p in "${PEERS[@]}"; do
        if [[ -z ${PEER_KINDS[$p]+set} ]]; then
            log "bench: unknown peer '$p' (known: ${!PEER_KINDS[*]})"
            exit 2
        fi
        PEER_OK[$p]=0
        if [[ $p == go ]]; then
            if ! command -v go >/dev/null; then
                log "note: go not found (bench/peers/setup.sh installs golang-go); go columns will be n/a"
            elif build_go_peer; then
                PEER_OK[$p]=1
                PEER_NOTE[$p]="$(go version | awk '{ print $3 }') (golang-go $(pkg_version golang-go)),"
                PEER_NOTE[$p]+=" GOMAXPROCS=${BENCH_GOMAXPROCS:-default} on $(nproc) cores"
            else
                log "note: building the go peer failed; go columns will be n/a"
            fi
        elif lua=$(peer_find_lua "$p"); then
            PEER_OK[$p]=1 PEER_LUA[$p]=$lua
            PEER_NOTE[$p]="${PEER_PACKAGE[$p]} $(pkg_version "${PEER_PACKAGE[$p]}")"
            [[ $p != luv ]] || PEER_NOTE[$p]+=" (libuv $("$lua" -e 'io.write(require "luv".version_string())'))"
            PEER_NOTE[$p]+=" on $("$lua" -v 2>&1 | awk '{ print $1, $2 }')"
        else
            log "note: no Lua interpreter here loads ${PEER_MODULE[$p]} (bench/peers/setup.sh installs ${PEER_PACKAGE[$p]}); $p columns will be n/a"
        fi
    done
}

# peer_supports PEER KIND
peer_supports() {
    [[ ${PEER_OK[$1]:-0} == 1 && " ${PEER_KINDS[$1]} " == *" $2 "* ]]
}

# peer_cmd PEER KIND PATH: sets PEER_CMD. Each command execs the server
# itself, so its pid is the server's.
peer_cmd() {
    case $1 in
        go) PEER_CMD=("$OUT/go_echo")
            [[ -z ${BENCH_GOMAXPROCS:-} ]] || PEER_CMD=(env "GOMAXPROCS=$BENCH_GOMAXPROCS" "${PEER_CMD[@]}") ;;
        *) PEER_CMD=("${PEER_LUA[$1]}" "bench/peers/$1_echo.lua") ;;
    esac
    PEER_CMD+=("$2" "$3")
}

# peer_width PEER FIELD: width of a peer's table field (0 ops, 1 ratio,
# 2 peak RSS), wide enough for its header.
peer_width() {
    local min=(12 8 10) add=(0 2 4)
    local w=$(( ${#1} + add[$2] ))
    echo $(( w > min[$2] ? w : min[$2] ))
}

# peer_idle_conns PEER N: how many idle connections to open to PEER.
peer_idle_conns() {
    local max=${PEER_IDLE_MAX[$1]:-$2}
    echo $(( $2 < max ? $2 : max ))
}

peer_idle_why() {
    echo "${PEER_IDLE_WHY[$1]:-}"
}

peers_legend() {
    local p k missing
    printf '\npeers (n/a: no server of that kind; see bench/peers/*):\n'
    for p in "${PEERS[@]}"; do
        if [[ ${PEER_OK[$p]} != 1 ]]; then
            printf '  %-10s not available\n' "$p"
            continue
        fi
        missing=
        for k in unix unixgram unixpacket; do
            peer_supports "$p" "$k" || missing+=" $k"
        done
        printf '  %-10s %s; %s%s\n' "$p" "${PEER_NOTE[$p]}" "${PEER_STYLE[$p]}" \
            "${missing:+; n/a:$missing}"
    done
}
