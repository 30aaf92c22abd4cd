-- An echo server and client over a Unix stream socket.
--
--   luds examples/echo_unix.lua serve PATH                    serve until SIGINT/SIGTERM
--   luds examples/echo_unix.lua ping PATH [MESSAGE] [COUNT]   send MESSAGE COUNT times
--   luds examples/echo_unix.lua                               demo: both in one process
local luds = require "luds"

local function usage()
  io.stderr:write("usage: luds echo_unix.lua [serve PATH | ping PATH [MESSAGE] [COUNT]]\n")
  luds.exit(2)
end

local function die(err)
  io.stderr:write(err, "\n")
  luds.exit(1)
end

-- Sends everything the client sends back to it, until end of stream or an error.
-- luds.serve closes the connection when this returns.
local function echo(conn)
  while true do
    local data = conn:read()
    if not data or not conn:write(data) then return end
  end
end

local function listen(path)
  local ln, err = luds.listen("unix", path)
  if not ln then die(err) end
  print("listening on " .. ln:addr())
  return ln
end

-- Sends message count times, reading each echo back before the next send.
local function ping(path, message, count)
  local conn <close>, err = luds.dial("unix", path)
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

local cmd, path = arg[1], arg[2]
if cmd == "serve" and path and not arg[3] then
  -- Returns when the listener closes; SIGINT/SIGTERM close it and remove the file.
  luds.serve(listen(path), echo)
elseif cmd == "ping" and path and not arg[5] then
  local count = math.tointeger(tonumber(arg[4] or "3"))
  if not count or count < 1 then usage() end
  ping(path, arg[3] or "ping", count)
elseif cmd == nil then
  local mktemp <close> = io.popen("mktemp -d")
  local dir = mktemp:read("l")
  local ln = listen(dir .. "/echo.sock")
  local server = luds.spawn(luds.serve, ln, echo)
  ping(ln:addr(), "ping", 3)
  ln:close() -- removes the socket file; serve then returns true
  server:wait()
  os.remove(dir)
else
  usage()
end
