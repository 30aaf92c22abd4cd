-- luds.exec where the kernel has no pidfd_open (before Linux 5.3, or under
-- valgrind): build/tests/no_pidfd makes pidfd_open and pidfd_send_signal
-- fail with ENOSYS through seccomp; children are then watched by a timer
-- and signalled by pid, and everything proc_spec and testing_spec check
-- holds the same.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

local NO_PIDFD = H.ROOT .. "/build/tests/no_pidfd"

TestNoPidfd = H.suite()

-- The launcher does what it says: python3's os.pidfd_open gets ENOSYS.
function TestNoPidfd:test_launcher_denies_pidfd_open()
  local probe = "import os\ntry:\n  os.pidfd_open(os.getpid())\n  print('opened')\n"
    .. "except OSError as e:\n  print(e.errno)\n"
  lu.assertEquals({ H.exec(H.q(NO_PIDFD) .. " python3 -c " .. H.q(probe)) }, { "38\n", "", 0 })
  lu.assertEquals({ H.exec("python3 -c " .. H.q(probe)) }, { "opened\n", "", 0 })
end

-- Statuses, signals, no descriptor held per child, and no zombie left by a
-- child nobody waits for.
local FALLBACK = [[
local luds = require "luds"
local function fds() local n = 0 for _ in io.popen("ls /proc/self/fd"):lines() do n = n + 1 end return n end
local before = fds() - 1 -- the ls pipe itself
local p = assert(luds.exec({ "sh", "-c", "exit 3" }, { stdin = "null", stdout = "null" }))
print(p:wait(5))
local s = assert(luds.exec({ "sleep", "10" }, { stdin = "null", stdout = "null" }))
print(fds() - 1 - before)
print(s:kill("TERM"), s:wait(5))
print(s:kill())
local q = assert(luds.exec({ "true" }, { stdin = "null" }))
local pid = q.pid
q = nil
collectgarbage()
local deadline = luds.now() + 5
while luds.now() < deadline do
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then break end
  f:close()
  luds.sleep(0.01)
end
print(io.open("/proc/" .. pid .. "/stat") == nil)
print(luds.exec({ "no-such-program-here" }))
]]

function TestNoPidfd:test_statuses_signals_and_reaping()
  local out, err, status = H.exec_lua(FALLBACK, 20, H.q(NO_PIDFD))
  lu.assertEquals(err, "")
  lu.assertEquals(status, 0)
  local lines = {}
  for l in out:gmatch("[^\n]*") do if l ~= "" then lines[#lines + 1] = l end end
  lu.assertEquals(lines[1], "3")
  lu.assertEquals(lines[2], "0") -- with a pidfd it would be 1
  lu.assertStrMatches(lines[3], "true\tnil\t.*\tSIGNALED\t15")
  lu.assertStrMatches(lines[4], "nil\tkill sleep %d+: process already finished\tESRCH")
  lu.assertEquals(lines[5], "true")
  lu.assertStrMatches(lines[6], "nil\t.*no%-such%-program%-here.*\tENOENT")
  lu.assertEquals(#lines, 6)
end

-- A child nobody waits for does not hide a deadlock (the poll timer is no
-- bar to the verdict), and one waited for is no deadlock.
function TestNoPidfd:test_deadlock_verdict_with_polled_children()
  local out, err, status = H.exec_lua([[
local luds = require "luds"
assert(luds.exec({ "sleep", "30" }, { stdin = "null" }))
luds.channel():recv()
]], 20, H.q(NO_PIDFD))
  lu.assertEquals(status, 2)
  lu.assertEquals(out, "")
  lu.assertStrContains(err, "deadlock")
  out, err, status = H.exec_lua([[
local luds = require "luds"
local p = assert(luds.exec({ "sleep", "0.2" }, { stdin = "null" }))
print(p:wait())
]], 20, H.q(NO_PIDFD))
  lu.assertEquals({ out, err, status }, { "0\n", "", 0 })
end

-- The whole of proc_spec and testing_spec (T.start) pass without pidfds.
local function run_spec(name)
  local out, err, status = H.exec(("%s %s %s"):format(H.q(NO_PIDFD), H.q(H.LUDS),
    H.q(H.ROOT .. "/spec/" .. name)))
  local ran, ok = out:match("Ran (%d+) tests in [%d.]+ seconds, (%d+) successes, 0 failures\n")
  lu.assertEquals(status, 0, out .. err)
  lu.assertNotNil(ran, out)
  lu.assertEquals(ok, ran)
  lu.assertTrue(tonumber(ran) >= 20)
end

function TestNoPidfd:test_proc_spec_passes() run_spec("proc_spec.lua") end
function TestNoPidfd:test_testing_spec_passes() run_spec("testing_spec.lua") end

luds.exit(T.run())
