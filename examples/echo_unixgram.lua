-- An echo server and client over Unix datagram sockets: every datagram goes
-- back, whole, to the address it came from.
--
--   luds examples/echo_unixgram.lua serve PATH                    serve until SIGINT/SIGTERM
--   luds examples/echo_unixgram.lua ping PATH [MESSAGE] [COUNT]   send MESSAGE COUNT times
--   luds examples/echo_unixgram.lua                               demo: both in one process
local luds = require "luds"

local function usage()
  io.stderr:write("usage: luds echo_unixgram.lua [serve PATH | ping PATH [MESSAGE] [COUNT]]\n")
  luds.exit(2)
end

local function die(err)
  io.stderr:write(err, "\n")
  luds.exit(1)
end

-- A datagram socket has no listener: the bound socket itself receives. Its
-- file stays after close (as in Go) unless unlink_on_close is set.
local function bind(path)
  local pc, err = luds.listen_packet("unixgram", path, { unlink_on_close = true })
  if not pc then die(err) end
  print("listening on " .. pc:local_addr())
  return pc
end

-- Returns when the socket is closed (SIGINT/SIGTERM close it).
local function serve(pc)
  while true do
    local data, from = pc:read_from()
    if not data then return end
    pc:write_to(data, from)
  end
end

-- The client autobinds an abstract address so that replies need no file.
local function ping(path, message, count)
  local conn <close>, err = luds.dial("unixgram", path, { local_address = "" })
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

local cmd, path = arg[1], arg[2]
if cmd == "serve" and path and not arg[3] then
  serve(bind(path))
elseif cmd == "ping" and path and not arg[5] then
  local count = math.tointeger(tonumber(arg[4] or "3"))
  if not count or count < 1 then usage() end
  ping(path, arg[3] or "ping", count)
elseif cmd == nil then
  local mktemp <close> = io.popen("mktemp -d")
  local dir = mktemp:read("l")
  local pc = bind(dir .. "/echo.sock")
  local server = luds.spawn(serve, pc)
  ping(pc:local_addr(), "ping", 3)
  pc:close() -- removes the socket file; serve then returns
  server:wait()
  os.remove(dir)
else
  usage()
end
