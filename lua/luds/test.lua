-- luds.test: testing luds services with luaunit. T.run() runs a spec file's
-- tests, each as a task with a timeout; a task that fails in the background
-- fails the test it ran in, and tasks a test left running are cancelled
-- before the next one. Helpers: per-test temporary directories and cleanups,
-- bounded waits, free ports, connected pairs, assertions for luds's
-- nil, message, CODE triple. T.main(args) is the `luds test` runner.
local luds = require "luds"

local T = {}

T.DEFAULT_TIMEOUT = 60 -- seconds per test; LUDS_TEST_TIMEOUT or --timeout change it

local function lu() return require "luaunit" end

local function q(s) return "'" .. tostring(s):gsub("'", [['\'']]) .. "'" end

-- Runs a shell command to its end (blocking the process: only for quick
-- commands such as mktemp and rm); returns its stdout and whether it succeeded.
local function sh(cmd)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  return out, p:close()
end

-- The test running now: { deadline, limit, cleanups, failures, before }.
local current
-- Cleanups registered outside any test: run when T.run ends.
local outer = { cleanups = {}, failures = {} }

local function scope() return current or outer end

-- T.cleanup(fn): fn() runs when the current test ends (after tearDown),
-- last registered first, even if the test failed (Go's t.Cleanup).
function T.cleanup(fn)
  assert(type(fn) == "function", "bad argument #1 to 'cleanup' (function expected)")
  local c = scope().cleanups
  c[#c + 1] = fn
end

-- T.tempdir() -> a fresh directory, removed with everything in it when the
-- current test ends.
function T.tempdir()
  local out = sh("mktemp -d 2>/dev/null")
  local dir = assert(out:match("^(/.-)\n$"), "luds.test: mktemp -d failed")
  T.cleanup(function() sh("rm -rf " .. q(dir)) end)
  return dir
end

-- T.timeout(seconds): the current test may run that long from now.
function T.timeout(seconds)
  assert(type(seconds) == "number" and seconds > 0,
    "bad argument #1 to 'timeout' (positive number expected)")
  assert(current, "luds.test: timeout outside a test")
  current.limit, current.deadline = seconds, luds.now() + seconds
end

-- T.wait_for(cond [, timeout [, what]]) -> cond's first true value, polling
-- every 10 ms; fails the test after timeout seconds (default 5).
function T.wait_for(cond, timeout, what)
  assert(type(cond) == "function", "bad argument #1 to 'wait_for' (function expected)")
  local limit = timeout or 5
  local deadline = luds.now() + limit
  repeat
    local v = cond()
    if v then return v end
    luds.sleep(0.01)
  until luds.now() >= deadline
  lu().fail(("timed out after %g s waiting for %s"):format(limit, what or "a condition"))
end

-- T.free_port([host]) -> a TCP port on host (default 127.0.0.1) that nothing
-- listened on a moment ago.
function T.free_port(host)
  host = host or "127.0.0.1"
  local ln = assert(luds.listen("tcp", (host:find(":") and "[%s]:0" or "%s:0"):format(host)))
  local port = tonumber(ln:addr():match(":(%d+)$"))
  ln:close()
  return port
end

-- T.pair([network]) -> client, server: two connected conns of network
-- ("unix", the default, "unixpacket" or "tcp" on 127.0.0.1), closed when
-- the test ends.
function T.pair(network)
  network = network or "unix"
  local addr
  if network == "tcp" or network == "tcp4" then
    addr = "127.0.0.1:0"
  elseif network == "unix" or network == "unixpacket" then
    addr = T.tempdir() .. "/pair.sock"
  else
    error("bad argument #1 to 'pair' (unix, unixpacket or tcp expected)", 2)
  end
  local ln <close> = assert(luds.listen(network, addr))
  local client = assert(luds.dial(network, ln:addr()))
  local server = assert(ln:accept())
  T.cleanup(function() client:close() server:close() end)
  return client, server
end

-- T.assert_error(code, f, ...) -> message: f(...) must return nil, a
-- message and exactly code (luds's failure triple).
function T.assert_error(code, f, ...)
  local r = table.pack(f(...))
  local L = lu()
  L.assertNil(r[1], "expected the nil, message, code triple, got a value first")
  L.assertIsString(r[2], "expected a message second")
  L.assertEquals(r[3], code, "wrong code (message: " .. tostring(r[2]) .. ")")
  return r[2]
end

-- T.assert_raises(text, f, ...) -> the error: f(...) must raise an error
-- whose message contains text (plain, not a pattern).
function T.assert_raises(text, f, ...)
  local ok, err = pcall(f, ...)
  local L = lu()
  L.assertFalse(ok, "expected a Lua error")
  L.assertStrContains(tostring(err), text)
  return err
end

-- Runs the cleanups of s, last first; returns the errors they raised.
local function run_cleanups(s)
  local errors = {}
  for i = #s.cleanups, 1, -1 do
    local ok, err = pcall(s.cleanups[i])
    if not ok then errors[#errors + 1] = tostring(err) end
    s.cleanups[i] = nil
  end
  return errors
end

local function error_result(msg)
  return { status = lu().NodeStatus.ERROR, msg = msg, trace = "" }
end

-- luaunit's protectedCall (setUp, the test, tearDown), in a task of its own
-- bounded by the test's deadline.
local function protected_call(runner, instance, method, name)
  local L = lu()
  local t = luds.spawn(L.LuaUnit.protectedCall, runner, instance, method, name)
  while true do
    local ok, result = t:wait(math.max(0, current.deadline - luds.now()))
    if ok then return result end
    if ok == false then return error_result(name .. " ended: " .. tostring(result)) end
    if luds.now() >= current.deadline then -- T.timeout may have moved it
      t:cancel()
      return error_result(("%s timed out after %g s"):format(name, current.limit))
    end
  end
end

local function test_limit(instance)
  local limit = instance and instance.timeout
  if type(limit) == "number" and limit > 0 then return limit end
  return tonumber(os.getenv("LUDS_TEST_TIMEOUT")) or T.DEFAULT_TIMEOUT
end

-- Each test starts with the tasks alive now; what it leaves is cancelled.
local function start_test(runner, name)
  local limit = test_limit(runner.lastClassInstance)
  local before = {}
  for _, t in ipairs(luds.tasks()) do before[t] = true end
  current = { limit = limit, deadline = luds.now() + limit, cleanups = {}, failures = {},
    before = before }
  local failures = current.failures
  current.on_error = luds.on_error(function(_, message) failures[#failures + 1] = message end)
  lu().LuaUnit.startTest(runner, name)
end

local function cancel_leftovers(before)
  local n = 0
  for _, t in ipairs(luds.tasks()) do
    if not before[t] then
      t:cancel()
      n = n + 1
    end
  end
  return n
end

local function end_test(runner)
  local s = current
  luds.sleep(0) -- reporters of failures just before the end run now
  cancel_leftovers(s.before)
  local errors = run_cleanups(s)
  luds.sleep(0)
  luds.on_error(s.on_error)
  current = nil
  if #s.failures > 0 then
    runner:updateStatus(error_result("a task failed in the background:\n" .. s.failures[1]))
  elseif #errors > 0 then
    runner:updateStatus(error_result("a cleanup failed: " .. errors[1]))
  end
  lu().LuaUnit.endTest(runner)
end

local function in_task() return (pcall(luds.sleep, 0)) end

-- T.run([luaunit args...]) -> the number of tests that did not pass (luaunit's
-- LuaUnit.run, the command line's arguments by default): os.exit(T.run()).
function T.run(...)
  if not in_task() then
    local args = table.pack(...)
    local ok, n = luds.run(function() return T.run(table.unpack(args, 1, args.n)) end)
    if not ok then error(n, 0) end
    return n
  end
  local runner = lu().LuaUnit.new()
  runner.protectedCall = protected_call
  runner.startTest = start_test
  runner.endTest = end_test
  local n = runner:runSuite(...)
  local errors = run_cleanups(outer)
  for _, e in ipairs(errors) do io.stderr:write("luds.test: a cleanup failed: ", e, "\n") end
  return n + #errors
end

-- T.main(args) -> exit status: the `luds test` runner (luds.testrunner).
function T.main(args) return require("luds.testrunner").main(args) end

return T
