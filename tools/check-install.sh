#!/bin/sh
# Checks `make install` end to end: installs into a scratch DESTDIR, compiles a
# host with `pkg-config --cflags --libs luds`, runs it against the installed
# shared library, loads the installed module in a stock lua5.4, checks the
# examples, their systemd units and the LuaLS definitions, then checks that
# `make uninstall` leaves no file behind. Prints one line per check.
set -eu
checks=0
ok() { echo "check-install: $*"; checks=$((checks + 1)); }
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
prefix=/usr/local
root=$dest$prefix
make -s install DESTDIR="$dest" PREFIX="$prefix" >/dev/null

cat >"$dest/host.c" <<'C'
#include <lauxlib.h>
#include <lualib.h>
#include <luds.h>
#include <stdio.h>
int main(void) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  if (luds_openlibs(L) != LUDS_OK) return 1;
  if (luaL_loadstring(L, "local luds = require 'luds'; luds.sleep(0.01); print('tiny host: luds ' .. luds.version)") != LUA_OK) return 1;
  int code = -1;
  if (luds_spawn(L, 0) != LUDS_OK || luds_run(L, &code) != LUDS_OK) return 1;
  lua_close(L);
  return code;
}
C
# The installed luds.pc, with its prefix moved under DESTDIR (and only its own:
# --define-variable would move lua5.4's too).
mkdir "$dest/pc"
sed "s|^prefix=.*|prefix=$root|" "$root/lib/pkgconfig/luds.pc" >"$dest/pc/luds.pc"
flags=$(PKG_CONFIG_PATH="$dest/pc" pkg-config --cflags --libs luds)
cc "$dest/host.c" $flags -o "$dest/host"
[ "$(LD_LIBRARY_PATH="$root/lib" "$dest/host")" = "tiny host: luds 0.1.0" ] && ok "tiny host built with pkg-config runs"
LD_LIBRARY_PATH="$root/lib" ldd "$dest/host" | grep -q "libluds.so.0 => $root/lib/libluds.so.0"
ok "host linked against the installed libluds.so.0"
LUA_CPATH="$root/lib/lua/5.4/?.so" LUA_PATH="$root/share/lua/5.4/?.lua" lua5.4 -e '
  local luds = require "luds"
  local creds = package.searchpath("luds.server", package.path)
  print("stock lua5.4 loaded luds " .. luds.version .. ", modules at " .. creds)' >"$dest/out"
ok "$(cat "$dest/out")"
[ "$("$root/bin/luds" -e 'print(require("luds").version)')" = 0.1.0 ] && ok "installed luds binary runs"
[ -s "$root/share/man/man1/luds.1" ] && ok "man page installed"
[ -s "$root/share/man/man3/luds.3" ] && ok "Lua API man page installed"
# The example units run what they name: the installed binary and script.
unit=$root/share/luds/examples/systemd/luds-echo.service
script=$(sed -n 's|^ExecStart=[^ ]* ||p' "$unit")
[ "$(sed -n 's|^ExecStart=\([^ ]*\) .*|\1|p' "$unit")" = "$prefix/bin/luds" ] &&
  [ -s "$dest$script" ] && "$root/bin/luds" -e "assert(loadfile('$dest$script'))" &&
  ok "examples installed; luds-echo.service names $script"
# The LuaLS definitions, as in types/, and Lua that luac5.4 parses.
for f in types/*.lua; do
  installed=$root/share/luds/types/${f#types/}
  cmp -s "$f" "$installed" || { echo "check-install: $installed differs from $f" >&2; exit 1; }
  luac5.4 -p "$installed"
done
ok "LuaLS definitions installed in $prefix/share/luds/types: $(cd "$root/share/luds/types" && echo *)"
# The rockspec, through Debian's luarocks, offline, into a scratch tree.
tree="$dest/rocks"
luarocks --lua-version=5.4 make --tree="$tree" luds-scm-1.rockspec >"$dest/rock.log" 2>&1 ||
  { cat "$dest/rock.log" >&2; exit 1; }
[ "$(LUA_CPATH="$tree/lib/lua/5.4/?.so" lua5.4 -e 'local l = require "luds"
  print(select(2, l.run(function() l.sleep(0.001) return "rock" end)))')" = rock ] &&
  ok "luarocks make installed a working rock"
rocktypes=$tree/lib/luarocks/rocks-5.4/luds/scm-1/types
[ -s "$rocktypes/luds.lua" ] || { echo "check-install: no LuaLS definitions in $rocktypes" >&2; exit 1; }
ok "the rock carries the LuaLS definitions in lib/luarocks/rocks-5.4/luds/scm-1/types"
rm -rf "$tree" "$dest/rock.log"

make -s uninstall DESTDIR="$dest" PREFIX="$prefix" >/dev/null
left=$(find "$dest" \( -type f -o -type l \) ! -name "host*" ! -name out ! -path "$dest/pc/*")
if [ -n "$left" ]; then
  echo "check-install: uninstall left files: $left" >&2
  exit 1
fi
ok "uninstall removed every installed file"
echo "$checks passed, 0 failed"
