-- Every catchable signal (issue 13, item 9): HUP, QUIT, USR1, USR2 and ALRM,
-- unhandled, run the same cleanup as TERM (listeners closed, files removed,
-- exit 128 + n); WINCH, ignored by default, stays ignored; luds.on_signal
-- takes every one of them.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

TestEverySignal = H.suite()

local NUMBERS = { HUP = 1, INT = 2, QUIT = 3, USR1 = 10, USR2 = 12, ALRM = 14, TERM = 15, WINCH = 28 }

function TestEverySignal:test_unhandled_signals_clean_up()
  H.run(function()
    for _, sig in ipairs({ "HUP", "QUIT", "USR1", "USR2", "ALRM" }) do
      local path = ("%s/%s.sock"):format(self.dir, sig)
      local p = H.start_echo(path)
      lu.assertEquals(H.stop(p, sig), 128 + NUMBERS[sig], sig)
      lu.assertFalse(H.exists(path), sig .. " left the socket file")
      lu.assertEquals(p:stderr(), "", sig)
    end
  end, 30)
end

function TestEverySignal:test_winch_is_ignored()
  H.run(function()
    local path = self.dir .. "/w.sock"
    local p = H.start_echo(path)
    os.execute("kill -WINCH " .. p.pid)
    local c <close> = assert(luds.dial("unix", path)) -- still serving
    lu.assertEquals(c:write("after winch"), 11)
    lu.assertEquals(c:read_full(11), "after winch")
    lu.assertNil(H.exited(p))
    lu.assertEquals(H.stop(p, "TERM"), 143)
  end)
end

-- Each signal reaches its handler, as a task given the signal's name; the
-- script then exits by itself.
-- Each signal reaches its handler, as a task given the signal's name, which
-- prints it; TERM's handler closes the listener and the script ends (0).
local HANDLED = [[
local luds = require "luds"
for _, name in ipairs({ "HUP", "QUIT", "USR1", "USR2", "WINCH", "ALRM", "INT" }) do
  luds.on_signal(name, function(n) io.stdout:write(n, "\n") io.stdout:flush() end)
end
local ln = assert(luds.listen("unix", arg[1]))
luds.on_signal("TERM", function(n) io.stdout:write(n, "\n") ln:close() end)
io.stdout:write("ready\n")
io.stdout:flush()
luds.serve(ln, function() end)
]]

function TestEverySignal:test_handlers_get_every_signal()
  H.run(function()
    local script, path = self.dir .. "/h.lua", self.dir .. "/h.sock"
    H.spit(script, HANDLED)
    local p = H.start(("%s %s %s"):format(H.q(H.LUDS), H.q(script), H.q(path)))
    H.wait_for("the script", function() return p:stdout() == "ready\n" end)
    local want = "ready\n"
    for _, sig in ipairs({ "HUP", "QUIT", "USR1", "USR2", "WINCH", "ALRM", "INT" }) do
      os.execute(("kill -%s %d"):format(sig, p.pid))
      want = want .. sig .. "\n"
      H.wait_for(sig .. "'s handler", function() return p:stdout() == want end)
    end
    lu.assertEquals(H.stop(p, "TERM"), 0)
    lu.assertEquals(p:stdout(), want .. "TERM\n")
    lu.assertFalse(H.exists(path))
  end, 15)
end

function TestEverySignal:test_bad_names()
  H.run(function()
    for _, bad in ipairs({ "KILL", "STOP", "SIGHUP", "hup", "PIPE" }) do
      H.assert_raises({ "bad argument #1", "on_signal", "invalid option '" .. bad .. "'" },
        luds.on_signal, bad, function() end)
    end
    H.assert_raises({ "bad argument #2" }, luds.on_signal, "HUP", 42)
  end)
end

luds.exit(T.run())
