-- The client side of the reload measurement in bench/workers.sh: TASKS tasks
-- dial the unix stream echo server at PATH in a loop for SECS seconds, each
-- conn one 64-byte round trip, then print one line: conns=N failed=N (and
-- the first failure). Bounded: SECS, and a 5 s deadline per conn.
--
--   luds bench/reload_load.lua PATH SECS [TASKS]
local luds = require "luds"

local path, secs, tasks = arg[1], tonumber(arg[2]), tonumber(arg[3] or "50")
assert(path and secs and tasks, "usage: luds reload_load.lua PATH SECS [TASKS]")
local msg = ("x"):rep(64)
local conns, failed, first = 0, 0, nil

-- One conn: true, or nil and why it failed.
local function round_trip()
  local c <close>, err = luds.dial("unix", path)
  if not c then return nil, err end
  c:set_deadline(luds.now() + 5)
  local ok, werr = c:write(msg)
  if not ok then return nil, werr end
  local got, rerr = c:read_full(#msg)
  if got ~= msg then return nil, rerr or "wrong echo" end
  return true
end

local stop = luds.now() + secs
local g = luds.group()
for _ = 1, tasks do
  g:spawn(function()
    while luds.now() < stop do
      local ok, err = round_trip()
      conns = conns + 1
      if not ok then failed, first = failed + 1, first or err end
    end
  end)
end
g:wait()
print(("conns=%d failed=%d%s"):format(conns, failed, first and " first_failure=" .. first or ""))
