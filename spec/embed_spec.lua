-- The embedding host example (examples/embed/host.c, built by `make examples`):
-- a C program that drives luds from its own poll() loop and gives Lua a C
-- function of its own. Talks to its socket, then stops it with SIGTERM.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

local HOST = H.ROOT .. "/build/examples/host"
local SCRIPT = H.ROOT .. "/examples/embed/echo.lua"

TestEmbedHost = H.suite()

local function visit(path, n, payload)
  local c <close> = assert(luds.dial("unix", path))
  lu.assertEquals(c:read_line(), ("visit %d"):format(n))
  lu.assertEquals(c:write(payload), #payload)
  lu.assertEquals(c:read_full(#payload), payload)
end

function TestEmbedHost:test_host_serves_and_counts_in_c()
  H.run(function()
    local path = self.dir .. "/host.sock"
    local p = H.start(("%s %s %s"):format(H.q(HOST), H.q(SCRIPT), H.q(path)))
    H.wait_socket(path) -- this probe is visit 1
    visit(path, 2, "hello from a client")
    visit(path, 3, string.rep("\0\255", 50000))
    lu.assertEquals(H.stop(p, "TERM"), 143)
    lu.assertFalse(H.exists(path))
    lu.assertStrContains(p:stdout(), "host: done after 3 visits, exit code 143")
  end, 10)
end

function TestEmbedHost:test_missing_script_is_an_error_not_a_crash()
  H.run(function()
    local out, err, status = H.exec(("%s %s %s"):format(H.q(HOST), H.q(self.dir .. "/none.lua"),
      H.q(self.dir .. "/x.sock")))
    lu.assertEquals(out, "")
    lu.assertStrContains(err, "host: load: cannot open " .. self.dir .. "/none.lua")
    lu.assertEquals(status, 1)
  end)
end

function TestEmbedHost:test_script_error_gives_status_1()
  H.run(function()
    local script = self.dir .. "/raise.lua"
    H.spit(script, "error('no socket for you')\n")
    local _, err, status = H.exec(("%s %s %s"):format(H.q(HOST), H.q(script), H.q(self.dir .. "/x.sock")))
    lu.assertStrContains(err, "no socket for you")
    lu.assertStrContains(err, "stack traceback")
    lu.assertEquals(status, 1)
  end)
end

luds.exit(T.run())
