-- Dialing by name against dialing by number, and the loop's latency while
-- lookups are in flight. Prints one line per measure:
--   dial_per_sec ADDRESS N        connections per second (dial, accept, close)
--   lookups_in_flight N worst_ms W  a 10 ms ticker's worst lateness during N
--                                 concurrent luds.resolve(NAME) calls
-- ADDRESS is a "host:" prefix (the port is the listener's): "127.0.0.1:",
-- "localhost:" (answered without a lookup) or a name from /etc/hosts
-- (looked up on the worker pool: mk/resolve.mk runs this in a namespace
-- where bench.test is 127.0.0.1).
--   build/luds bench/resolve.lua dial HOST N
--   build/luds bench/resolve.lua flight NAME N
local luds = require "luds"
local mode = arg[1]

if mode == "dial" then
  local host, n = arg[2], tonumber(arg[3]) or 10000
  local ln = assert(luds.listen("tcp4", "127.0.0.1:0"))
  local port = ln:addr():match(":(%d+)$")
  luds.spawn(function()
    while true do
      local c = ln:accept()
      if not c then return end
      c:close()
    end
  end)
  local address = host .. port
  assert(luds.dial("tcp", address)):close() -- the pool's threads start outside the timing
  local t0 = luds.now()
  for _ = 1, n do assert(luds.dial("tcp", address)):close() end
  print(("dial_per_sec %s %.0f"):format(host, n / (luds.now() - t0)))
  ln:close()
elseif mode == "flight" then
  local name, n = arg[2], tonumber(arg[3]) or 1000
  local worst, ticking = 0, true
  local ticker = luds.spawn(function()
    while ticking do
      local t = luds.now()
      luds.sleep(0.01)
      worst = math.max(worst, luds.now() - t - 0.01)
    end
  end)
  luds.sleep(0.05)
  local tasks = {}
  local t0 = luds.now()
  for i = 1, n do tasks[i] = luds.spawn(luds.resolve, name) end
  for i = 1, n do assert(select(2, tasks[i]:wait())) end
  local took = luds.now() - t0
  luds.sleep(0.05)
  ticking = false
  ticker:wait()
  print(("lookups_in_flight %d worst_ms %.2f lookups_per_sec %.0f"):format(n, worst * 1000, n / took))
else
  io.stderr:write("usage: luds bench/resolve.lua dial HOST N | flight NAME N\n")
  luds.exit(2)
end
