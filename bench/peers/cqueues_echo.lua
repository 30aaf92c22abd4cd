-- cqueues_echo.lua: the cqueues peer of the luds echo benchmark.
-- One coroutine per connection on a cqueues controller, the way cqueues
-- servers are written: accept in one coroutine, wrap a coroutine per client.
--
--   lua5.4 bench/peers/cqueues_echo.lua unix|unixpacket PATH
--
-- unixgram is refused (exit 2): cqueues sockets have no recvfrom/sendto, so
-- a datagram server cannot learn where to send the echo back.
-- SIGTERM/SIGINT close the listener, remove PATH and exit 0.
local cqueues = require "cqueues"
local socket = require "cqueues.socket"
local signal = require "cqueues.signal"

local READ_MAX = 64 * 1024

-- A reset or broken connection ends its coroutine quietly: errors come back
-- as return values instead of being raised.
socket.onerror(function(_, _, why) return why end)

local kind, path = arg[1], arg[2]
local types = { unix = socket.SOCK_STREAM, unixpacket = socket.SOCK_SEQPACKET }
if not path or arg[3] or not (types[kind] or kind == "unixgram") then
  io.stderr:write("usage: cqueues_echo.lua unix|unixpacket PATH\n")
  os.exit(2)
end
if kind == "unixgram" then
  io.stderr:write("cqueues_echo: unixgram not supported (no recvfrom/sendto in cqueues sockets)\n")
  os.exit(2)
end

-- Signals are taken through a signalfd, so they must be blocked first.
signal.block(signal.SIGTERM, signal.SIGINT)
signal.ignore(signal.SIGPIPE)

local ln = socket.listen { path = path, type = types[kind], unlink = true }
local ok, err = ln:listen() -- bind and listen now, to fail early
if not ok then
  io.stderr:write("cqueues_echo: listen ", path, ": ", tostring(err), "\n")
  os.exit(1)
end

local loop = cqueues.new()

-- Binary, unbuffered both ways: read(-n) returns what is there (one message
-- on a seqpacket socket), write sends at once and yields until it is out.
local function echo(conn)
  conn:setmode("bn", "bn")
  while true do
    local data = conn:read(-READ_MAX)
    if not data or not conn:write(data) then break end
  end
  conn:close()
end

loop:wrap(function()
  while true do
    local conn = ln:accept()
    if conn then
      loop:wrap(echo, conn)
    else
      cqueues.sleep(0.01) -- out of descriptors, say: let the others run
    end
  end
end)

loop:wrap(function()
  signal.listen(signal.SIGTERM, signal.SIGINT):wait()
  ln:close()
  os.remove(path)
  os.exit(0)
end)

print("listening on " .. path)
io.stdout:flush()
while true do
  -- A coroutine that raised ends; the others go on.
  local done, lerr = loop:loop()
  if done then break end
  io.stderr:write("cqueues_echo: ", tostring(lerr), "\n")
end
