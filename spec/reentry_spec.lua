-- Lua code that runs inside the runtime's own calls: finalizers that a push
-- sets off (every push may run a GC step), a second task on the same conn,
-- a script that changes a socket's metatable. None may see or leave C state
-- half-updated (issue 12, items 2, 3, 4 and 6).
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

-- Objects whose finalizers run at the first allocation after `fire()`: in
-- generational mode a young collection runs all pending finalizers, and a
-- large string pushed by the runtime is what sets the collection off.
local armed
local function arm(count, fin)
  armed = {}
  for k = 1, count do armed[k] = setmetatable({}, { __gc = fin }) end
end
local function fire() armed = nil end -- assigning nil allocates nothing

local function eager_gc(fn)
  collectgarbage("generational", 1, 1000)
  local ok, err = pcall(fn)
  collectgarbage("incremental")
  collectgarbage()
  if not ok then error(err, 0) end
end

TestFinalizerInPush = H.suite()
TestFinalizerInPush.timeout = 120 -- luds.test's bound per test; H.run bounds each body below it

-- Finalizers that grow the scratch buffer (each recv_fds with a larger max
-- reallocates it, even when it then cannot wait) while a TRUNCATED result is
-- being built out of that buffer: a use-after-free before the fix. A pad of
-- random size before each read moves the collection onto every allocation
-- of the read in turn, the message and code included.
function TestFinalizerInPush:test_truncated_read_keeps_its_part()
  H.run(function()
    local a = assert(luds.listen_packet("unixgram", self.dir .. "/a.sock"))
    local c = assert(luds.dial("unixgram", self.dir .. "/a.sock"))
    local idle = select(2, H.pair(self.dir))
    local part, grow, ran = H.pattern(20000), 256 * 1024, 0
    eager_gc(function()
      for _ = 1, 2000 do
        assert(c:write(part .. "tail"))
        arm(2, function()
          grow, ran = grow + 1, ran + 1
          pcall(idle.recv_fds, idle, grow)
        end)
        local pad = ("p"):rep(math.random(0, 4000))
        fire()
        local v, msg, code, got = a:read(#part)
        lu.assertEquals({ v, code }, { nil, "TRUNCATED" })
        lu.assertStrContains(msg, "message truncated")
        if got ~= part then lu.fail("the part is not the message's head") end
        pad = nil
      end
    end)
    lu.assertTrue(ran > 0)
  end, 60)
end

-- Finalizers that read the same conn while read, read_line or read_full
-- hand out buffered bytes: every line comes out exactly once, whole.
local function check_lines(self, reader)
  H.run(function()
    local client, server = T.pair()
    local n, pad = 300, ("x"):rep(10000) -- long lines: each push sets a collection off
    luds.spawn(function()
      for i = 1, n do assert(client:write(("%05d%s\n"):format(i, pad))) end
      client:close()
    end)
    local seen, count = {}, 0
    local function note(line)
      lu.assertEquals(#line, 5 + #pad)
      local id = line:sub(1, 5)
      lu.assertNil(seen[id], "line " .. id .. " read twice")
      seen[id], count = true, count + 1
    end
    eager_gc(function()
      for _ = 1, 2 * n do
        arm(3, function()
          local line = server:read_line() -- only what is buffered: it cannot wait here
          if line then note(line) end
        end)
        fire()
        local line = reader(server)
        if not line then break end
        note(line)
      end
    end)
    lu.assertEquals(count, n)
    lu.assertEquals({ server:read() }, { nil, "EOF", "EOF" })
  end, 30)
end

function TestFinalizerInPush:test_read_line_offsets()
  check_lines(self, function(conn) return conn:read_line() end)
end

function TestFinalizerInPush:test_read_full_offsets()
  check_lines(self, function(conn)
    local line = conn:read_full(10006)
    return line and line:sub(1, -2)
  end)
end

TestOneReaderBuffered = H.suite()

-- One task waits in read_line (a partial line is buffered); another task's
-- read, read_full, read_line and recv_fds get BUSY, not the buffered bytes.
function TestOneReaderBuffered:test_buffered_reads_are_busy()
  H.run(function()
    local client, server = H.pair(self.dir)
    assert(client:write("partial"))
    local t = luds.spawn(function() return server:read_line() end)
    H.wait_parked(t)
    local busy = "read unix " .. self.dir .. "/pair.sock: another task is already waiting on this socket"
    H.assert_fails("BUSY", busy, server:read())
    H.assert_fails("BUSY", busy, server:read_full(3))
    H.assert_fails("BUSY", busy, server:read_line())
    H.assert_fails("BUSY", busy:gsub("^read", "recv_fds"), server:recv_fds())
    local sink = select(2, H.pair(self.dir, "sink.sock"))
    H.assert_fails("BUSY", busy, luds.copy(sink, server))
    assert(client:write(" line\nnext\n"))
    lu.assertEquals({ t:wait(2) }, { true, "partial line" })
    lu.assertEquals(server:read_line(), "next")
  end)
end

-- Closing the conn under a waiting read_line: the waiter sees CLOSED.
function TestOneReaderBuffered:test_close_while_read_line_waits()
  H.run(function()
    local client, server = T.pair()
    assert(client:write("no newline yet"))
    local t = luds.spawn(function() return server:read_line() end)
    H.wait_parked(t)
    server:close()
    local ok, v, msg, code = t:wait(2)
    lu.assertEquals({ ok, v, code }, { true, nil, "CLOSED" })
    lu.assertIsString(msg)
  end)
end

TestMetatable = H.suite()

-- tostring must not read what a script can change: the metatable's fields.
function TestMetatable:test_tostring_after_kind_changed()
  H.run(function()
    local path = self.dir .. "/k.sock"
    local ln = assert(luds.listen("unix", path))
    local c = assert(luds.dial("unix", path))
    local pc = assert(luds.listen_packet("unixgram", self.dir .. "/g.sock"))
    for _, v in ipairs({ 42, {}, false, print }) do
      getmetatable(ln).kind = v
      getmetatable(c).kind = v
      getmetatable(pc).kind = v
      lu.assertEquals(tostring(ln), "unix listener " .. path)
      lu.assertEquals(tostring(c), "unix conn -> " .. path)
      lu.assertEquals(tostring(pc), "unixgram packet conn " .. self.dir .. "/g.sock")
    end
    getmetatable(ln).kind, getmetatable(c).kind, getmetatable(pc).kind = nil, nil, nil
    lu.assertEquals(tostring(ln), "unix listener " .. path)
    getmetatable(ln).__name = 7 -- the type error names the class from C
    H.assert_raises({ "bad argument #1" }, ln.accept, "not a listener")
    getmetatable(ln).__name = "luds.listener"
    ln:close()
    lu.assertEquals(tostring(ln), "unix listener (closed)")
    lu.assertFalse(H.exists(path))
  end)
end

-- A method checks its receiver by the class fixed when the socket was made:
-- another kind of socket, another userdata, or a metatable swapped with
-- debug.setmetatable is refused; the socket itself still works.
function TestMetatable:test_receiver_class_is_fixed()
  H.run(function()
    local path = self.dir .. "/r.sock"
    local ln = assert(luds.listen("unix", path))
    local c = assert(luds.dial("unix", path))
    local s = assert(ln:accept())
    local pc = assert(luds.listen_packet("unixgram", self.dir .. "/g.sock"))
    local read, write, read_from = c.read, c.write, pc.read_from
    H.assert_raises({ "bad argument #1 to '?' (luds.conn expected, got luds.listener)" }, read, ln)
    H.assert_raises({ "bad argument #1 to '?' (luds.conn expected, got luds.packetconn)" }, write, pc, "x")
    H.assert_raises({ "bad argument #1 to '?' (luds.conn expected, got FILE*)" }, read, io.stdout)
    H.assert_raises({ "bad argument #1 to '?' (luds.conn expected, got no value)" }, read)
    local ch = luds.channel(1)
    for n = 0, 512 do -- whatever the size of a socket or a channel, a string of it is refused
      local str = ("x"):rep(n)
      H.assert_raises({ "bad argument #1 to '?' (luds.conn expected, got string)" }, read, str)
      H.assert_raises({ "bad argument #1 to '?' (luds.packetconn expected, got string)" }, read_from, str)
      H.assert_raises({ "bad argument #1 to '?' (luds.channel expected, got string)" }, ch.send, str, 1)
    end
    H.assert_raises({ "bad argument #1 to '?' (luds.packetconn expected, got luds.conn)" }, read_from, c)
    local conn_mt, ln_mt = getmetatable(c), getmetatable(ln)
    debug.setmetatable(ln, conn_mt) -- looks like a conn now, is still a listener
    H.assert_raises({ "bad argument #1 to '?' (luds.conn expected, got luds.listener)" }, read, ln)
    debug.setmetatable(s, {})
    lu.assertEquals(write(c, "abc"), 3)
    lu.assertEquals(read(s), "abc")
    debug.setmetatable(s, conn_mt)
    debug.setmetatable(ln, ln_mt)
    s:close(); c:close(); pc:close(); ln:close()
    lu.assertFalse(H.exists(path))
  end)
end

luds.exit(T.run())
