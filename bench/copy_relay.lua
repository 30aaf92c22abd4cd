-- Relays 1 GiB between two unix conns in one process and prints the rate:
-- with luds.copy, or with a Lua read/write loop for comparison.
--
--   build/luds bench/copy_relay.lua [copy|lua]
local luds = require "luds"

local mode = arg[1] or "copy"
if mode ~= "copy" and mode ~= "lua" then
  io.stderr:write("usage: luds copy_relay.lua [copy|lua]\n")
  luds.exit(2)
end

local mktemp <close> = io.popen("mktemp -d")
local dir = mktemp:read("l")
local ln = assert(luds.listen("unix", dir .. "/relay.sock"))
local function connected()
  local c = assert(luds.dial("unix", ln:addr()))
  return c, assert(ln:accept())
end
local writer, from = connected() -- writer -> from -> relay -> to -> reader
local to, reader = connected()
ln:close() -- removes the socket file

local CHUNK, COUNT = 256 * 1024, 4096
local chunk = ("x"):rep(CHUNK)
luds.spawn(function()
  for _ = 1, COUNT do assert(writer:write(chunk)) end
  writer:close()
end)
luds.spawn(function()
  if mode == "copy" then
    assert(luds.copy(to, from))
  else
    repeat
      local data = from:read(CHUNK)
    until not data or not to:write(data)
  end
  to:close()
end)

local started, total = luds.now(), 0
repeat
  local data = reader:read(CHUNK)
  total = total + (data and #data or 0)
until not data
assert(total == CHUNK * COUNT, "lost bytes")
print(("%s: %d bytes in %.2f s: %.0f MB/s"):format(mode, total, luds.now() - started,
  total / (luds.now() - started) / 1e6))
os.remove(dir)
