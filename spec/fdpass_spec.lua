-- Passing descriptors over unix sockets: send_fds/recv_fds on stream and
-- seqpacket conns, adopting what arrives with from_fd, closing it with
-- close_fd, and every bad input.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"

-- The open flags of descriptor fd of this process, from /proc.
local function fd_flags(fd)
  local info = H.slurp("/proc/self/fdinfo/" .. fd)
  return info and tonumber(info:match("flags:%s*(%d+)"), 8)
end

local O_CLOEXEC, O_NONBLOCK = tonumber("2000000", 8), tonumber("4000", 8)

TestFdPass = H.suite()

-- A listener travels to another conn, is adopted there, and serves.
function TestFdPass:test_pass_a_listener_and_adopt_it()
  H.run(function()
    local client, server = H.pair(self.dir)
    local other = assert(luds.listen("unix", self.dir .. "/other.sock"))
    lu.assertEquals(client:send_fds("L", { other }), 1)
    local data, fds = server:recv_fds()
    lu.assertEquals(data, "L")
    lu.assertEquals(#fds, 1)
    lu.assertEquals(fd_flags(fds[1]) & O_CLOEXEC, O_CLOEXEC)
    local adopted = assert(luds.from_fd("unix", fds[1]))
    lu.assertEquals(tostring(adopted), "unix listener " .. self.dir .. "/other.sock")
    lu.assertEquals(adopted:fd(), fds[1])
    lu.assertEquals(fd_flags(fds[1]) & O_NONBLOCK, O_NONBLOCK)
    local t = luds.spawn(function()
      local c <close> = assert(adopted:accept())
      return c:write("via the passed listener")
    end)
    local c <close> = assert(luds.dial("unix", self.dir .. "/other.sock"))
    lu.assertEquals(c:read_full(23), "via the passed listener")
    lu.assertEquals({ t:wait(1) }, { true, 23 })
  end)
end

-- Several descriptors, integers and socket objects mixed, on a seqpacket
-- conn: one message carries them all; an adopted packet conn works.
function TestFdPass:test_several_over_seqpacket()
  H.run(function()
    local ln = assert(luds.listen("unixpacket", self.dir .. "/p.sock"))
    local a = assert(luds.dial("unixpacket", self.dir .. "/p.sock"))
    local b = assert(ln:accept())
    local g = assert(luds.listen_packet("unixgram", self.dir .. "/g.sock"))
    lu.assertEquals(a:send_fds("three", { g, g:fd(), a }), 5)
    lu.assertEquals(a:write("next"), 4)
    local data, fds = b:recv_fds()
    lu.assertEquals(data, "three")
    lu.assertEquals(#fds, 3)
    lu.assertEquals(b:read(), "next")
    local g2 = assert(luds.from_fd("unixgram", fds[1]))
    lu.assertEquals(g2:local_addr(), self.dir .. "/g.sock")
    local sender <close> = assert(luds.dial("unixgram", self.dir .. "/g.sock"))
    sender:write("to the adopted socket")
    lu.assertEquals(g2:read(), "to the adopted socket")
    lu.assertEquals(luds.close_fd(fds[2]), true)
    lu.assertEquals(luds.close_fd(fds[3]), true)
    H.assert_fails("EBADF", "close_fd: bad file descriptor", luds.close_fd(fds[3]))
  end)
end

-- A plain write carries no descriptors; EOF is EOF.
function TestFdPass:test_recv_fds_without_fds_and_at_eof()
  H.run(function()
    local client, server = H.pair(self.dir)
    client:write("plain")
    local data, fds = server:recv_fds()
    lu.assertEquals(data, "plain")
    lu.assertEquals(fds, {})
    client:close()
    H.assert_fails("EOF", "EOF", server:recv_fds())
  end)
end

function TestFdPass:test_bad_inputs()
  H.run(function()
    local client, server = H.pair(self.dir)
    H.assert_raises({ "bad argument #2", "must not be empty" }, client.send_fds, client, "", { 1 })
    H.assert_raises({ "bad descriptor #2" }, client.send_fds, client, "x", { 1, "two" })
    H.assert_raises({ "bad descriptor #1" }, client.send_fds, client, "x", { -1 })
    local many = {}
    for i = 1, 254 do many[i] = client:fd() end
    H.assert_raises({ "too many descriptors" }, client.send_fds, client, "x", many)
    H.assert_raises({ "bad argument #3", "table expected" }, client.send_fds, client, "x", 3)
    H.assert_raises({ "bad argument #2", "out of range" }, server.recv_fds, server, 0)
    -- a number that is no open descriptor: the kernel refuses the message whole
    H.assert_fails("EBADF", nil, client:send_fds("x", { 999999 }))
    client:write("after")
    lu.assertEquals(server:read(), "after")
    H.assert_fails("EPROTOTYPE", "from_fd unixgram: protocol wrong type for socket",
      luds.from_fd("unixgram", client:fd()))
    H.assert_fails("EBADF", "from_fd unix: bad file descriptor", luds.from_fd("unix", 999999))
    H.assert_raises({ "bad argument #2", "not a descriptor" }, luds.from_fd, "unix", -1)
    H.assert_raises({ "unknown network 'bogus'" }, luds.from_fd, "bogus", 0)
    H.assert_raises({ "bad argument #1", "not a descriptor" }, luds.close_fd, -3)
    client:close()
    H.assert_fails("CLOSED", nil, client:send_fds("x", { 0 }))
    H.assert_fails("CLOSED", nil, client:recv_fds())
  end)
end

function TestFdPass:test_not_over_ip()
  H.run(function()
    local ln <close> = assert(luds.listen("tcp", "127.0.0.1:0"))
    local c <close> = assert(luds.dial("tcp", ln:addr()))
    H.assert_fails("EOPNOTSUPP", nil, c:send_fds("x", { 0 }))
    H.assert_fails("EOPNOTSUPP", nil, c:recv_fds())
  end)
end

-- A descriptor that is not a socket cannot be adopted (run in a child whose
-- standard input is /dev/null).
function TestFdPass:test_from_fd_refuses_a_non_socket()
  H.run(function()
    local code = "local luds = require 'luds'; print(select(3, luds.from_fd('unix', 0)))"
    local out, _, status = H.exec(("%s -e %s"):format(H.q(H.LUDS), H.q(code)))
    lu.assertEquals(out, "ENOTSOCK\n")
    lu.assertEquals(status, 0)
  end)
end

luds.exit(lu.LuaUnit.run())
