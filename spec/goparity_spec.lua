-- Where luds meets Go's net package, and where it differs on purpose
-- (issue 12, items 15 and 18 to 21): dial's timeout 0, write_to on a
-- connected socket, addresses after close, an empty port, remote_addr of an
-- unconnected packet socket.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

TestGoParity = H.suite()

-- Go's Dialer.Timeout: 0 is no timeout. A negative or NaN one is a misuse.
function TestGoParity:test_dial_timeout_zero_is_none()
  H.run(function()
    local path = self.dir .. "/d.sock"
    local ln <close> = assert(luds.listen("unix", path))
    local c <close> = assert(luds.dial("unix", path, { timeout = 0 }))
    lu.assertEquals(c:remote_addr(), path)
    local tln <close> = assert(luds.listen("tcp", "127.0.0.1:0"))
    local t <close> = assert(luds.dial("tcp", tln:addr(), { timeout = 0 }))
    lu.assertEquals(t:remote_addr(), tln:addr())
    for _, bad in ipairs({ -1, -0.5, 0 / 0 }) do
      H.assert_raises({ "option 'timeout'", "0 or more" }, luds.dial, "unix", path, { timeout = bad })
    end
    H.assert_raises({ "option 'timeout' must be a number" }, luds.dial, "unix", path, { timeout = "1" .. "x" })
  end)
end

-- Go's ErrWriteToConnected: a dialed datagram conn has a fixed peer, so
-- write_to is refused, to any address, the connected one included.
function TestGoParity:test_write_to_on_a_dialed_conn()
  H.run(function()
    local spath, other = self.dir .. "/s.sock", self.dir .. "/o.sock"
    local server <close> = assert(luds.listen_packet("unixgram", spath))
    local o <close> = assert(luds.listen_packet("unixgram", other))
    local c <close> = assert(luds.dial("unixgram", spath))
    local why = "write_to unixgram " .. spath .. ": use of write_to with a connected socket (use write)"
    H.assert_fails("EISCONN", why, c:write_to("x", other))
    H.assert_fails("EISCONN", why, c:write_to("x", spath))
    lu.assertEquals(c:write("y"), 1)
    lu.assertEquals(server:read(), "y")
    o:set_read_deadline(luds.now() + 0.05)
    H.assert_fails("TIMEOUT", nil, o:read()) -- nothing went to the other socket
    local uln <close> = assert(luds.listen_packet("udp", "127.0.0.1:0"))
    local u <close> = assert(luds.dial("udp", uln:local_addr()))
    H.assert_fails("EISCONN", nil, u:write_to("x", uln:local_addr()))
    -- an unconnected socket writes to anyone; a wrapped connected one refuses
    local free <close> = assert(luds.listen_packet("unixgram", ""))
    lu.assertEquals(free:write_to("z", spath), 1)
    lu.assertEquals(server:read(), "z")
    c:close()
    H.assert_fails("CLOSED", nil, c:write_to("x", spath))
  end)
end

function TestGoParity:test_wrapped_connected_datagram_refuses_write_to()
  H.run(function()
    local spath = self.dir .. "/s.sock"
    local server <close> = assert(luds.listen_packet("unixgram", spath))
    local a, b, ln = H.pair(self.dir)
    local c = assert(luds.dial("unixgram", spath))
    assert(a:send_fds("c", { c }))
    c:close()
    local _, fds = assert(b:recv_fds())
    local w <close> = assert(luds.wrap(fds[1]))
    H.assert_fails("EISCONN", nil, w:write_to("x", spath))
    lu.assertEquals(w:write("ok"), 2)
    lu.assertEquals(server:read(), "ok")
    for _, s in ipairs({ a, b, ln }) do s:close() end
  end)
end

-- Differs from Go, by choice (README): after close the socket has no
-- addresses (Go keeps copies in every conn; luds keeps none). The message
-- names the method that was called.
function TestGoParity:test_addresses_after_close()
  H.run(function()
    local client, server, ln, path = H.pair(self.dir)
    for _, s in ipairs({ client, server, ln }) do s:close() end
    H.assert_fails("CLOSED", "addr unix: use of closed connection", ln:addr())
    H.assert_fails("CLOSED", "local_addr unix: use of closed connection", client:local_addr())
    H.assert_fails("CLOSED", "remote_addr unix: use of closed connection", server:remote_addr())
    lu.assertFalse(H.exists(path))
  end)
end

-- Go's "127.0.0.1:" is port 0: the kernel picks one, for tcp and udp alike.
function TestGoParity:test_empty_port_is_ephemeral()
  H.run(function()
    for _, c in ipairs({ { "listen", "tcp", "127.0.0.1:", "^127%.0%.0%.1:(%d+)$" },
      { "listen", "tcp6", "[::1]:", "^%[::1%]:(%d+)$" },
      { "listen_packet", "udp", "127.0.0.1:", "^127%.0%.0%.1:(%d+)$" },
      { "listen_packet", "udp6", "[::1]:", "^%[::1%]:(%d+)$" } }) do
      local op, network, address, pattern = table.unpack(c)
      local s <close> = assert(luds[op](network, address))
      local addr = op == "listen" and s:addr() or s:local_addr()
      local port = tonumber(addr:match(pattern))
      lu.assertNotNil(port, addr)
      lu.assertTrue(port > 0 and port <= 65535)
    end
    local ln <close> = assert(luds.listen("tcp", "127.0.0.1:"))
    local c <close> = assert(luds.dial("tcp", ln:addr()))
    local s <close> = assert(ln:accept())
    lu.assertEquals(c:write("port"), 4)
    lu.assertEquals(s:read(), "port")
    -- without a colon there is still no port at all
    H.assert_fails("EINVAL", "listen tcp 127.0.0.1: missing port in address (want host:port or [v6]:port)",
      luds.listen("tcp", "127.0.0.1"))
  end)
end

-- README's promise: an unconnected packet socket's remote_addr is "".
function TestGoParity:test_remote_addr_of_an_unconnected_packet_socket()
  H.run(function()
    local pc <close> = assert(luds.listen_packet("unixgram", self.dir .. "/g.sock"))
    lu.assertEquals(pc:remote_addr(), "")
    local u <close> = assert(luds.listen_packet("udp", "127.0.0.1:0"))
    lu.assertEquals(u:remote_addr(), "")
    local c <close> = assert(luds.dial("unixgram", self.dir .. "/g.sock"))
    lu.assertEquals(c:remote_addr(), self.dir .. "/g.sock")
  end)
end

luds.exit(T.run())
