-- An echo server and client over Unix sequenced-packet sockets: connections
-- like a stream, messages like datagrams; each message goes back whole.
--
--   luds examples/echo_unixpacket.lua serve [NETWORK] ADDRESS                    serve until SIGINT/SIGTERM
--   luds examples/echo_unixpacket.lua ping [NETWORK] ADDRESS [MESSAGE] [COUNT]   send MESSAGE COUNT times
--   luds examples/echo_unixpacket.lua                                            demo: both in one process
--
-- NETWORK is unixpacket, the only one: no IP network luds speaks keeps
-- message boundaries on a connection. It is accepted so that the three echo
-- examples take the same arguments. ADDRESS is a path or an abstract @name.
local luds = require "luds"

local NETWORKS = { unixpacket = true }
local LUDS_NETWORKS = {
  unix = true, unixpacket = true, unixgram = true,
  tcp = true, tcp4 = true, tcp6 = true, udp = true, udp4 = true, udp6 = true,
}

local function usage()
  io.stderr:write("usage: luds echo_unixpacket.lua [serve [NETWORK] ADDRESS | ",
    "ping [NETWORK] ADDRESS [MESSAGE] [COUNT]]\n",
    "NETWORK: unixpacket (the default and the only one)\n")
  luds.exit(2)
end

local function die(err)
  io.stderr:write(err, "\n")
  luds.exit(1)
end

-- Takes [NETWORK] off the front of the arguments that follow the command;
-- returns the network and the rest. Another kind's network is a misuse.
local function network_args(first, ...)
  if not LUDS_NETWORKS[first] then return "unixpacket", first, ... end
  if not NETWORKS[first] then usage() end
  return first, ...
end

-- read() with no max returns the next message whole, an empty one included;
-- only the end of the connection ends the loop.
local function echo(conn)
  while true do
    local message = conn:read()
    if not message or not conn:write(message) then return end
  end
end

local function listen(network, address)
  local ln, err = luds.listen(network, address)
  if not ln then die(err) end
  print("listening on " .. ln:addr())
  return ln
end

local function ping(network, address, message, count)
  local conn <close>, err = luds.dial(network, address)
  if not conn then die(err) end
  for _ = 1, count do
    local ok, werr = conn:write(message)
    if not ok then die(werr) end
    print("sent: " .. message)
    local reply, rerr = conn:read()
    if not reply then die(rerr) end
    print("received: " .. reply)
  end
end

local cmd = arg[1]
if cmd == "serve" then
  local network, address, extra = network_args(table.unpack(arg, 2))
  if not address or extra then usage() end
  luds.serve(listen(network, address), echo)
elseif cmd == "ping" then
  local network, address, message, count, extra = network_args(table.unpack(arg, 2))
  count = math.tointeger(tonumber(count or "3"))
  if not address or extra or not count or count < 1 then usage() end
  ping(network, address, message or "ping", count)
elseif cmd == nil then
  local mktemp <close> = io.popen("mktemp -d")
  local dir = mktemp:read("l")
  local ln = listen("unixpacket", dir .. "/echo.sock")
  local server = luds.spawn(luds.serve, ln, echo)
  ping("unixpacket", ln:addr(), "ping", 3)
  ln:close() -- removes the socket file; serve then returns true
  server:wait()
  os.remove(dir)
else
  usage()
end
