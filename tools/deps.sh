#!/bin/sh
# Installs the Debian packages luds needs that are missing; idempotent.
#   sh tools/deps.sh run    what building and running need
#   sh tools/deps.sh test   that, plus what the specs run (make test)
# Each package is probed by what luds uses of it, so a tool found elsewhere
# on PATH (a python3 from pyenv, say) counts as present.
set -eu

missing=""
need() { # need PACKAGE TEST...
  pkg=$1; shift
  "$@" >/dev/null 2>&1 || missing="$missing $pkg"
}
need lua5.4 command -v lua5.4
need pkg-config command -v pkg-config
need liblua5.4-dev test -f /usr/include/lua5.4/lua.h
if [ "${1:-run}" = test ]; then
  need lua-unit test -f /usr/share/lua/5.4/luaunit.lua
  need python3 command -v python3
  need socat command -v socat
  need curl command -v curl
  need valgrind command -v valgrind
  need strace command -v strace
  need luarocks command -v luarocks
  need iproute2 command -v ip # lo up in the namespaces of resolve_spec
fi
for extra in ${EXTRA_PACKAGES:-}; do
  need "$extra" dpkg-query -W -f='${Status}' "$extra"
done

[ -z "$missing" ] && exit 0
echo "deps: installing:$missing"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "deps: apt-get not found; install these packages yourself:$missing" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing
