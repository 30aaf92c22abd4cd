-- Run by host.c: an echo server on the unix socket path given as the first
-- argument, greeting each client with a visit number that the host counts.
local luds = require "luds"

local path = ...
local ln = assert(luds.listen("unix", path))
print("host script: serving " .. ln:addr())
io.stdout:flush()

luds.serve(ln, function(conn)
  conn:write(("visit %d\n"):format(host.visit()))
  while true do
    local data = conn:read()
    if not data or not conn:write(data) then return end
  end
end)
