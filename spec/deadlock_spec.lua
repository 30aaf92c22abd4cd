-- Deadlock detection: when tasks are alive but nothing can wake one, the run
-- ends with status 2 and a report of every waiting task; a socket read, a
-- sleep or a signal handler is never taken for a deadlock.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

TestDeadlock = H.suite()

local function run_script(dir, src)
  local path = dir .. "/script.lua"
  H.spit(path, src)
  return H.exec(("%s %s"):format(H.q(H.LUDS), H.q(path)))
end

local function lines(s)
  local t = {}
  for l in s:gmatch("[^\n]*") do t[#t + 1] = l end
  return t
end

function TestDeadlock:test_report_and_status_2()
  local out, err, status = run_script(self.dir, [[
local luds = require "luds"
local ch, ev, sem = luds.channel(), luds.event(), luds.semaphore(0)
local a = luds.spawn(function() ch:send(1) end)
local b = luds.spawn(function() ev:wait() end)
local c = luds.spawn(function() sem:acquire() end)
local d = luds.spawn(function() luds.select({ { "recv", luds.channel() } }) end)
print("before")
a:wait()
]])
  lu.assertEquals(status, 2)
  lu.assertEquals(out, "before\n")
  local l = lines(err)
  lu.assertStrMatches(l[1], "^.*luds: all tasks are asleep %- deadlock!$")
  local heads = {}
  for _, line in ipairs(l) do
    local what = line:match("^task 0x%x+ %[(.-)%]:$")
    if what then heads[#heads + 1] = what end
  end
  table.sort(heads)
  lu.assertEquals(heads, { "channel send", "event", "select", "semaphore", "task:wait" })
  lu.assertStrContains(err, "stack traceback:\n\t[C]: in method 'send'\n")
  lu.assertStrContains(err, "script.lua:3: in function <")
  lu.assertStrContains(err, "script.lua:8: in main chunk")
end

function TestDeadlock:test_main_alone_on_a_channel()
  local _, err, status = run_script(self.dir, [[
local luds = require "luds"
luds.channel():recv()
]])
  lu.assertEquals(status, 2)
  local l = lines(err)
  lu.assertStrMatches(l[1], "^.*luds: all tasks are asleep %- deadlock!$")
  lu.assertEquals(l[2], "")
  lu.assertStrMatches(l[3], "^task 0x%x+ %[channel receive%]:$")
  lu.assertEquals(l[4], "stack traceback:")
  lu.assertEquals(l[5], "\t[C]: in method 'recv'")
  lu.assertStrContains(l[6], "script.lua:2: in main chunk")
end

function TestDeadlock:test_socket_read_is_not_a_deadlock()
  local path = self.dir .. "/s.sock"
  local out, err, status = run_script(self.dir, ([[
local luds = require "luds"
local ln = assert(luds.listen("unix", %q))
local c = assert(luds.dial("unix", %q))
local s = assert(ln:accept())
local ch = luds.channel()
luds.spawn(function() ch:send(s:read()) end)
luds.spawn(function() luds.sleep(0.05) c:write("hi") end)
print(ch:recv())
]]):format(path, path))
  lu.assertEquals({ out, err, status }, { "true\thi\n", "", 0 })
end

function TestDeadlock:test_sleep_and_timeouts_are_not_deadlocks()
  local out, err, status = run_script(self.dir, [[
local luds = require "luds"
local ch = luds.channel()
luds.spawn(function() luds.sleep(0.05) ch:send("late") end)
print(ch:recv())
print(luds.channel():recv(0.01))
]])
  lu.assertEquals({ out, err, status }, { "true\tlate\nnil\trecv: i/o timeout\tTIMEOUT\n", "", 0 })
end

function TestDeadlock:test_signal_handler_is_not_a_deadlock()
  local p = H.start(("%s -e %s"):format(H.q(H.LUDS), H.q([[
local luds = require "luds"
local ch = luds.channel()
luds.on_signal("TERM", function() ch:send("term") end)
io.stdout:write("ready\n") io.stdout:flush()
print(ch:recv())
]])))
  H.run(function()
    H.wait_for("the child's handler", function() return p:stdout() == "ready\n" end)
  end)
  -- a false deadlock would have ended the child with 2 before the signal
  lu.assertEquals(H.stop(p, "TERM"), 0)
  lu.assertEquals(p:stdout(), "ready\ntrue\tterm\n")
end

function TestDeadlock:test_group_children_deadlocked()
  local _, err, status = run_script(self.dir, [[
local luds = require "luds"
local g <close> = luds.group()
local ch = luds.channel()
g:spawn(function() ch:recv() end)
g:spawn(function() ch:recv() end)
g:wait()
]])
  lu.assertEquals(status, 2)
  local n = 0
  for _ in err:gmatch("\ntask 0x%x+ %[channel receive%]:\n") do n = n + 1 end
  lu.assertEquals(n, 2)
  lu.assertStrContains(err, "[group wait]:\n")
end

luds.exit(T.run())
