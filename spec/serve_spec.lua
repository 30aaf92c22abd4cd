-- Servers that stop gracefully (issue 13, item 8): luds.server's handle
-- counts and bounds its handlers (max_conns) and shuts down like Go's
-- http.Server.Shutdown; examples/http_unix.lua drains on SIGTERM.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

TestServer = H.suite()

-- A handler that echoes one line, then ends.
local function one_line(conn)
  local line = conn:read_line()
  if line then conn:write(line .. "\n") end
end

function TestServer:test_max_conns_bounds_the_handlers()
  H.run(function()
    local path = self.dir .. "/s.sock"
    local srv = luds.server(assert(luds.listen("unix", path)), one_line, { max_conns = 2 })
    local serving = luds.spawn(srv.serve, srv)
    local c = {}
    for i = 1, 3 do c[i] = assert(luds.dial("unix", path)) end
    H.wait_for("two handlers", function() return srv:active() == 2 end)
    assert(c[3]:write("third\n"))
    c[3]:set_read_deadline(luds.now() + 0.05)
    H.assert_fails("TIMEOUT", nil, c[3]:read_line()) -- not accepted while two run
    assert(c[1]:write("first\n"))
    lu.assertEquals(c[1]:read_line(), "first")
    c[3]:set_read_deadline(luds.now() + 2)
    lu.assertEquals(c[3]:read_line(), "third") -- a permit came back: accepted
    lu.assertEquals(srv:active(), 1)
    lu.assertEquals({ srv:shutdown(0) }, { false, 1 })
    lu.assertEquals({ serving:wait(1) }, { true, true })
    lu.assertEquals({ c[2]:read() }, { nil, "EOF", "EOF" }) -- its handler was cancelled
  end)
end

-- shutdown: the listener closes (its file goes) at once; handlers that end
-- within the timeout end by themselves; the others are cancelled and their
-- <close> variables run.
function TestServer:test_shutdown_waits_then_cancels()
  H.run(function()
    local path = self.dir .. "/s.sock"
    local closed = 0
    local srv = luds.server(assert(luds.listen("unix", path)), function(conn)
      local _ <close> = setmetatable({}, { __close = function() closed = closed + 1 end })
      local line = conn:read_line()
      if line == "slow" then luds.sleep(3600) end
      conn:write("bye " .. tostring(line) .. "\n")
    end)
    local serving = luds.spawn(srv.serve, srv)
    local quick, stuck = assert(luds.dial("unix", path)), assert(luds.dial("unix", path))
    H.wait_for("two handlers", function() return srv:active() == 2 end)
    assert(stuck:write("slow\n"))
    local shut = luds.spawn(srv.shutdown, srv, 0.2)
    H.wait_for("the file to go", function() return not H.exists(path) end)
    H.assert_fails("ENOENT", nil, luds.dial("unix", path)) -- new connections are refused
    assert(quick:write("quick\n"))
    lu.assertEquals(quick:read_line(), "bye quick")
    lu.assertEquals({ shut:wait(2) }, { true, false, 1 })
    lu.assertEquals(closed, 2)
    lu.assertEquals(srv:active(), 0)
    lu.assertEquals({ stuck:read() }, { nil, "EOF", "EOF" })
    lu.assertEquals({ serving:wait(1) }, { true, true })
    lu.assertEquals({ srv:shutdown(1) }, { true }) -- again: nothing left
  end)
end

function TestServer:test_bad_options()
  H.run(function()
    local ln = assert(luds.listen("unix", self.dir .. "/s.sock"))
    H.assert_raises({ "bad argument #3 to 'server'", "unknown option 'max_con'", "accepted: max_conns" },
      luds.server, ln, one_line, { max_con = 2 })
    H.assert_raises({ "bad argument #3 to 'serve'", "unknown option 'max_con'" },
      luds.serve, ln, one_line, { max_con = 2 })
    for _, bad in ipairs({ 0, -1, 1.5, "2" }) do
      H.assert_raises({ "option 'max_conns' must be an integer of 1 or more" },
        luds.server, ln, one_line, { max_conns = bad })
    end
    H.assert_raises({ "option names must be strings, not number" }, luds.server, ln, one_line, { 5 })
    H.assert_raises({ "table expected, got string" }, luds.server, ln, one_line, "x")
    H.assert_raises({ "handler must be a function" }, luds.server, ln, nil)
  end)
end

TestHttpDrain = H.suite()

local EXAMPLE = H.ROOT .. "/examples/http_unix.lua"

function TestHttpDrain:start(drain)
  self.path = self.dir .. "/http.sock"
  self.server = H.start(("env HTTP_DRAIN_TIMEOUT=%s %s %s serve %s"):format(drain,
    H.q(H.LUDS), H.q(EXAMPLE), H.q(self.path)))
  H.wait_socket(self.path)
end

-- Reads one response head (up to the blank line) from conn.
local function head(conn)
  local lines = {}
  for _ = 1, 20 do
    local line = assert(conn:read_line())
    if line == "\r" then return table.concat(lines, "\n") end
    lines[#lines + 1] = line
  end
  error("no end of the response head")
end

-- A request in flight when TERM comes is answered (Connection: close), an
-- idle keep-alive connection is closed, new connections are refused, and the
-- server exits 0.
function TestHttpDrain:test_sigterm_drains_in_flight_requests()
  H.run(function()
    self:start(10)
    local idle = assert(luds.dial("unix", self.path))
    assert(idle:write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
    lu.assertStrContains(head(idle), "HTTP/1.1 200 OK")
    local busy = assert(luds.dial("unix", self.path))
    assert(busy:write("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"))
    lu.assertEquals(busy:read_line(), "HTTP/1.1 100 Continue\r") -- it is reading the body
    lu.assertEquals(busy:read_line(), "\r")
    os.execute("kill -TERM " .. self.server.pid)
    H.wait_for("the socket file to go", function() return not H.exists(self.path) end)
    H.assert_fails("ENOENT", nil, luds.dial("unix", self.path))
    idle:set_read_deadline(luds.now() + 5)
    H.read_all(idle) -- the drain closes it: the body of the first reply, then EOF
    assert(busy:write("hello"))
    local h = head(busy)
    lu.assertStrContains(h, "HTTP/1.1 200 OK")
    lu.assertStrContains(h, "Connection: close")
    lu.assertEquals(busy:read_full(5), "hello")
    lu.assertEquals({ busy:read() }, { nil, "EOF", "EOF" })
    lu.assertEquals(H.wait_exit(self.server), 0)
    lu.assertEquals(self.server:stderr(), "")
  end, 20)
end

-- A request that does not finish within the drain timeout is cancelled;
-- the server still exits 0.
function TestHttpDrain:test_drain_timeout_cancels_the_rest()
  H.run(function()
    self:start(0.3)
    local stuck = assert(luds.dial("unix", self.path))
    assert(stuck:write("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"))
    lu.assertEquals(stuck:read_line(), "HTTP/1.1 100 Continue\r")
    os.execute("kill -TERM " .. self.server.pid)
    lu.assertEquals(H.wait_exit(self.server), 0)
    stuck:set_read_deadline(luds.now() + 5)
    local rest, ending = H.read_all(stuck)
    lu.assertEquals(rest, "\r\n")
    lu.assertEquals(ending[3], "EOF")
  end, 20)
end

luds.exit(T.run())
