-- The stream echo server on every core: one listener, created once by the
-- supervisor, shared by N worker processes (LUDS_WORKERS, else one per CPU).
--
--   luds examples/echo_workers.lua serve [NETWORK] ADDRESS
--   LUDS_WORKERS=4 luds examples/echo_workers.lua serve /tmp/e.sock
--
-- NETWORK is unix (the default), tcp, tcp4 or tcp6. SIGTERM or SIGINT
-- drains (each worker lets its conns finish for up to 10 s) and removes the
-- socket file; SIGHUP starts new workers running this file as it is then
-- and retires the old ones once the new ones are up; a worker that dies is
-- restarted. Talk to it with examples/echo_unix.lua ping ADDRESS.
local luds = require "luds"

local NETWORKS = { unix = true, tcp = true, tcp4 = true, tcp6 = true }

local function usage()
  io.stderr:write("usage: luds echo_workers.lua serve [NETWORK] ADDRESS\n",
    "NETWORK: unix (the default), tcp, tcp4 or tcp6\n")
  luds.exit(2)
end

if arg[1] ~= "serve" or not arg[2] then usage() end
local network, address = "unix", arg[2]
if NETWORKS[arg[2]] then network, address = arg[2], arg[3] end
if not address then usage() end

local ok, err = luds.workers {
  -- Only the supervisor runs this: one socket file, whatever N is.
  listen = function()
    local ln, lerr, code = luds.listen(network, address)
    if ln then
      io.stdout:write("listening on ", ln:addr(), "\n")
      io.stdout:flush()
    end
    return ln and { ln }, lerr, code
  end,
  -- Each worker serves the listener with this handler: luds.copy of the conn
  -- into itself, in C (Go's io.Copy(conn, conn)).
  serve = function(conn) luds.copy(conn, conn) end,
}
if not ok then -- the listen failed (a worker never gets here: it serves)
  io.stderr:write(err, "\n")
  luds.exit(1)
end
