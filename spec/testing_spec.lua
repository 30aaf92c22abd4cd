-- luds.test and `luds test`: users' spec files, written into a temp dir, run
-- by the runner as a user would; exact counts, messages and exit statuses.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local luds = require "luds"
local lu = require "luaunit"
local H = require "helper"
local T = require "luds.test"

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
]])
  local paths = ("LUA_CPATH=%s LUA_PATH=%s"):format(H.q(H.ROOT .. "/build/?.so;;"),
    H.q(H.ROOT .. "/lua/?.lua;;"))
  local out, _, status = H.exec(("env %s lua5.4 -e %s"):format(paths,
    H.q(("os.exit(require('luds.test').main({ %q }))"):format(self.dir))))
  lu.assertEquals(status, 1)
  lu.assertStrContains(out, "a task failed in the background:\nbg\n")
  lu.assertStrMatches(out, ".*\n1 passed, 1 failed\n$")
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

os.exit(lu.LuaUnit.run())
