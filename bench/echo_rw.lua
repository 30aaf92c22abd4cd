-- The stream echo of README's five-line example: a Lua read/write loop, for
-- the "r/w" columns of `make bench` (examples/echo_unix.lua echoes with
-- luds.copy, in C).
--
--   luds bench/echo_rw.lua serve PATH
local luds = require "luds"

if arg[1] ~= "serve" or not arg[2] or arg[3] then
  io.stderr:write("usage: luds echo_rw.lua serve PATH\n")
  luds.exit(2)
end
local ln = assert(luds.listen("unix", arg[2]))
luds.serve(ln, function(conn)
  repeat local data = conn:read() until not data or not conn:write(data)
end)
