-- luds.test and `luds test`: users' spec files, written into a temp dir, run
-- by the runner as a user would; exact counts, messages and exit statuses.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local luds = require "luds"
local lu = require "luaunit"
local H = require "helper"
local T = require "luds.test"

local LUDS_PATH = H.sh("readlink -f " .. H.q(H.LUDS)):match("^(.-)\n$") -- absolute

TestRunner = H.suite()

local HEAD = [[
local luds = require "luds"
local lu = require "luaunit"
local T = require "luds.test"
]]

-- Writes a spec file called name into dir with the body after HEAD.
local function spec(dir, name, body)
  H.spit(dir .. "/" .. name, HEAD .. body .. "\nos.exit(T.run())\n")
  return dir .. "/" .. name
end

local function luds_test(args)
  return H.exec(H.q(H.LUDS) .. " test " .. args)
end

function TestRunner:test_counts_and_exit_status()
  spec(self.dir, "a_spec.lua", [[
TestA = {}
function TestA:test_one() lu.assertEquals(1, 1) end
function TestA:test_two() lu.assertEquals(1, 2) end
]])
  os.execute("mkdir " .. H.q(self.dir .. "/sub"))
  spec(self.dir, "sub/b_spec.lua", "TestB = {}\nfunction TestB:test_b() end\n")
  H.spit(self.dir .. "/helper.lua", "error('not a spec')")
  local out, err, status = luds_test(H.q(self.dir))
  lu.assertEquals(err, "")
  lu.assertEquals(status, 1)
  lu.assertStrContains(out, "== " .. self.dir .. "/a_spec.lua\n")
  lu.assertStrContains(out, "== " .. self.dir .. "/sub/b_spec.lua\n")
  lu.assertStrContains(out, "expected: 2, actual: 1")
  lu.assertStrMatches(out, ".*\n2 passed, 1 failed\n$")
  out, err, status = luds_test(H.q(self.dir .. "/sub"))
  lu.assertEquals({ status, err }, { 0, "" })
  lu.assertStrMatches(out, ".*\n1 passed, 0 failed\n$")
end

function TestRunner:test_a_task_failing_in_the_background_fails_its_test()
  spec(self.dir, "bg_spec.lua", [[
TestBg = {}
function TestBg:test_handler_raises()
  local ln = assert(luds.listen("unix", T.tempdir() .. "/s.sock"))
  luds.spawn(function()
    local c = ln:accept()
    error("handler exploded on " .. tostring(c ~= nil))
  end)
  local c <close> = assert(luds.dial("unix", ln:addr()))
  luds.sleep(0.05)
end
function TestBg:test_next_one_passes() end
]])
  local out, _, status = luds_test(H.q(self.dir))
  lu.assertEquals(status, 1)
  lu.assertStrContains(out, "1) TestBg.test_handler_raises\na task failed in the background:\n"
    .. self.dir .. "/bg_spec.lua:9: handler exploded on true\nstack traceback:\n")
  lu.assertStrMatches(out, ".*\n1 passed, 1 failed\n$")
end

function TestRunner:test_timeouts_leftovers_and_temp_dirs()
  spec(self.dir, "t_spec.lua", [[
TestT = {}
function TestT:test_1_hangs() luds.sleep(100) end
function TestT:test_2_leaves_a_task() _G.left = luds.spawn(luds.sleep, 100) _G.dir = T.tempdir() end
function TestT:test_3_it_was_cancelled()
  lu.assertEquals(_G.left:status(), "cancelled")
  lu.assertNil(io.open(_G.dir))
end
function TestT:test_4_extends_its_time() T.timeout(5) luds.sleep(0.4) end
function TestT:test_5_fails_after_making_a_dir()
  _G.dir = T.tempdir()
  error("on purpose")
end
function TestT:test_6_the_dir_went_anyway() lu.assertNil(io.open(_G.dir)) end
]])
  local t0 = luds.now()
  local out, _, status = luds_test("-t 0.3 " .. H.q(self.dir))
  lu.assertEquals(status, 1)
  lu.assertStrContains(out, "TestT.test_1_hangs timed out after 0.3 s")
  lu.assertStrContains(out, "t_spec.lua:14: on purpose")
  lu.assertStrMatches(out, ".*\n4 passed, 2 failed\n$")
  lu.assertTrue(luds.now() - t0 < 20)
end

function TestRunner:test_a_crash_fails_the_file_not_the_run()
  spec(self.dir, "a_spec.lua", "TestA = {}\nfunction TestA:test_dies() luds.exit(7) end\n")
  spec(self.dir, "b_spec.lua", "TestB = {}\nfunction TestB:test_hangs_outside() end\nluds.sleep(100)\n")
  spec(self.dir, "c_spec.lua", "TestC = {}\nfunction TestC:test_fine() end\n")
  local out, _, status = luds_test("--file-timeout 1 " .. H.q(self.dir))
  lu.assertEquals(status, 1)
  lu.assertStrContains(out, "-- " .. self.dir .. "/a_spec.lua: no luaunit summary (exit 7)\n")
  lu.assertStrContains(out, "-- " .. self.dir .. "/b_spec.lua: no luaunit summary (exit 124, ran over 1 s)\n")
  lu.assertStrMatches(out, ".*\n1 passed, 2 failed\n$")
end

function TestRunner:test_filters_and_outputs_pass_through()
  spec(self.dir, "f_spec.lua", [[
TestF = {}
function TestF:test_alpha() end
function TestF:test_beta() end
function TestF:test_gamma() end
]])
  local out, _, status = luds_test("-p alpha -p gamma " .. H.q(self.dir))
  lu.assertEquals(status, 0)
  lu.assertStrContains(out, "Ran 2 tests in ")
  lu.assertStrMatches(out, ".*\n2 passed, 0 failed\n$")
  out = luds_test("-x beta -o tap " .. H.q(self.dir))
  lu.assertStrContains(out, "1..2\n# Started on ")
  lu.assertStrContains(out, "ok     1\tTestF.test_alpha\nok     2\tTestF.test_gamma\n")
  lu.assertStrMatches(out, ".*\n2 passed, 0 failed\n$")
  out, _, status = luds_test("-o junit -n " .. H.q(self.dir .. "/report") .. " " .. H.q(self.dir))
  lu.assertEquals(status, 0)
  lu.assertStrContains(H.slurp(self.dir .. "/report.f_spec.xml"), '<testsuite name="LuaUnit"')
end

function TestRunner:test_bad_command_lines()
  local out, err, status = luds_test("--bogus")
  lu.assertEquals({ out, status }, { "", 2 })
  lu.assertStrMatches(err, "^luds test: unknown option: %-%-bogus\nusage: luds test .*")
  out, err, status = luds_test(H.q(self.dir .. "/missing"))
  lu.assertEquals({ out, err, status },
    { "", "luds test: no such file or directory: " .. self.dir .. "/missing\n", 2 })
  out, err, status = luds_test("-t 0")
  lu.assertEquals({ err, status }, { "luds test: option -t needs a positive number\n" .. err:match("usage:.*"), 2 })
  out, err, status = luds_test("-o junit")
  lu.assertEquals(status, 2)
  lu.assertStrContains(err, "luds test: junit output needs -n FILE\n")
  out, err, status = luds_test("-h")
  lu.assertEquals({ err, status }, { "", 0 })
  lu.assertStrMatches(out, "^usage: luds test %[options%] %[path%.%.%.%]\n.*")
end

-- README's example, as printed there, passes (and fails when it should).
function TestRunner:test_readme_example()
  local readme = H.slurp(H.ROOT .. "/README.md")
  local example = readme:match("\n```lua\n(local luds = require \"luds\"\nlocal lu = require \"luaunit\"\nlocal T = require \"luds.test\".-)```")
  lu.assertNotNil(example)
  H.spit(self.dir .. "/echo_spec.lua", example)
  local out, _, status = luds_test(H.q(self.dir))
  lu.assertEquals(status, 0, out)
  lu.assertStrMatches(out, ".*\n1 passed, 0 failed\n$")
  H.spit(self.dir .. "/echo_spec.lua", (example:gsub('"hello"%)', '"bye")')))
  out, _, status = luds_test(H.q(self.dir))
  lu.assertEquals(status, 1, out)
  lu.assertStrContains(out, 'expected: "bye"\nactual: "hello"')
end

-- The same runner and spec file on a stock lua5.4 with the module.
function TestRunner:test_stock_lua()
  spec(self.dir, "s_spec.lua", [[
TestS = {}
function TestS:test_sleeps_in_a_task() luds.sleep(0.01) end
function TestS:test_background() luds.spawn(error, "bg") luds.sleep(0.01) end
function TestS:test_a_script_runs_on_luds_from_path()
  local c = assert(T.start({ "-e", "print(require('luds').now() > 0)" }, { lua = true }))
  lu.assertEquals({ c:wait(5), c:output(), c.argv[1] }, { 0, "true\n", "luds" })
end
]])
  os.execute(("mkdir %s && ln -s %s %s"):format(H.q(self.dir .. "/bin"), H.q(LUDS_PATH),
    H.q(self.dir .. "/bin/luds")))
  local paths = ("PATH=%s:\"$PATH\" LUA_CPATH=%s LUA_PATH=%s"):format(H.q(self.dir .. "/bin"),
    H.q(H.ROOT .. "/build/?.so;;"), H.q(H.ROOT .. "/lua/?.lua;;"))
  local out, _, status = H.exec(("env %s lua5.4 -e %s"):format(paths,
    H.q(("os.exit(require('luds.test').main({ %q }))"):format(self.dir))))
  lu.assertEquals(status, 1)
  lu.assertStrContains(out, "a task failed in the background:\nbg\n")
  lu.assertStrMatches(out, ".*\n2 passed, 1 failed\n$")
end

TestHelpers = H.suite()

function TestHelpers:test_assert_error()
  local ln = assert(luds.listen("unix", self.dir .. "/a.sock"))
  ln:close()
  lu.assertEquals(T.assert_error("CLOSED", ln.accept, ln), select(2, ln:accept()))
  H.assert_raises({ "wrong code" }, T.assert_error, "EOF", ln.accept, ln)
  H.assert_raises({ "expected the nil, message, code triple" }, T.assert_error, "EOF",
    function() return 1 end)
  lu.assertStrContains(T.assert_raises("boom", error, "a boom here"), "a boom here")
  H.assert_raises({ "expected a Lua error" }, T.assert_raises, "x", function() end)
end

function TestHelpers:test_wait_for_free_port_and_pair()
  H.run(function()
    local n = 0
    lu.assertEquals(T.wait_for(function() n = n + 1 return n == 3 and "three" end, 1), "three")
    H.assert_raises({ "timed out after 0.05 s waiting for the moon" }, T.wait_for,
      function() return false end, 0.05, "the moon")
    local port = T.free_port()
    local ln = assert(luds.listen("tcp", "127.0.0.1:" .. port))
    ln:close()
    for _, net in ipairs({ "unix", "unixpacket", "tcp" }) do
      local a, b = T.pair(net)
      assert(a:write("x" .. net))
      lu.assertEquals(b:read(), "x" .. net)
    end
    H.assert_raises({ "unix, unixpacket or tcp expected" }, T.pair, "udp")
  end)
end

TestStart = H.suite()

local function pid_gone(pid) return io.open("/proc/" .. pid .. "/stat") == nil end

function TestStart:test_output_is_captured_exactly_and_in_order()
  local c = assert(T.start({ "sh", "-c", "printf 'a\\n'; read x; printf 'b\\n' >&2; read x; printf c" },
    { stdin = "pipe" }))
  T.wait_for(function() return c:output() == "a\n" end, 5, "a")
  assert(c.stdin:write("\n"))
  T.wait_for(function() return c:output() == "a\nb\n" end, 5, "b")
  assert(c.stdin:write("\n"))
  lu.assertEquals(c:wait(5), 0)
  lu.assertEquals({ c:stdout(), c:stderr(), c:output() }, { "a\nc", "b\n", "a\nb\nc" })
  lu.assertEquals(c.argv, { "sh", "-c", "printf 'a\\n'; read x; printf 'b\\n' >&2; read x; printf c" })
  lu.assertTrue(pid_gone(c.pid))
  lu.assertEquals(c:stop(), 0) -- stopping an ended child gives its status again
end

-- 400,000 bytes on each pipe, more than either holds: both are read as they
-- come, so the child never blocks on the one nobody reads.
function TestStart:test_both_pipes_drain_concurrently()
  local c = assert(T.start({ "sh", "-c", "yes a | head -c 400000 && yes b | head -c 400000 >&2 &&"
    .. " yes c | head -c 400000; exit 7" }))
  lu.assertEquals(c:wait(10), 7)
  lu.assertEquals(c:stdout(), ("a\n"):rep(200000) .. ("c\n"):rep(200000))
  lu.assertEquals(c:stderr(), ("b\n"):rep(200000))
end

local SERVER = [[
local luds = require "luds"
local ln = assert(luds.listen("unix", arg[1]))
print("listening on " .. ln:addr())
io.stdout:flush()
luds.serve(ln, function(c) c:write(c:read_line():upper() .. "\n") end)
]]

function TestStart:test_a_script_runs_on_this_luds_until_ready()
  local script, path = self.dir .. "/server.lua", self.dir .. "/s.sock"
  H.spit(script, SERVER)
  for _, opts in ipairs({ { ready = "^listening on " }, { ready_path = path } }) do
    local c = assert(T.start({ script, path }, opts))
    lu.assertEquals(c.argv, { LUDS_PATH, script, path })
    local conn <close> = assert(luds.dial("unix", path))
    assert(conn:write("hi\n"))
    lu.assertEquals(conn:read_line(), "HI")
    lu.assertEquals({ c:stop() }, { 143 }) -- luds's own exit status after SIGTERM
    lu.assertEquals(c:output(), "listening on " .. path .. "\n") -- read to the end by stop
    lu.assertTrue(pid_gone(c.pid))
    lu.assertFalse(H.exists(path)) -- TERM closed the listener, which removed its file
  end
  local c = assert(T.start({ "-e", H.arg_chunk("x y"), "-e", "print(arg[1])" }, { lua = true }))
  lu.assertEquals({ c:wait(5), c:output() }, { 0, "x y\n" })
end

-- The socket file appears at bind, before listen: ready_path waits for the
-- listen (the child binds, then listens once "go" comes on its stdin).
function TestStart:test_ready_path_waits_for_a_listening_socket()
  local path = self.dir .. "/late.sock"
  local ours, theirs = T.pair()
  local sent = false
  luds.spawn(function()
    T.wait_for(function() return luds.stat(path) end, 5, "the bind")
    luds.sleep(0.2) -- time for a T.start that took the bind for ready to return
    sent = true
    assert(ours:write("go\n"))
  end)
  local c = assert(T.start({ "python3", "-c", "import socket,sys\ns=socket.socket(socket.AF_UNIX)\n"
    .. "s.bind(sys.argv[1])\nsys.stdin.readline()\ns.listen()\nprint('listening', flush=True)\n"
    .. "sys.stdin.readline()", path }, { stdin = theirs, ready_path = path }))
  lu.assertTrue(sent)
  local conn <close> = assert(luds.dial("unix", path))
  assert(ours:write("\n"))
  lu.assertEquals({ c:wait(5), c:output() }, { 0, "listening\n" })
end

function TestStart:test_kill_and_stop()
  local c = assert(T.start({ "sleep", "100" }))
  lu.assertTrue(c:kill("INT"))
  lu.assertEquals({ c:wait(5) }, { nil, "wait sleep " .. c.pid .. ": killed by signal 2 (INT)",
    "SIGNALED", 2 })
  T.assert_error("ESRCH", c.kill, c)
  local t0 = luds.now()
  c = assert(T.start({ "sh", "-c", "trap '' TERM; echo up; exec sleep 100" }, { ready = "up" }))
  lu.assertEquals({ c:stop(0.2) }, { nil, "wait sh " .. c.pid .. ": killed by signal 9 (KILL)",
    "SIGNALED", 9 })
  lu.assertTrue(luds.now() - t0 < 5)
  lu.assertTrue(pid_gone(c.pid))
end

function TestStart:test_missing_programs_and_scripts()
  if H.valgrind() then lu.skip("valgrind forks where posix_spawn vforks: no exec failure to see") end
  lu.assertEquals(T.assert_error("ENOENT", T.start, { self.dir .. "/nope" }),
    "exec " .. self.dir .. "/nope: no such file or directory")
  lu.assertEquals(T.assert_error("ENOENT", T.start, self.dir .. "/nope.lua"),
    "start " .. self.dir .. "/nope.lua: no such file or directory")
  lu.assertEquals(T.assert_error("ENOENT", T.start, { "nope.lua" }, { luds = self.dir .. "/luds" }),
    "start nope.lua: no such file or directory")
  H.spit(self.dir .. "/s.lua", "print(1)")
  local c = assert(T.start({ "s.lua" }, { cwd = self.dir })) -- there, seen from its cwd
  lu.assertEquals({ c:wait(5), c:output() }, { 0, "1\n" })
  lu.assertEquals(T.assert_error("ENOENT", T.start, { self.dir .. "/s.lua" }, { luds = self.dir .. "/luds" }),
    "exec " .. self.dir .. "/luds: no such file or directory")
  lu.assertEquals(H.ls(self.dir), "s.lua")
end

function TestStart:test_a_child_that_is_never_ready_fails_with_its_output()
  local t0 = luds.now()
  local ok, err = pcall(T.start, { "sh", "-c", "echo starting; echo oops >&2; exec sleep 100" },
    { ready = "^ready", ready_timeout = 0.3 })
  lu.assertFalse(ok)
  local pid = tonumber(tostring(err):match("%(pid (%d+)%)"))
  lu.assertStrContains(tostring(err), lu.FAILURE_PREFIX
    .. "sh -c echo starting; echo oops >&2; exec sleep 100 (pid " .. pid .. ") was not ready after"
    .. " 0.3 s waiting for output matching \"^ready\"; its output:\n")
  local output = tostring(err):match("its output:\n(.*)$")
  lu.assertTrue(output == "starting\noops\n" or output == "oops\nstarting\n", output)
  lu.assertTrue(luds.now() - t0 < 5)
  lu.assertTrue(pid_gone(pid)) -- stopped and reaped before the failure
  ok, err = pcall(T.start, { "sh", "-c", "echo bye; exit 3" }, { ready_path = self.dir .. "/never" })
  lu.assertFalse(ok)
  lu.assertStrContains(tostring(err), " ended (exit status 3) waiting for a file at " .. self.dir
    .. "/never; its output:\nbye\n")
end

function TestStart:test_bad_arguments_raise()
  T.assert_raises("bad argument #1 to 'start' (argv list or script path expected)", T.start, {})
  T.assert_raises("bad argument #1 to 'start' (argv list or script path expected)", T.start, 42)
  T.assert_raises("bad argument #2 to 'start' (unknown option 'bogus'; accepted: cwd, env, grace, lua,"
    .. " luds, ready, ready_path, ready_timeout, stdin)", T.start, { "true" }, { bogus = 1 })
  T.assert_raises("option 'grace' must be a positive number of seconds", T.start, { "true" }, { grace = 0 })
  T.assert_raises("option 'ready' must be a string", T.start, { "true" }, { ready = 1 })
  T.assert_raises("bad argument #2 to 'start' (table expected, got string)", T.start, { "true" }, "x")
end

-- A test that fails, and one that runs out of time, still have their
-- children stopped and reaped: no process and no zombie is left.
function TestStart:test_children_are_reaped_when_a_test_fails_or_times_out()
  spec(self.dir, "r_spec.lua", [[
TestR = {}
function TestR:test_1_fails()
  _G.pids = { assert(T.start({ "sleep", "100" })).pid }
  error("on purpose")
end
function TestR:test_2_times_out()
  local c = assert(T.start({ "sh", "-c", "trap '' TERM; echo up; exec sleep 100" },
    { ready = "up", grace = 0.2 }))
  _G.pids[2] = c.pid
  luds.sleep(100)
end
function TestR:test_3_both_are_gone()
  for _, pid in ipairs(_G.pids) do lu.assertNil(io.open("/proc/" .. pid .. "/stat"), pid) end
  print("pids " .. table.concat(_G.pids, " "))
end
]])
  local out, _, status = luds_test("-t 1 " .. H.q(self.dir))
  lu.assertEquals(status, 1)
  lu.assertStrContains(out, "r_spec.lua:7: on purpose")
  lu.assertStrContains(out, "TestR.test_2_times_out timed out after 1 s")
  lu.assertStrMatches(out, ".*\n1 passed, 2 failed\n$")
  local a, b = out:match("pids (%d+) (%d+)\n")
  lu.assertTrue(pid_gone(a) and pid_gone(b))
end

-- doc/testing.md's spec for one's own server, under 20 lines, run by `luds
-- test` from the project's directory: it passes, and fails when the handler
-- raises.
local MY_SERVER = [[
local luds = require "luds"
local ln = assert(luds.listen("unix", arg[1]))
luds.serve(ln, function(c)
  local line = assert(c:read_line())
  c:write(line:upper() .. "\n")
end)
]]

local MY_SERVER_SPEC = [[
local luds = require "luds"
local lu = require "luaunit"
local T = require "luds.test"

TestMyServer = {}

function TestMyServer:test_answers_a_line()
  local path = T.tempdir() .. "/my.sock"
  local server = assert(T.start({ "my_server.lua", path }, { ready_path = path }))
  local c <close> = assert(luds.dial("unix", path))
  assert(c:write("hello\n"))
  lu.assertEquals(c:read_line(), "HELLO")
  lu.assertEquals(server:stderr(), "")
end -- the server is stopped (TERM, then KILL) and reaped here

os.exit(T.run())
]]

function TestStart:test_a_server_spec_in_under_20_lines()
  lu.assertTrue(select(2, MY_SERVER_SPEC:gsub("\n", "")) < 20)
  os.execute("mkdir " .. H.q(self.dir .. "/spec"))
  H.spit(self.dir .. "/spec/my_server_spec.lua", MY_SERVER_SPEC)
  H.spit(self.dir .. "/my_server.lua", MY_SERVER)
  local function run()
    local c = assert(T.start({ LUDS_PATH, "test" }, { cwd = self.dir }))
    local status = c:wait(60)
    return c:stdout(), c:stderr(), status
  end
  local out, err, status = run()
  lu.assertEquals({ err, status }, { "", 0 }, out)
  lu.assertStrMatches(out, "^== spec/my_server_spec.lua\n.*\nRan 1 tests in [%d.]+ seconds,"
    .. " 1 success, 0 failures\nOK\n1 passed, 0 failed\n$")
  H.spit(self.dir .. "/my_server.lua",
    (MY_SERVER:gsub("local line = ", "error('the handler broke') local line = ")))
  out, err, status = run()
  lu.assertEquals({ err, status }, { "", 1 }, out)
  lu.assertStrContains(out, "1) TestMyServer.test_answers_a_line\n")
  lu.assertStrMatches(out, ".*\n0 passed, 1 failed\n$")
end

-- doc/testing.md prints that spec and that server as they are here.
function TestStart:test_the_doc_prints_the_server_spec()
  local doc = H.slurp(H.ROOT .. "/doc/testing.md")
  lu.assertStrContains(doc, "\n```lua\n" .. MY_SERVER_SPEC .. "```\n")
  lu.assertStrContains(doc, "\n```lua\n" .. MY_SERVER .. "```\n")
end

os.exit(T.run())
