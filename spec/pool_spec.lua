-- examples/pool.lua: workers on a jobs channel inside a task group; exact
-- results in job order, a failing job's error, bad arguments.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local H = require "helper"
local T = require "luds.test"

local EXAMPLE = H.ROOT .. "/examples/pool.lua"

local function pool(args)
  return H.exec(("%s %s %s"):format(H.q(H.LUDS), H.q(EXAMPLE), args))
end

-- What the pool must print for jobs 1..n.
local function expected(n)
  local lines, total = {}, 0
  for j = 1, n do
    local sum = j * (j + 1) * (2 * j + 1) // 6
    lines[#lines + 1] = ("job %d: %d"):format(j, sum)
    total = total + sum
  end
  lines[#lines + 1] = ("total: %d\n"):format(total)
  return table.concat(lines, "\n")
end

TestPool = H.suite()

function TestPool:test_results_in_job_order()
  for _, c in ipairs({ { "", 10 }, { "1 1", 1 }, { "3 5", 5 }, { "8 200", 200 }, { "50 7", 7 } }) do
    local out, err, status = pool(c[1])
    lu.assertEquals({ out, err, status }, { expected(c[2]), "", 0 }, c[1])
  end
end

function TestPool:test_a_failing_job_ends_the_group()
  for _, args in ipairs({ "2 6 4", "1 3 1", "5 100 100" }) do
    local out, err, status = pool(args)
    lu.assertEquals({ out, err, status }, { "", ("pool: job %s failed\n"):format(args:match("%d+$")), 1 }, args)
  end
end

function TestPool:test_bad_arguments()
  for _, args in ipairs({ "0", "-1", "x", "2 0", "2 2.5", "1 2 3 4" }) do
    local out, err, status = pool(args)
    lu.assertEquals({ out, err, status }, { "", "usage: luds pool.lua [WORKERS [JOBS [FAIL]]]\n", 2 }, args)
  end
end

require("luds").exit(T.run())
