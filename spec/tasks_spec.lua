-- Tasks (spawn, wait, cancel, sleep, status), signals and the luds command line.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

TestTasks = H.suite()

function TestTasks:test_spawn_wait_results()
  H.run(function()
    local t = luds.spawn(function(a, b) return a + b, nil, "x" end, 1, 2)
    local r = table.pack(t:wait())
    lu.assertEquals(r, { n = 4, true, 3, nil, "x" })
  end)
end

function TestTasks:test_run_returns_like_wait()
  H.run(function()
    lu.assertEquals({ luds.run(function(a) return a * 2 end, 21) }, { true, 42 })
  end)
end

function TestTasks:test_wait_timeout()
  H.run(function()
    local t = luds.spawn(luds.sleep, 10)
    local before = luds.now()
    H.assert_fails("TIMEOUT", nil, t:wait(0.05))
    lu.assertTrue(luds.now() - before >= 0.05)
    lu.assertEquals(t:status(), "waiting")
    lu.assertTrue(t:cancel())
  end)
end

function TestTasks:test_cancel_sleeping_task()
  H.run(function()
    local t = luds.spawn(luds.sleep, 10)
    H.wait_parked(t)
    lu.assertTrue(t:cancel())
    lu.assertEquals(t:status(), "cancelled")
    lu.assertEquals({ t:wait(1) }, { false, "cancelled" })
    lu.assertFalse(t:cancel())
  end)
end

function TestTasks:test_cancel_task_blocked_in_read_runs_close()
  H.run(function()
    local client, server = T.pair()
    local closed = false
    local t = luds.spawn(function()
      local c <close> = server
      local _ <close> = setmetatable({}, { __close = function() closed = true end })
      return c:read()
    end)
    H.wait_parked(t)
    lu.assertTrue(t:cancel())
    lu.assertEquals({ t:wait(1) }, { false, "cancelled" })
    lu.assertTrue(closed)
    lu.assertStrContains(tostring(server), "(closed)")
    lu.assertEquals({ client:read() }, { nil, "EOF", "EOF" })
  end)
end

function TestTasks:test_cancel_finished_task()
  H.run(function()
    local t = luds.spawn(function() return "done" end)
    lu.assertEquals({ t:wait(1) }, { true, "done" })
    lu.assertFalse(t:cancel())
    lu.assertEquals(t:status(), "done")
  end)
end

function TestTasks:test_task_cannot_cancel_itself()
  H.run(function()
    local t
    t = luds.spawn(function()
      luds.sleep(0.001)
      return pcall(t.cancel, t)
    end)
    local ok, pok, err = t:wait(1)
    lu.assertEquals({ ok, pok }, { true, false })
    lu.assertIsString(err)
  end)
end

function TestTasks:test_status_strings()
  H.run(function()
    local seen
    local t
    t = luds.spawn(function()
      luds.sleep(0.001)
      seen = t:status()
      luds.sleep(10)
    end)
    lu.assertEquals(t:status(), "ready")
    H.wait_for("the task to look at itself", function() return seen end)
    lu.assertEquals(seen, "running")
    H.wait_parked(t)
    t:cancel()
    lu.assertEquals(t:status(), "cancelled")
    local quick = luds.spawn(function() end)
    quick:wait(1)
    lu.assertEquals(quick:status(), "done")
  end)
end

function TestTasks:test_sleep_wakes_in_deadline_order()
  H.run(function()
    local order = {}
    local start = luds.now()
    local slow = luds.spawn(function() luds.sleep(0.02); order[#order + 1] = "slow" end)
    local fast = luds.spawn(function() luds.sleep(0.01); order[#order + 1] = "fast" end)
    slow:wait(1)
    fast:wait(1)
    lu.assertEquals(order, { "fast", "slow" })
    lu.assertTrue(luds.now() - start >= 0.02)
  end)
end

-- A failing task: traceback on stderr, exit status 1, the other task unharmed.
function TestTasks:test_failing_task_does_not_disturb_others()
  H.run(function()
    local script = [[
      local luds = require "luds"
      local bad = luds.spawn(function() luds.sleep(0.01); error("boom") end)
      local good = luds.spawn(function() luds.sleep(0.02); return "good" end)
      local ok, err = bad:wait(1)
      print(ok, (tostring(err):match("[^\n]*")))
      print(bad:status())
      print(good:wait(1))
    ]]
    local out, err, status = H.exec(H.q(H.LUDS) .. " -e " .. H.q(script))
    local lines = {}
    for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
    lu.assertEquals(#lines, 3)
    lu.assertStrMatches(lines[1], "false\t.*boom.*")
    lu.assertEquals(lines[2], "failed")
    lu.assertEquals(lines[3], "true\tgood")
    lu.assertStrContains(err, "boom")
    lu.assertStrContains(err, "stack traceback")
    lu.assertEquals(status, 1)
  end)
end

-- A task that only yields gets one turn per scheduler pass: I/O still flows.
function TestTasks:test_yielding_task_does_not_starve_io()
  H.run(function()
    local turns, stop = 0, false
    local spinner = luds.spawn(function()
      while not stop and turns < 1e6 do
        turns = turns + 1
        coroutine.yield()
      end
    end)
    local client, server = T.pair()
    for i = 1, 20 do
      lu.assertEquals(client:write("ping" .. i), #("ping" .. i))
      lu.assertEquals(server:read(), "ping" .. i)
    end
    stop = true
    lu.assertEquals({ spinner:wait(1) }, { true })
    lu.assertTrue(turns < 1e6)
  end)
end

-- b is queued in the same pass as a; a cancels it before its turn: b never runs.
function TestTasks:test_cancel_task_queued_in_the_same_pass()
  H.run(function()
    local ran = false
    local b
    local a = luds.spawn(function() return b:cancel() end)
    b = luds.spawn(function() ran = true end)
    lu.assertEquals({ a:wait(1) }, { true, true })
    lu.assertEquals({ b:wait(1) }, { false, "cancelled" })
    lu.assertEquals(b:status(), "cancelled")
    luds.sleep(0)
    lu.assertFalse(ran)
  end)
end

TestSignals = H.suite()

local function assert_signal_stops_server(dir, sig, status)
  local path = dir .. "/echo.sock"
  local p = H.start_echo(path)
  lu.assertEquals(H.stop(p, sig), status)
  lu.assertFalse(H.exists(path))
end

function TestSignals:test_sigterm_exits_143_and_removes_file()
  H.run(function() assert_signal_stops_server(self.dir, "TERM", 143) end)
end

function TestSignals:test_sigint_exits_130_and_removes_file()
  H.run(function() assert_signal_stops_server(self.dir, "INT", 130) end)
end

-- A server with its own TERM handler: the handler runs as a task, says so,
-- closes the listener (removing the file) and the process ends normally.
local GRACEFUL = [[
local luds = require "luds"
local ln = assert(luds.listen("unix", arg[1]))
luds.on_signal("TERM", function(name)
  io.stdout:write("got ", name, "\n")
  io.stdout:flush()
  ln:close()
end)
luds.on_signal("INT", function() end)
luds.on_signal("INT", nil) -- back to the default
io.stdout:write("ready\n")
io.stdout:flush()
luds.serve(ln, function() end)
io.stdout:write("served\n")
]]

local function start_graceful(dir)
  local script, path = dir .. "/graceful.lua", dir .. "/g.sock"
  H.spit(script, GRACEFUL)
  local p = H.start(("%s %s %s"):format(H.q(H.LUDS), H.q(script), H.q(path)))
  H.wait_for("the server", function() return p:stdout() == "ready\n" end)
  return p, path
end

function TestSignals:test_script_handler_replaces_the_default()
  H.run(function()
    local p, path = start_graceful(self.dir)
    lu.assertEquals(H.stop(p, "TERM"), 0)
    lu.assertEquals(p:stdout(), "ready\ngot TERM\nserved\n")
    lu.assertFalse(H.exists(path))
  end)
end

function TestSignals:test_nil_handler_restores_the_default()
  H.run(function()
    local p, path = start_graceful(self.dir)
    lu.assertEquals(H.stop(p, "INT"), 130)
    lu.assertEquals(p:stdout(), "ready\n")
    lu.assertFalse(H.exists(path))
  end)
end

function TestSignals:test_on_signal_misuse_raises()
  H.assert_raises({ "bad argument #1", "invalid option 'KILL'" }, luds.on_signal, "KILL", print)
  H.assert_raises({ "bad argument #2", "function expected" }, luds.on_signal, "TERM", 42)
end

TestCli = H.suite()

local function luds_cmd(args)
  return H.q(H.LUDS) .. " " .. args
end

function TestCli:test_version()
  H.run(function()
    local out, _, status = H.exec(luds_cmd("-v"))
    lu.assertStrContains(out:lower(), "luds")
    lu.assertStrMatches(out, ".*%d+%.%d+.*")
    lu.assertEquals(status, 0)
  end)
end

function TestCli:test_execute_string()
  H.run(function()
    lu.assertEquals({ H.exec(luds_cmd("-e 'print(1+1)'")) }, { "2\n", "", 0 })
  end)
end

function TestCli:test_script_from_stdin()
  H.run(function()
    local input = self.dir .. "/in.lua"
    H.spit(input, "print(arg[0])\n")
    lu.assertEquals({ H.exec(luds_cmd("-"), input) }, { "-\n", "", 0 })
  end)
end

function TestCli:test_script_arguments()
  H.run(function()
    local script = self.dir .. "/args.lua"
    H.spit(script, "print(arg[0], #arg, arg[1], arg[2], ...)\n")
    local out, err, status = H.exec(luds_cmd(H.q(script) .. " a b"))
    lu.assertEquals({ out, err, status }, { script .. "\t2\ta\tb\ta\tb\n", "", 0 })
  end)
end

function TestCli:test_unknown_option_prints_usage()
  H.run(function()
    local out, err, status = H.exec(luds_cmd("--bogus"))
    lu.assertEquals(out, "")
    lu.assertStrContains(err:lower(), "usage")
    lu.assertNotEquals(status, 0)
  end)
end

function TestCli:test_missing_script()
  H.run(function()
    local missing = self.dir .. "/missing.lua"
    local out, err, status = H.exec(luds_cmd(H.q(missing)))
    lu.assertEquals(out, "")
    lu.assertStrContains(err, missing)
    lu.assertEquals(status, 1)
  end)
end

-- Child scripts start with this: luds, and a bounded wait for a task to park.
local PRELUDE = [[
local luds = require "luds"
local function parked(t)
  for _ = 1, 1000 do
    if t:status() == "waiting" then return end
    luds.sleep(0.001)
  end
  error("the task never parked")
end
]]

-- Runs PRELUDE .. body in a child luds; returns stdout, stderr, status.
local function child(body, seconds, prefix)
  return H.exec_lua(PRELUDE .. body, seconds or 5, prefix)
end

-- The lines of stderr that start a report ("luds: ..."), in order.
local function reports(err)
  local list = {}
  for l in err:gmatch("[^\n]+") do
    if l:find("^luds: ") then list[#list + 1] = l end
  end
  return list
end

-- A task's <close> handlers run after it has ended (cancelled or failed), so
-- whatever they do meets a consistent runtime. Each body runs in a child: the
-- defects were crashes (ASan: SEGV in task_cancel) and hangs.
TestCloseHandlers = H.suite()

function TestCloseHandlers:test_handler_cancelling_its_cancelled_task_gets_false()
  H.run(function()
    local out, err, status = child([[
      local t
      t = luds.spawn(function()
        local _ <close> = setmetatable({}, { __close = function()
          print("again", t:cancel(), t:status())
        end })
        luds.sleep(10)
      end)
      parked(t)
      print("cancel", t:cancel())
      print("wait", t:wait())
    ]])
    lu.assertEquals({ out, err, status },
      { "again\tfalse\tcancelled\ncancel\ttrue\nwait\tfalse\tcancelled\n", "", 0 })
  end, 10)
end

function TestCloseHandlers:test_handler_of_failing_task_cancelling_it_gets_false()
  H.run(function()
    local out, err, status = child([[
      local t
      t = luds.spawn(function()
        local _ <close> = setmetatable({}, { __close = function(_, e)
          print("closing", e, t:cancel(), t:status())
        end })
        luds.sleep(0)
        error("boom", 0)
      end)
      print("wait", t:wait())
    ]])
    lu.assertEquals(out, "closing\tboom\tfalse\tfailed\nwait\tfalse\tboom\n")
    lu.assertEquals(reports(err), { "luds: boom" })
    lu.assertStrContains(err, "luds: boom\nstack traceback:\n")
    lu.assertEquals(status, 1)
  end, 10)
end

local CANNOT_BLOCK = "blocking call in a <close> handler of a task that is ending "
  .. "(it cannot wait any more; spawn a task to do it)"

-- It cannot block (the thread cannot yield while it is reset): a clear error.
-- It can cancel other tasks and spawn new ones, which run later.
function TestCloseHandlers:test_handler_cannot_block_but_can_spawn_and_cancel()
  H.run(function()
    local out, err, status = child([[
      local other = luds.spawn(luds.sleep, 10)
      local t = luds.spawn(function()
        local _ <close> = setmetatable({}, { __close = function()
          print(pcall(luds.sleep, 0.01))
          print(pcall(other.wait, other))
          print(pcall(luds.run, function() end))
          print("other", other:cancel(), other:status())
          luds.spawn(function() luds.sleep(0.001) print("spawned ran") end)
        end })
        luds.sleep(10)
      end)
      parked(t)
      parked(other)
      print("cancel", t:cancel())
    ]])
    local no = "false\t" .. CANNOT_BLOCK .. "\n"
    lu.assertEquals({ out, err, status },
      { no .. no .. no .. "other\ttrue\tcancelled\ncancel\ttrue\nspawned ran\n", "", 0 })
  end, 10)
end

-- A handler's error is reported; the handlers after it still run; the task
-- stays cancelled and the exit status is untouched.
function TestCloseHandlers:test_handler_error_is_reported()
  H.run(function()
    local out, err, status = child([[
      local t = luds.spawn(function()
        local _ <close> = setmetatable({}, { __close = function() print("second closed") end })
        local _ <close> = setmetatable({}, { __close = function() error("cleanup failed", 0) end })
        luds.sleep(10)
      end)
      parked(t)
      print("cancel", t:cancel())
      print("wait", t:wait())
    ]])
    lu.assertEquals({ out, err, status }, {
      "second closed\ncancel\ttrue\nwait\tfalse\tcancelled\n",
      "luds: error in a <close> handler: cleanup failed\n", 0 })
  end, 10)
end

-- luds.exit there cannot suspend anything: it returns, and the scheduler stops
-- as soon as control comes back to it (the canceller's next wait).
function TestCloseHandlers:test_handler_calling_exit_stops_the_scheduler()
  H.run(function()
    local out, err, status = child([[
      local t = luds.spawn(function()
        local _ <close> = setmetatable({}, { __close = function()
          luds.exit(7)
          print("handler returns")
        end })
        luds.sleep(10)
      end)
      parked(t)
      print("cancel", t:cancel())
      luds.sleep(0)
      print("never")
    ]])
    lu.assertEquals({ out, err, status }, { "handler returns\ncancel\ttrue\n", "", 7 })
  end, 10)
end

-- luds.run where the scheduler is in a pass but no task can wait (here a
-- <close> handler of a failing task) used to start a second scheduler that
-- dropped the rest of the pass (b) and never returned.
TestNestedRun = H.suite()

function TestNestedRun:test_run_inside_the_scheduler_is_refused()
  H.run(function()
    local out, err, status = child([[
      local a = luds.spawn(function()
        local _ <close> = setmetatable({}, { __close = function()
          print(pcall(luds.run, function() print("inner ran") end))
        end })
        error("fail", 0)
      end)
      local b = luds.spawn(function() print("b ran") end)
      print(a:wait())
      print(b:wait())
    ]])
    lu.assertEquals(out, "false\tluds.run: the scheduler is already running\nb ran\n"
      .. "false\tfail\ntrue\n")
    lu.assertEquals(reports(err), { "luds: fail" })
    lu.assertEquals(status, 1)
  end, 10)
end

-- wait returns a task's error value itself ("false, err"); stderr gets its
-- text: __tostring when it gives a string, else its type.
TestTaskErrors = H.suite()

function TestTaskErrors:test_error_value_reaches_wait_unchanged()
  H.run(function()
    local out, err, status = child([[
      local e = { code = 42 }
      print(e == select(2, luds.spawn(function() error(e) end):wait()), e.code)
      local _, n = luds.spawn(function() error(42) end):wait()
      print(math.type(n), n)
      local named = setmetatable({}, { __tostring = function() return "named error" end })
      print(named == select(2, luds.spawn(function() error(named) end):wait()))
    ]])
    lu.assertEquals(out, "true\t42\ninteger\t42\ntrue\n")
    lu.assertEquals(reports(err),
      { "luds: (error object is a table value)", "luds: 42", "luds: named error" })
    local _, traces = err:gsub("stack traceback:\n", "")
    lu.assertEquals(traces, 3)
    lu.assertEquals(status, 1)
  end, 10)
end

-- The scheduler never lets a memory error escape: a task whose failure
-- cannot be formatted (its 2 MiB message does not fit twice) is reported
-- without a traceback, and its error still reaches wait. The limit is set
-- from inside, relative to what the process already uses.
TestSchedulerMemory = H.suite()

function TestSchedulerMemory:test_failure_report_without_memory()
  lu.skipIf(H.sanitized(), "an address-space limit does not apply to a sanitizer build")
  H.run(function()
    local out, err, status = child([[
      local big = ("x"):rep(2 << 20)
      local pid = io.open("/proc/self/stat"):read("l"):match("^%d+")
      local vm = io.open("/proc/self/status"):read("a"):match("VmSize:%s*(%d+) kB")
      assert(os.execute(("prlimit --pid %s --as=%d"):format(pid, (vm + 1024) * 1024)))
      local ok, err = luds.spawn(function() error(big, 0) end):wait()
      print(ok, err == big)
    ]])
    lu.assertEquals(out, "false\ttrue\n")
    lu.assertEquals(err, "luds: " .. ("x"):rep(2 << 20) .. "\nluds: (no traceback: not enough memory)\n")
    lu.assertEquals(status, 1)
  end, 10)
end

-- Out of memory while spawning is an error the script catches.
function TestSchedulerMemory:test_spawning_until_out_of_memory_is_catchable()
  lu.skipIf(H.sanitized(), "an address-space limit does not apply to a sanitizer build")
  H.run(function()
    lu.assertEquals({ child([[
      local ok, err = pcall(function()
        local t = {}
        for i = 1, 1e7 do t[i] = luds.spawn(function() luds.sleep(10) end) end
      end)
      collectgarbage()
      print(ok, err)
      luds.exit(0)
    ]], 10, "prlimit --as=32000000") }, { "false\tnot enough memory\n", "", 0 })
  end, 15)
end

-- A task's arguments are copied onto its own stack, which must make room
-- for them first (it overflowed its heap block past 40 or so).
function TestSchedulerMemory:test_spawn_with_many_arguments()
  H.run(function()
    lu.assertEquals({ child([[
      local args = {}
      for i = 1, 5000 do args[i] = i end
      local t = luds.spawn(function(...) return select("#", ...), select(5000, ...) end, table.unpack(args))
      print(t:wait())
    ]]) }, { "true\t5000\t5000\n", "", 0 })
  end, 10)
end

-- Programs a script starts while the loop runs get the signal mask and
-- dispositions a program normally has: the loop used to block SIGINT and
-- SIGTERM process-wide, and a `sleep` started by io.popen or os.execute
-- inherited the mask and ignored SIGTERM.
TestChildSignals = H.suite()

-- Waits until the child started by p has written its pid to file and become
-- `sleep`; returns the pid and a to-be-closed value that kills it.
local function sleeper(p, file)
  local pid = H.wait_for("the sleeper's pid", function()
    return (H.slurp(file) or ""):match("^(%d+)\n")
  end)
  local guard = setmetatable({}, { __close = function() os.execute("kill -KILL " .. pid .. " 2>/dev/null") end })
  H.wait_for("the sleeper to exec", function() return H.slurp("/proc/" .. pid .. "/comm") == "sleep\n" end)
  return pid, guard
end

local function assert_default_signals(pid)
  local st = H.slurp("/proc/" .. pid .. "/status")
  lu.assertEquals(st:match("SigBlk:%s*(%x+)"), "0000000000000000")
  local ign = tonumber(st:match("SigIgn:%s*(%x+)"), 16)
  lu.assertEquals(ign & ((1 << 1) | (1 << 14)), 0) -- SIGINT (2), SIGTERM (15)
end

local function assert_sigterm_ends_sleeper(dir, script)
  H.spit(dir .. "/sleeper.lua", script)
  local p = H.start(("%s %s %s"):format(H.q(H.LUDS), H.q(dir .. "/sleeper.lua"), H.q(dir .. "/pid")))
  local pid, guard <close> = sleeper(p, dir .. "/pid")
  assert_default_signals(pid)
  os.execute("kill -TERM " .. pid)
  lu.assertEquals(H.wait_exit(p), 0)
  lu.assertEquals(p:stdout(), "nil\tsignal\t15\n")
end

function TestChildSignals:test_popen_child_gets_default_signals()
  H.run(function()
    assert_sigterm_ends_sleeper(self.dir, [[
      local p = io.popen("echo $$ >" .. ... .. "; exec sleep 30")
      print(p:close())
    ]])
  end, 10)
end

function TestChildSignals:test_execute_child_gets_default_signals()
  H.run(function()
    assert_sigterm_ends_sleeper(self.dir, [[
      print(os.execute("echo $$ >" .. ... .. "; exec sleep 30"))
    ]])
  end, 10)
end

TestErrorsAndTaskList = H.suite()

function TestErrorsAndTaskList:test_on_error_gets_each_failure()
  local runner = luds.on_error(nil) -- luds.test's, back when this test ends
  T.cleanup(function() luds.on_error(runner) end)
  H.run(function()
    local got = {}
    lu.assertNil(luds.on_error(function(t, msg, err) got[#got + 1] = { t, msg, err } end))
    local value = { code = 7 }
    local a = luds.spawn(error, value)
    local line = debug.getinfo(1, "l").currentline + 1
    local b = luds.spawn(function() error("boom") end)
    H.wait_for("both reports", function() return #got == 2 end)
    lu.assertIs(got[1][1], a)
    lu.assertIs(got[1][3], value)
    lu.assertStrMatches(got[1][2], "^%(error object is a table value%)\nstack traceback:\n.*")
    lu.assertIs(got[2][1], b)
    local where = debug.getinfo(1, "S").short_src .. ":" .. line
    lu.assertEquals(got[2][3], where .. ": boom")
    lu.assertEquals(got[2][2]:match("^[^\n]*\n[^\n]*"), where .. ": boom\nstack traceback:")
    lu.assertEquals({ a:wait() }, { false, value }) -- wait still gets the error itself
    lu.assertIsFunction(luds.on_error(nil))
    lu.assertNil(luds.on_error(nil))
  end)
end

-- A handler that raises is reported on stderr, not handed to itself again.
function TestErrorsAndTaskList:test_failing_handler_is_printed_once()
  local _, err, status = H.exec_lua([[
    local luds = require "luds"
    luds.on_error(function(_, msg) error("handler broke on " .. msg:match("^[^\n]*")) end)
    luds.spawn(error, "first")
    luds.sleep(0.05)
    luds.exit(0)
  ]])
  lu.assertEquals(status, 0)
  local _, n = err:gsub("luds: ", "")
  lu.assertEquals(n, 1, err)
  lu.assertStrMatches(err, "^luds: %(command line%):2: handler broke on first\nstack traceback:\n.*")
end

function TestErrorsAndTaskList:test_on_error_bad_argument()
  H.assert_raises({ "bad argument #1", "function expected" }, luds.on_error, 42)
end

function TestErrorsAndTaskList:test_tasks_lists_the_live_ones()
  H.run(function()
    local me
    local sleeper = luds.spawn(luds.sleep, 10)
    local done = luds.spawn(function() end)
    done:wait()
    local set = {}
    for _, t in ipairs(luds.tasks()) do set[t] = true end
    lu.assertTrue(set[sleeper])
    lu.assertNil(set[done])
    for t in pairs(set) do if t:status() == "running" then me = t end end
    lu.assertNotNil(me) -- the caller, this test's task
    sleeper:cancel()
    for _, t in ipairs(luds.tasks()) do lu.assertNotIs(t, sleeper) end
  end)
end

luds.exit(T.run())
