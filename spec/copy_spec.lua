-- luds.copy(dst, src): every byte from src to dst until src's EOF, over unix
-- and tcp; bytes read ahead by read_line go first; each side's deadline and
-- errors; bad arguments.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

TestCopy = H.suite()

-- Two connected pairs on network: a -> b and c -> d.
-- The four stay referenced here for the whole run: a test that drops one it
-- does not use (d, the peer that never reads) must not have the collector
-- close it under the copy.
local keep = {}

local function pairs_on(dir, network)
  local address = network == "unix" and dir .. "/copy.sock" or "127.0.0.1:0"
  local ln <close> = assert(luds.listen(network, address))
  local a = assert(luds.dial(network, ln:addr()))
  local b = assert(ln:accept())
  local c = assert(luds.dial(network, ln:addr()))
  local d = assert(ln:accept())
  keep[#keep + 1] = { a, b, c, d }
  return a, b, c, d
end

-- Reads conn to a clean end of stream; returns everything.
local function drain(conn)
  local data, ending = H.read_all(conn)
  lu.assertEquals(ending, { nil, "EOF", "EOF" })
  return data
end

-- A relay: a writes, copy moves b's bytes into c, d reads them all.
function TestCopy:test_relays_every_byte_on_each_network()
  for _, network in ipairs({ "unix", "tcp" }) do
    H.run(function()
      local a, b, c, d = pairs_on(self.dir, network)
      local data = H.pattern(3 * 1024 * 1024 + 17)
      local writer = luds.spawn(function()
        assert(a:write(data))
        return a:close_write()
      end)
      local copier = luds.spawn(function()
        local n, err = luds.copy(c, b)
        c:close_write()
        return n, err
      end)
      lu.assertEquals(#drain(d), #data)
      lu.assertEquals({ copier:wait(10) }, { true, #data })
      lu.assertEquals({ writer:wait(10) }, { true, true })
    end)
  end
end

-- Exactness, not just length: the bytes arrive in order and unchanged.
function TestCopy:test_bytes_are_exact()
  H.run(function()
    local a, b, c, d = pairs_on(self.dir, "unix")
    local data = H.pattern(200000)
    local copier = luds.spawn(luds.copy, c, b)
    assert(a:write(data))
    a:close()
    lu.assertEquals(d:read_full(#data), data)
    lu.assertEquals({ copier:wait(5) }, { true, #data })
  end)
end

-- What read_line buffered beyond the line is not lost: copy sends it first.
function TestCopy:test_bytes_read_ahead_go_first()
  H.run(function()
    local a, b, c, d = pairs_on(self.dir, "unix")
    assert(a:write("HEADER\nbody-1 body-2"))
    lu.assertEquals(b:read_line(), "HEADER")
    local copier = luds.spawn(luds.copy, c, b)
    assert(a:write(" body-3"))
    a:close()
    lu.assertEquals(d:read_full(20), "body-1 body-2 body-3")
    lu.assertEquals({ copier:wait(5) }, { true, 20 })
  end)
end

-- An empty source: 0 bytes, at once.
function TestCopy:test_empty_source()
  H.run(function()
    local a, b, c = pairs_on(self.dir, "unix")
    a:close()
    lu.assertEquals(luds.copy(c, b), 0)
  end)
end

-- The source's read deadline ends a copy that waits for input (a deadline
-- set while it waits applies too); what was copied before is the fourth
-- value.
function TestCopy:test_read_deadline()
  H.run(function()
    local a, b, c, d = pairs_on(self.dir, "unix")
    local timeout = "read unix " .. self.dir .. "/copy.sock: i/o timeout"
    assert(a:write("12345"))
    local copier = luds.spawn(luds.copy, c, b)
    lu.assertEquals(d:read_full(5), "12345")
    H.wait_parked(copier)
    b:set_read_deadline(luds.now() + 0.01)
    lu.assertEquals({ copier:wait(5) }, { true, nil, timeout, "TIMEOUT", 5 })
    lu.assertEquals({ luds.copy(c, b) }, { nil, timeout, "TIMEOUT", 0 })
  end)
end

-- The destination's write deadline ends a copy into a peer that never
-- reads, once both the writer and the copy are stuck.
function TestCopy:test_write_deadline()
  H.run(function()
    local a, b, c = pairs_on(self.dir, "unix")
    local data = H.pattern(4 * 1024 * 1024)
    local writer = luds.spawn(a.write, a, data)
    local copier = luds.spawn(luds.copy, c, b)
    H.wait_for("writer and copy blocked", function()
      return writer:status() == "waiting" and copier:status() == "waiting"
    end)
    c:set_write_deadline(luds.now() + 0.01)
    local ok, n, msg, code, sent = copier:wait(5)
    lu.assertEquals({ ok, n, msg, code }, { true, nil,
      "write unix " .. self.dir .. "/copy.sock: i/o timeout", "TIMEOUT" })
    lu.assertTrue(sent > 0 and sent < #data)
    a:close()
    lu.assertEquals(select(4, writer:wait(5)), "CLOSED")
  end)
end

-- A destination whose peer is gone: the write error, and the count so far.
function TestCopy:test_destination_peer_gone()
  H.run(function()
    local a, b, c, d = pairs_on(self.dir, "unix")
    d:close()
    assert(a:write("lost"))
    local n, _, code, sent = luds.copy(c, b)
    lu.assertEquals({ n, code, sent }, { nil, "EPIPE", 0 })
  end)
end

-- Closing either side from another task wakes the copy with CLOSED.
function TestCopy:test_close_wakes_the_copy()
  H.run(function()
    local _, b, c = pairs_on(self.dir, "unix")
    local copier = luds.spawn(luds.copy, c, b)
    H.wait_parked(copier)
    b:close()
    local ok, n, msg, code, sent = copier:wait(5)
    lu.assertEquals({ ok, n, msg, code, sent }, { true, nil, "read unix: use of closed connection",
      "CLOSED", 0 })
  end)
end

-- Copying a conn into itself echoes: the server side of an echo in one call.
function TestCopy:test_copy_into_itself_echoes()
  H.run(function()
    local a, b = pairs_on(self.dir, "unix")
    local copier = luds.spawn(function()
      local n = luds.copy(b, b)
      b:close_write()
      return n
    end)
    assert(a:write("echo me"))
    a:close_write()
    lu.assertEquals(drain(a), "echo me")
    lu.assertEquals({ copier:wait(5) }, { true, 7 })
  end)
end

-- A bulk copy opens a pipe to splice through (small ones never do); it is
-- gone when the copy returns, and when a cancelled copy is collected.
function TestCopy:test_no_descriptor_left_behind()
  H.run(function()
    local a, b, c, d = pairs_on(self.dir, "unix")
    local before = H.fd_count()
    assert(a:write("first"))
    a:close_write()
    lu.assertEquals(luds.copy(c, b), 5)
    lu.assertEquals(d:read_full(5), "first")
    lu.assertEquals(H.fd_count(), before)
    local e, f, g, h = pairs_on(self.dir, "unix")
    before = H.fd_count()
    local bulk = H.pattern(1024 * 1024)
    local copier = luds.spawn(luds.copy, g, f)
    local writer = luds.spawn(e.write, e, bulk)
    lu.assertEquals(h:read_full(#bulk), bulk)
    lu.assertEquals({ writer:wait(5) }, { true, #bulk })
    H.wait_parked(copier)
    lu.assertEquals(H.fd_count(), before + 2)
    copier:cancel()
    lu.assertEquals(H.fd_count(), before)
    for _, s in ipairs({ a, b, c, d, e, f, g, h }) do s:close() end
  end)
end

-- Out of descriptors for the pipe, copy goes through its buffer: same bytes.
function TestCopy:test_without_a_pipe()
  local script = [[
    local luds = require "luds"
    local ln = assert(luds.listen("unix", arg[1]))
    local a = assert(luds.dial("unix", arg[1])); local b = assert(ln:accept())
    local c = assert(luds.dial("unix", arg[1])); local d = assert(ln:accept())
    local hold, full = {}, nil
    for i = 1, 100 do
      local s, _, code = luds.listen_packet("unixgram", "")
      if not s then full = code break end
      hold[i] = s
    end
    local data = ("0123456789"):rep(100000)
    luds.spawn(function() a:write(data) a:close() end)
    local copier = luds.spawn(function() local n = luds.copy(c, b) c:close() return n end)
    local got = d:read_full(#data)
    print(select(2, copier:wait()), got == data, full)
  ]]
  local out, err, status = H.exec(("sh -c %s"):format(H.q(("ulimit -n 32 && exec %s -e %s -e %s")
    :format(H.q(H.LUDS), H.q(H.arg_chunk(self.dir .. "/nopipe.sock")), H.q(script)))))
  lu.assertEquals(err, "")
  lu.assertEquals(status, 0)
  lu.assertEquals(out, "1000000\ttrue\tEMFILE\n")
end

function TestCopy:test_bad_arguments()
  H.run(function()
    local a, b, c = pairs_on(self.dir, "unix")
    local pc <close> = assert(luds.listen_packet("unixgram", self.dir .. "/g.sock"))
    local ln <close> = assert(luds.listen("unix", self.dir .. "/l.sock"))
    H.assert_raises({ "bad argument #1", "luds.conn expected, got no value" }, luds.copy)
    H.assert_raises({ "bad argument #2", "luds.conn expected, got string" }, luds.copy, a, "b")
    H.assert_raises({ "bad argument #1", "luds.conn expected" }, luds.copy, pc, b)
    H.assert_raises({ "bad argument #2", "luds.conn expected" }, luds.copy, a, ln)
    assert(a:write("x"))
    c:close()
    lu.assertEquals({ luds.copy(c, b) }, { nil, "write unix: use of closed connection", "CLOSED", 0 })
    lu.assertEquals({ luds.copy(b, c) }, { nil, "read unix: use of closed connection", "CLOSED", 0 })
  end)
end

luds.exit(T.run())
