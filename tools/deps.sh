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
  need groff-base command -v groff # docs_spec renders the man pages
  need iproute2 command -v ip # lo up in the namespaces of resolve_spec
  # proxy_spec puts both in front of a luds server (PROXY protocol). haproxy
  # lives in /usr/sbin, which need not be on a user's PATH. Where services
  # start on install (systemd), Debian's nginx starts its default site on
  # port 80: `systemctl disable --now nginx` if that is not wanted.
  need haproxy sh -c 'test -x /usr/sbin/haproxy || command -v haproxy'
  need nginx sh -c 'test -x /usr/sbin/nginx || command -v nginx'
  need libnginx-mod-stream test -f /usr/lib/nginx/modules/ngx_stream_module.so
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
