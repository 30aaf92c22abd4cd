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

-- Child processes (T.start). Each child's stdout and stderr are read by a
-- task of their own as the data comes, so a child filling one pipe while the
-- test reads the other (or nothing) never stalls; the child is stopped and
-- reaped when the test ends.
local START_OPTIONS = { "cwd", "env", "grace", "lua", "luds", "ready", "ready_path",
  "ready_timeout", "stdin" }
local start_accepted = {}
for _, k in ipairs(START_OPTIONS) do start_accepted[k] = true end

T.GRACE = 5 -- seconds a child has between TERM and KILL in stop()
T.READY_TIMEOUT = 10 -- seconds T.start waits for opts.ready / opts.ready_path

local CHUNK = 64 * 1024

local function start_error(n, why) error(("bad argument #%d to 'start' (%s)"):format(n, why), 3) end

local function check_start(what, opts)
  if type(what) == "string" then what = { what } end
  if type(what) ~= "table" or type(what[1]) ~= "string" then
    start_error(1, "argv list or script path expected")
  end
  opts = opts or {}
  if type(opts) ~= "table" then start_error(2, "table expected, got " .. type(opts)) end
  for k in next, opts do
    if not start_accepted[k] then
      start_error(2, ("unknown option '%s'; accepted: %s"):format(tostring(k),
        table.concat(START_OPTIONS, ", ")))
    end
  end
  for _, k in ipairs({ "grace", "ready_timeout" }) do
    local v = opts[k]
    if v ~= nil and (type(v) ~= "number" or not (v > 0)) then
      start_error(2, ("option '%s' must be a positive number of seconds"):format(k))
    end
  end
  for _, k in ipairs({ "ready", "ready_path", "luds" }) do
    if opts[k] ~= nil and type(opts[k]) ~= "string" then
      start_error(2, ("option '%s' must be a string"):format(k))
    end
  end
  return what, opts
end

-- Whether this process has the loadable module luds.so mapped: luds runs
-- inside another interpreter (a stock lua5.4), not in its own binary.
local function in_foreign_interpreter()
  local f = io.open("/proc/self/maps")
  if not f then return true end
  local found = false
  for line in f:lines() do found = found or line:find("/luds%.so$") ~= nil end
  f:close()
  return found
end

-- The luds binary that runs scripts: opts.luds, else this process's own
-- binary when the luds runtime is linked into it (`luds test`), else `luds`
-- from PATH (a stock lua5.4 with luds.so).
-- This binary: as the command line named it (arg's lowest index) when that
-- is a path, made absolute (under valgrind /proc/PID/exe is valgrind's
-- tool, not luds), else /proc/PID/exe.
local function this_binary()
  local i = -1
  while arg and arg[i - 1] ~= nil do i = i - 1 end
  local name = arg and arg[i]
  if type(name) == "string" and name:find("/", 1, true) then
    local abs = sh("readlink -f " .. q(name)):match("^(.-)\n$")
    if abs and abs ~= "" then return abs end
  end
  local f = assert(io.open("/proc/self/stat"))
  local pid = f:read("a"):match("^(%d+)")
  f:close()
  return sh("readlink /proc/" .. pid .. "/exe"):match("^(.-)\n$") or false
end

local own_binary
local function luds_binary(opts)
  if opts.luds then return opts.luds end
  if own_binary == nil then
    own_binary = not in_foreign_interpreter() and this_binary()
  end
  return own_binary or "luds"
end

-- The argv to exec: a script (argv[1] ends in .lua, or opts.lua) runs on
-- luds; a script file that is not there (seen from here: not relative to
-- another cwd) is ENOENT.
local function exec_argv(what, opts)
  local script = opts.lua
  if script == nil then script = what[1]:match("%.lua$") ~= nil end
  if not script then return { table.unpack(what) } end
  local name = what[1]
  local f = name:sub(1, 1) ~= "-" and (opts.cwd == nil or name:sub(1, 1) == "/") and io.open(name)
  if f then f:close() elseif f == nil then
    return nil, ("start %s: no such file or directory"):format(what[1]), "ENOENT"
  end
  return { luds_binary(opts), table.unpack(what) }
end

-- Appends what conn gives to own and all until it ends or is closed.
local function capture(conn, own, all)
  while true do
    local data = conn:read(CHUNK)
    if not data then return end
    own[#own + 1] = data
    all[#all + 1] = data
  end
end

local Child = {}
-- A child's own state: { grace, out, err, all (the parts read), readers, pipes }.
local state = setmetatable({}, { __mode = "k" })

-- Waits, until deadline, for the readers to see the end of both streams.
local function drain(child, deadline)
  for _, t in ipairs(state[child].readers) do t:wait(math.max(0, deadline - luds.now())) end
end

-- child:output() -> stdout and stderr so far, interleaved as they came.
function Child.output(child) return table.concat(state[child].all) end
-- child:stdout() / child:stderr() -> what the child wrote there so far.
function Child.stdout(child) return table.concat(state[child].out) end
function Child.stderr(child) return table.concat(state[child].err) end

-- child:wait([timeout]) -> what process:wait gives; once the child ended,
-- its output is read to the end (for at most grace seconds more: a
-- grandchild may hold the pipes).
function Child.wait(child, timeout)
  local r = table.pack(child.process:wait(timeout))
  if r[3] ~= "TIMEOUT" then drain(child, luds.now() + state[child].grace) end
  return table.unpack(r, 1, r.n)
end

-- child:kill([sig]) -> process:kill(sig): TERM by default.
function Child.kill(child, sig) return child.process:kill(sig) end

-- child:stop([grace]) -> child:wait()'s result: TERM, KILL if it is still
-- running grace seconds later, reaped, its output read, its pipes closed.
function Child.stop(child, grace)
  local s = state[child]
  grace = grace or s.grace
  local p = child.process
  local r = table.pack(p:wait(0))
  if r[3] == "TIMEOUT" then
    p:kill("TERM")
    r = table.pack(p:wait(grace))
    if r[3] == "TIMEOUT" then
      p:kill("KILL")
      r = table.pack(p:wait(grace))
    end
  end
  drain(child, luds.now() + grace)
  for _, conn in ipairs(s.pipes) do conn:close() end
  return table.unpack(r, 1, r.n)
end

local function describe(child) return ("%s (pid %d)"):format(table.concat(child.argv, " "), child.pid) end

-- Whether something is at path: a socket file only once a socket listens
-- there (stream, seqpacket) or is bound there (datagram), as /proc/net/unix
-- shows (the file appears at bind, before listen).
local function bound(path)
  local st = luds.stat(path)
  if not st then return false end
  if st.type ~= "socket" then return true end
  local f = io.open("/proc/net/unix")
  if not f then return true end
  local found = false
  for line in f:lines() do
    local flags, kind, at = line:match("^%x+: %x+ %x+ (%x+) (%x+) %x+ +%d+ (.*)$")
    if at == path and (kind == "0002" or tonumber(flags, 16) & 0x10000 ~= 0) then found = true end
  end
  f:close()
  return found
end

local function is_ready(child, opts)
  if opts.ready and not child:output():find(opts.ready) then return false end
  return not opts.ready_path or bound(opts.ready_path)
end

local function waiting_for(opts)
  local w = {}
  if opts.ready then w[#w + 1] = ("output matching %q"):format(opts.ready) end
  if opts.ready_path then w[#w + 1] = ("a file at %s"):format(opts.ready_path) end
  return table.concat(w, " and ")
end

-- Polls every 10 ms until child is ready; fails the test (after stopping
-- the child) when it ends first or the time runs out.
local function await_ready(child, opts)
  local limit = opts.ready_timeout or T.READY_TIMEOUT
  local deadline = luds.now() + limit
  while not is_ready(child, opts) do
    local status, msg, code = child.process:wait(0)
    local why
    if code ~= "TIMEOUT" then
      drain(child, luds.now() + state[child].grace)
      why = "ended (" .. (status and "exit status " .. status or msg) .. ")"
    elseif luds.now() >= deadline then
      child:stop()
      why = ("was not ready after %g s"):format(limit)
    end
    if why then
      lu().fail(("%s %s waiting for %s; its output:\n%s"):format(describe(child), why,
        waiting_for(opts), child:output()))
    end
    luds.sleep(0.01)
  end
end

-- T.start(argv [, opts]) -> a child | nil, msg, code (luds.exec's failures).
function T.start(argv, opts)
  local what
  what, opts = check_start(argv, opts)
  local msg, code
  argv, msg, code = exec_argv(what, opts)
  if not argv then return nil, msg, code end
  local p
  p, msg, code = luds.exec(argv, { cwd = opts.cwd, env = opts.env, stdin = opts.stdin or "null",
    stdout = "pipe", stderr = "pipe" })
  if not p then return nil, msg, code end
  local child = { pid = p.pid, argv = argv, process = p, stdin = p.stdin }
  for k, f in pairs(Child) do child[k] = f end
  local s = { grace = opts.grace or T.GRACE, out = {}, err = {}, all = {},
    pipes = { p.stdout, p.stderr, p.stdin } }
  s.readers = { luds.spawn(capture, p.stdout, s.out, s.all),
    luds.spawn(capture, p.stderr, s.err, s.all) }
  state[child] = s
  T.cleanup(function() child:stop() end)
  if opts.ready or opts.ready_path then await_ready(child, opts) end
  return child
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
