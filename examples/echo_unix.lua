-- An echo server and client over a stream socket: a Unix one by default, TCP
-- when the network is named. The code is the same for every stream network;
-- only the network name and the address change.
--
--   luds examples/echo_unix.lua serve [NETWORK] ADDRESS                    serve until SIGINT/SIGTERM
--   luds examples/echo_unix.lua ping [NETWORK] ADDRESS [MESSAGE] [COUNT]   send MESSAGE COUNT times
--   luds examples/echo_unix.lua                                            demo: both in one process
--
-- NETWORK is unix (the default), tcp, tcp4 or tcp6. ADDRESS is a path or an
-- abstract @name for unix, host:port for tcp (port 0 lets the kernel pick one;
-- the "listening on" line tells which). A first argument that names a luds
-- network is the network, so a socket file called "tcp" is given as ./tcp.
local luds = require "luds"

local NETWORKS = { unix = true, tcp = true, tcp4 = true, tcp6 = true }
local LUDS_NETWORKS = {
  unix = true, unixpacket = true, unixgram = true,
  tcp = true, tcp4 = true, tcp6 = true, udp = true, udp4 = true, udp6 = true,
}

local function usage()
  io.stderr:write("usage: luds echo_unix.lua [serve [NETWORK] ADDRESS | ",
    "ping [NETWORK] ADDRESS [MESSAGE] [COUNT]]\n",
    "NETWORK: unix (the default), tcp, tcp4 or tcp6\n")
  luds.exit(2)
end

local function die(err)
  io.stderr:write(err, "\n")
  luds.exit(1)
end

-- Takes [NETWORK] off the front of the arguments that follow the command;
-- returns the network and the rest. Another kind's network is a misuse.
local function network_args(first, ...)
  if not LUDS_NETWORKS[first] then return "unix", first, ... end
  if not NETWORKS[first] then usage() end
  return first, ...
end

-- Sends everything the client sends back to it, until end of stream or an error:
-- luds.copy of the conn into itself (Go's io.Copy(conn, conn)), in C. The same
-- in Lua is `repeat local d = conn:read() until not d or not conn:write(d)`.
-- luds.serve closes the connection when this returns.
local function echo(conn)
  luds.copy(conn, conn)
end

local function listen(network, address)
  local ln, err = luds.listen(network, address)
  if not ln then die(err) end
  print("listening on " .. ln:addr())
  return ln
end

-- Sends message count times, reading each echo back before the next send.
local function ping(network, address, message, count)
  local conn <close>, err = luds.dial(network, address)
  if not conn then die(err) end
  for _ = 1, count do
    local ok, werr = conn:write(message)
    if not ok then die(werr) end
    print("sent: " .. message)
    local reply, rerr = conn:read_full(#message)
    if not reply then die(rerr) end
    print("received: " .. reply)
  end
end

local cmd = arg[1]
if cmd == "serve" then
  local network, address, extra = network_args(table.unpack(arg, 2))
  if not address or extra then usage() end
  -- Returns when the listener closes; SIGINT/SIGTERM close it (and remove its file).
  luds.serve(listen(network, address), echo)
elseif cmd == "ping" then
  local network, address, message, count, extra = network_args(table.unpack(arg, 2))
  count = math.tointeger(tonumber(count or "3"))
  if not address or extra or not count or count < 1 then usage() end
  ping(network, address, message or "ping", count)
elseif cmd == nil then
  local mktemp <close> = io.popen("mktemp -d")
  local dir = mktemp:read("l")
  local ln = listen("unix", dir .. "/echo.sock")
  local server = luds.spawn(luds.serve, ln, echo)
  ping("unix", ln:addr(), "ping", 3)
  ln:close() -- removes the socket file; serve then returns true
  server:wait()
  os.remove(dir)
else
  usage()
end
