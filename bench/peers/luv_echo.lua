-- luv_echo.lua: the luv (libuv) peer of the luds echo benchmark.
-- A libuv pipe server written the way luv's own examples are: new_pipe,
-- bind, listen, accept, read_start, and write each chunk straight back.
--
--   lua5.4 bench/peers/luv_echo.lua unix PATH
--
-- unixgram and unixpacket are refused (exit 2): libuv pipes are stream
-- sockets, and luv's udp handles are for IP only.
-- SIGTERM/SIGINT close the listener, remove PATH and exit 0.
local uv = require "luv"

local BACKLOG = 4096
-- Past this many queued bytes a connection stops reading until its writes
-- drain, so a client that does not read cannot grow the server without bound.
local HIGH_WATER = 1024 * 1024

local kind, path = arg[1], arg[2]
if not path or arg[3] or not (kind == "unix" or kind == "unixgram" or kind == "unixpacket") then
  io.stderr:write("usage: luv_echo.lua unix PATH\n")
  os.exit(2)
end
if kind ~= "unix" then
  io.stderr:write("luv_echo: ", kind, " not supported (libuv pipes are stream sockets only)\n")
  os.exit(2)
end

local function echo(client)
  local on_read
  local function on_drained()
    if not client:is_closing() then client:read_start(on_read) end
  end
  function on_read(err, data)
    if err or not data then
      client:close()
      return
    end
    client:write(data)
    if client:get_write_queue_size() > HIGH_WATER then
      client:read_stop()
      -- Write callbacks run in order: this one runs once the queue is out.
      client:write("", on_drained)
    end
  end
  client:read_start(on_read)
end

os.remove(path)
local server = uv.new_pipe(false)
local ok, err = server:bind(path)
if ok then ok, err = server:listen(BACKLOG, function(lerr)
  if lerr then return end
  local client = uv.new_pipe(false)
  if server:accept(client) then echo(client) else client:close() end
end) end
if not ok then
  io.stderr:write("luv_echo: listen ", path, ": ", tostring(err), "\n")
  os.exit(1)
end

local function stop()
  server:close()
  os.remove(path)
  uv.stop()
end
local sigterm, sigint = uv.new_signal(), uv.new_signal()
sigterm:start("sigterm", stop)
sigint:start("sigint", stop)
-- A write to a client that hung up must not kill the server (libuv writes
-- with write(2), which raises SIGPIPE): catching it is luv's way to ignore it.
local sigpipe = uv.new_signal()
sigpipe:start("sigpipe", function() end)
sigpipe:unref()

print("listening on " .. path)
io.stdout:flush()
uv.run()
-- Open client handles are left to the exit, as the C server leaves its fds.
os.exit(0)
