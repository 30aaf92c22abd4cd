-- A worker pool: WORKERS tasks take jobs from one channel and send results
-- on another; a task group owns the workers, so a failing job cancels the
-- others and its error is what the group's wait returns.
--
--   luds examples/pool.lua [WORKERS [JOBS [FAIL]]]
--
-- Job n sums the squares of 1..n. Results print in job order, then the
-- total. FAIL names a job that raises: the run then ends with that error.
local luds = require "luds"

local function usage()
  io.stderr:write("usage: luds pool.lua [WORKERS [JOBS [FAIL]]]\n")
  luds.exit(2)
end

local function count(s, default)
  local n = math.tointeger(tonumber(s or default))
  if not n or n < 1 then usage() end
  return n
end

local workers, njobs = count(arg[1], 4), count(arg[2], 10)
local fail = arg[3] and count(arg[3])
if arg[4] then usage() end

local function work(n)
  if n == fail then error(("job %d failed"):format(n), 0) end
  local sum = 0
  for i = 1, n do sum = sum + i * i end
  return sum
end

local jobs, results = luds.channel(), luds.channel(njobs)
local function worker()
  for n in jobs:values() do
    assert(results:send({ n, work(n) }))
    luds.sleep(0) -- let the others take jobs too
  end
end

local ok, err
do
  local g <close> = luds.group()
  for _ = 1, workers do g:spawn(worker) end
  g:spawn(function()
    for n = 1, njobs do assert(jobs:send(n)) end
    jobs:close()
  end)
  ok, err = g:wait()
end
if not ok then
  io.stderr:write("pool: ", tostring(err), "\n")
  luds.exit(1)
end
results:close()
local by_job, total = {}, 0
for r in results:values() do by_job[r[1]], total = r[2], total + r[2] end
for n = 1, njobs do print(("job %d: %d"):format(n, by_job[n])) end
print(("total: %d"):format(total))
