-- Spawning a program and waiting for it, in processes per second: the peer
-- of bench/spawn_go/main.go (mk/spawn.mk runs both in the same run).
--   build/luds bench/spawn.lua N [K [null]]
-- N processes of `true`, K of them in flight at once (K tasks, each starting
-- one and waiting for it in turn; K = 1: one after the other), with this
-- process's stdio, or with /dev/null as stdin, stdout and stderr (what Go
-- gives a Cmd whose Stdin, Stdout and Stderr are nil). Prints
--   spawn_per_sec K N RATE
local luds = require "luds"
local n, k = tonumber(arg[1]) or 2000, tonumber(arg[2]) or 1
local opts = arg[3] == "null" and { stdin = "null", stdout = "null", stderr = "null" } or nil
local argv = { "true" }

local function run(count)
  for _ = 1, count do
    local p = assert(luds.exec(argv, opts))
    assert(p:wait() == 0)
  end
end

run(10) -- PATH lookup, page cache and allocator warmed outside the timing
local t0 = luds.now()
local tasks = {}
for i = 1, k do tasks[i] = luds.spawn(run, n // k + (i <= n % k and 1 or 0)) end
for i = 1, k do assert(tasks[i]:wait()) end
print(("spawn_per_sec %d %d %.0f"):format(k, n, n / (luds.now() - t0)))
