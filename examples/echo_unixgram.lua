-- An echo server and client over datagram sockets: every datagram goes back,
-- whole, to the address it came from. Unix datagrams by default, UDP when
-- the network is named; the code is the same for both.
--
--   luds examples/echo_unixgram.lua serve [NETWORK] ADDRESS                    serve until SIGINT/SIGTERM
--   luds examples/echo_unixgram.lua ping [NETWORK] ADDRESS [MESSAGE] [COUNT]   send MESSAGE COUNT times
--   luds examples/echo_unixgram.lua                                            demo: both in one process
--
-- NETWORK is unixgram (the default), udp, udp4 or udp6. ADDRESS is a path or
-- an abstract @name for unixgram, host:port for udp (port 0 lets the kernel
-- pick one; the "listening on" line tells which). A first argument that names
-- a luds network is the network, so a socket file called "udp" is given as ./udp.
local luds = require "luds"

local NETWORKS = { unixgram = true, udp = true, udp4 = true, udp6 = true }
local LUDS_NETWORKS = {
  unix = true, unixpacket = true, unixgram = true,
  tcp = true, tcp4 = true, tcp6 = true, udp = true, udp4 = true, udp6 = true,
}

-- How long the client waits for each reply: a datagram can be lost (over
-- udp) and a reply never come.
local REPLY_TIMEOUT = 5

local function usage()
  io.stderr:write("usage: luds echo_unixgram.lua [serve [NETWORK] ADDRESS | ",
    "ping [NETWORK] ADDRESS [MESSAGE] [COUNT]]\n",
    "NETWORK: unixgram (the default), udp, udp4 or udp6\n")
  luds.exit(2)
end

local function die(err)
  io.stderr:write(err, "\n")
  luds.exit(1)
end

-- Takes [NETWORK] off the front of the arguments that follow the command;
-- returns the network and the rest. Another kind's network is a misuse.
local function network_args(first, ...)
  if not LUDS_NETWORKS[first] then return "unixgram", first, ... end
  if not NETWORKS[first] then usage() end
  return first, ...
end

-- A datagram socket has no listener: the bound socket itself receives. A
-- unixgram path's file stays after close (as in Go) unless unlink_on_close
-- is set; other addresses have no file and ignore it.
local function bind(network, address)
  local pc, err = luds.listen_packet(network, address, { unlink_on_close = true })
  if not pc then die(err) end
  print("listening on " .. pc:local_addr())
  return pc
end

-- One task serves every client, so a reply must not wait on one that never
-- reads: it waits at most REPLY_WAIT for room in the sender's queue, then is
-- dropped, and that sender gets no replies for QUIET seconds. A silent
-- client costs the others at most REPLY_WAIT each QUIET seconds.
local REPLY_WAIT, QUIET, MAX_QUIET = 0.005, 1, 1024

-- Forgets the senders whose quiet time is over; returns how many are left.
local function sweep(quiet, now)
  local left = 0
  for from, until_ in pairs(quiet) do
    if until_ <= now then quiet[from] = nil else left = left + 1 end
  end
  return left
end

-- Returns when the socket is closed (SIGINT/SIGTERM close it).
local function serve(pc)
  local quiet, nquiet = {}, 0 -- sender -> when it gets replies again
  while true do
    local data, from = pc:read_from()
    if not data then return end
    local now = luds.now()
    if (quiet[from] or 0) <= now then
      pc:set_write_deadline(now + REPLY_WAIT)
      local ok, _, code = pc:write_to(data, from)
      if code == "CLOSED" then return end
      if not ok and code == "TIMEOUT" then
        if nquiet >= MAX_QUIET then nquiet = sweep(quiet, now) end
        quiet[from], nquiet = now + QUIET, nquiet + 1
      end
    end
  end
end

-- A unixgram client autobinds an abstract address and a udp one gets a port,
-- so the server can answer without a file on either side.
local function ping(network, address, message, count)
  local conn <close>, err = luds.dial(network, address)
  if not conn then die(err) end
  for _ = 1, count do
    local ok, werr = conn:write(message)
    if not ok then die(werr) end
    print("sent: " .. message)
    conn:set_read_deadline(luds.now() + REPLY_TIMEOUT)
    local reply, rerr = conn:read()
    if not reply then die(rerr) end
    print("received: " .. reply)
  end
end

local cmd = arg[1]
if cmd == "serve" then
  local network, address, extra = network_args(table.unpack(arg, 2))
  if not address or extra then usage() end
  serve(bind(network, address))
elseif cmd == "ping" then
  local network, address, message, count, extra = network_args(table.unpack(arg, 2))
  count = math.tointeger(tonumber(count or "3"))
  if not address or extra or not count or count < 1 then usage() end
  ping(network, address, message or "ping", count)
elseif cmd == nil then
  local mktemp <close> = io.popen("mktemp -d")
  local dir = mktemp:read("l")
  local pc = bind("unixgram", dir .. "/echo.sock")
  local server = luds.spawn(serve, pc)
  ping("unixgram", pc:local_addr(), "ping", 3)
  pc:close() -- removes the socket file; serve then returns
  server:wait()
  os.remove(dir)
else
  usage()
end
