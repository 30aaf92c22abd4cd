#!/usr/bin/env bash
# setup.sh: installs the Debian packages the peer echo servers of
# `make bench-peers` need, when they are missing; idempotent, and quiet when
# everything is there. Not part of `make deps`: the peers are optional.
# lua-cqueues, lua-luv and lua-socket ship modules for Lua 5.1-5.4; the
# servers run on lua5.4 (bench/peers/peers.sh picks the interpreter).
set -euo pipefail

PACKAGES=(lua5.4 lua-cqueues lua-luv lua-socket golang-go)

installed() {
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

# has_candidate PKG: whether the package lists know PKG at all.
has_candidate() {
    local c
    c=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2 }')
    [[ -n $c && $c != "(none)" ]]
}

missing=()
for p in "${PACKAGES[@]}"; do
    installed "$p" || missing+=("$p")
done
(( ${#missing[@]} )) || exit 0

echo "bench-peers: installing: ${missing[*]}" >&2
if ! command -v apt-get >/dev/null; then
    echo "bench-peers: apt-get not found; install ${missing[*]} yourself (the missing peers show n/a)" >&2
    exit 0
fi
sudo=()
if (( $(id -u) != 0 )); then
    if ! command -v sudo >/dev/null; then
        echo "bench-peers: not root and no sudo; install ${missing[*]} yourself (the missing peers show n/a)" >&2
        exit 0
    fi
    sudo=(sudo)
fi
need_update=0
for p in "${missing[@]}"; do
    has_candidate "$p" || need_update=1
done
(( need_update == 0 )) || "${sudo[@]}" apt-get update -qq
# A failed install leaves the peers it concerns at n/a; the rest still run.
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" ||
    echo "bench-peers: apt-get install failed; the missing peers show n/a" >&2
