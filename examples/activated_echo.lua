-- An echo server for socket activation: it serves the sockets a service
-- manager passed it (systemd, systemd-socket-activate; see examples/systemd/)
-- or, started by hand, one it opens itself.
--
--   luds examples/activated_echo.lua                    serve the passed sockets
--   luds examples/activated_echo.lua NETWORK ADDRESS    not activated: listen itself
--
-- Stream and seqpacket listeners echo every conn; a datagram socket sends each
-- datagram back to its sender; a passed conn (Accept=yes) is echoed until its
-- end. With $NOTIFY_SOCKET set it tells the manager "READY=1" once serving.
-- SIGINT/SIGTERM close everything and exit 130/143; a passed listener leaves
-- its socket file alone (the manager owns it), one of its own removes it.
local luds = require "luds"

local PACKET_NETWORKS = { unixgram = true, udp = true, udp4 = true, udp6 = true }

local function usage()
  io.stderr:write("usage: luds activated_echo.lua [NETWORK ADDRESS]\n")
  luds.exit(2)
end

local function die(err)
  io.stderr:write("activated_echo: ", err, "\n")
  luds.exit(1)
end

-- One line per socket, flushed at once for the journal (or a test) to see.
io.stdout:setvbuf("line")

-- Works for stream conns and packet conns alike: a packet read is one message.
local function echo(conn)
  repeat local data = conn:read() until not data or not conn:write(data)
end

-- Until the socket is closed. An unnamed unixgram sender ("") cannot be
-- answered; a sender whose queue stays full is given up after a second.
local function echo_datagrams(pc)
  while true do
    local data, from, code = pc:read_from()
    if not data and code ~= "TRUNCATED" then return end
    if data and from ~= "" then
      pc:set_write_deadline(luds.now() + 1)
      pc:write_to(data, from)
    end
  end
end

local function serve(obj)
  local kind = getmetatable(obj).kind
  if kind == "listener" then
    luds.spawn(luds.serve, obj, echo)
  elseif kind == "packet conn" and obj:remote_addr() == "" then -- not connected
    luds.spawn(echo_datagrams, obj)
  else -- a conn (or a connected packet conn) passed with Accept=yes
    luds.spawn(function() echo(obj) obj:close() end)
  end
end

-- sd_notify(3) reduced to one message: a datagram to the manager's socket.
local function notify_ready()
  local where = os.getenv("NOTIFY_SOCKET")
  if not where then return end
  local conn <close>, err = luds.dial("unixgram", where)
  local ok = false
  if conn then ok, err = conn:write("READY=1") end
  if not ok then io.stderr:write("activated_echo: notify: ", err, "\n") end
end

-- The sockets to serve, each with a name for the log: the manager's
-- (FileDescriptorName= in the .socket unit) or "NETWORK ADDRESS".
local function sockets()
  local list, names = luds.listeners_from_env()
  if not list then die(names) end
  if #list > 0 then -- activated: the arguments (a fallback) do not apply
    local named = {}
    for name, objs in pairs(names) do
      for _, obj in ipairs(objs) do named[obj] = name end
    end
    return list, named
  end
  local network, address = arg[1], arg[2]
  if not network or not address or arg[3] then usage() end
  local open = PACKET_NETWORKS[network] and luds.listen_packet or luds.listen
  local obj, err = open(network, address)
  if not obj then die(err) end
  return { obj }, { [obj] = network .. " " .. address }
end

local list, named = sockets()
for _, obj in ipairs(list) do
  print(("serving %s: %s"):format(named[obj], tostring(obj)))
  serve(obj)
end
notify_ready()
