rockspec_format = "3.0"
package = "luds"
version = "scm-1"
source = {
   url = "git+file://./",
}
description = {
   summary = "Unix domain sockets (stream, datagram, seqpacket) for Lua 5.4 on an event loop",
   detailed = [[
luds gives Lua scripts Unix domain sockets of all three kinds, TCP and UDP,
file permissions, user and group lookup and peer credentials, with one
coroutine task per blocking flow. This rock installs the loadable module
(require "luds"; drive it with luds.run), its Lua modules and the luds binary.]],
   license = "MIT",
}
dependencies = {
   "lua >= 5.4, < 5.5",
}
build = {
   type = "make",
   build_target = "all",
   install_target = "rock-install",
   copy_directories = { "doc", "types" },
   install_variables = {
      LUA_CMOD = "$(LIBDIR)",
      LUA_LMOD = "$(LUADIR)",
      BINDIR = "$(BINDIR)",
   },
}
