-- Passing descriptors over unix sockets: send_fds/recv_fds on stream and
-- seqpacket conns, adopting what arrives with wrap, closing it with
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

-- A duplicate of fd, made by passing it to ourselves over a socket pair.
local function dup(dir, fd)
  local a, b, ln = H.pair(dir, "dup.sock")
  assert(a:send_fds("d", { fd }))
  local _, fds = assert(b:recv_fds())
  for _, s in ipairs({ a, b, ln }) do s:close() end
  return fds[1]
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
    local adopted = assert(luds.wrap(fds[1]))
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
    local g2 = assert(luds.wrap(fds[1]))
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
    H.assert_raises({ "bad argument #3", "must be from 0 to 253" }, server.recv_fds, server, 10, 254)
    H.assert_raises({ "bad argument #3", "must be from 0 to 253" }, server.recv_fds, server, 10, -1)
    H.assert_fails("EBADF", "wrap: bad file descriptor", luds.wrap(999999))
    H.assert_raises({ "bad argument #1", "not a descriptor" }, luds.wrap, -1)
    H.assert_raises({ "bad argument #1", "number expected, got table" }, luds.wrap, {})
    -- a descriptor a luds socket owns is not to be adopted or closed twice
    local owner = "fd " .. server:fd() .. " belongs to a luds socket (use its methods)"
    H.assert_raises({ "bad argument #1", owner }, luds.wrap, server:fd())
    H.assert_raises({ "bad argument #1", owner }, luds.close_fd, server:fd())
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
function TestFdPass:test_wrap_refuses_a_non_socket()
  H.run(function()
    local code = "local luds = require 'luds'; print(select(3, luds.wrap(0)))"
    local out, _, status = H.exec(("%s -e %s"):format(H.q(H.LUDS), H.q(code)))
    lu.assertEquals(out, "ENOTSOCK\n")
    lu.assertEquals(status, 0)
  end)
end

-- wrap tells the kind from the socket itself, like Go's FileConn and
-- FileListener: each adopted object works as what it is.
function TestFdPass:test_wrap_detects_every_kind()
  H.run(function()
    local dir = self.dir
    local cases = {
      { luds.listen("unix", dir .. "/s.sock"), "unix listener " .. dir .. "/s.sock" },
      { luds.listen("unixpacket", dir .. "/p.sock"), "unixpacket listener " .. dir .. "/p.sock" },
      { luds.listen_packet("unixgram", dir .. "/g.sock"), "unixgram packet conn " .. dir .. "/g.sock" },
      { luds.dial("unix", dir .. "/s.sock"), "unix conn -> " .. dir .. "/s.sock" },
      { luds.listen_packet("udp", "127.0.0.1:0"), "udp packet conn " },
    }
    for _, c in ipairs(cases) do
      local orig, want = assert(c[1]), c[2]
      local fd = dup(dir, orig:fd())
      local adopted <close> = assert(luds.wrap(fd))
      lu.assertEquals(adopted:fd(), fd)
      lu.assertStrContains(tostring(adopted), want)
    end
    local tcp <close> = assert(luds.listen("tcp", "127.0.0.1:0"))
    local adopted <close> = assert(luds.wrap(dup(self.dir, tcp:fd())))
    lu.assertEquals(tostring(adopted), "tcp listener " .. tcp:addr())
    local t = luds.spawn(function()
      local c <close> = assert(adopted:accept())
      return c:read_full(5)
    end)
    local c <close> = assert(luds.dial("tcp", tcp:addr()))
    c:write("hello")
    lu.assertEquals({ t:wait(5) }, { true, "hello" })
  end)
end

-- More descriptors than recv_fds asks for: it gets max_fds of them, the
-- kernel closes the rest (no descriptor leaks), and it says so.
function TestFdPass:test_recv_fds_with_more_than_asked()
  H.run(function()
    for _, network in ipairs({ "unix", "unixpacket" }) do
      local path = self.dir .. "/" .. network .. ".sock"
      local ln <close> = assert(luds.listen(network, path))
      local client <close> = assert(luds.dial(network, path))
      local server <close> = assert(ln:accept())
      local before = H.fd_count()
      lu.assertEquals(client:send_fds("x", { 0, 1, 2 }), 1)
      local data, fds, dropped = server:recv_fds(10, 1)
      lu.assertEquals(data, "x")
      lu.assertEquals(#fds, 1)
      lu.assertTrue(dropped)
      lu.assertEquals(H.fd_count(), before + 1)
      luds.close_fd(fds[1])
      lu.assertEquals(client:send_fds("y", { 0, 1 }), 1)
      data, fds, dropped = server:recv_fds(10, 0)
      lu.assertEquals({ data, fds, dropped }, { "y", {}, true })
      lu.assertEquals(H.fd_count(), before)
      lu.assertEquals(client:send_fds("z", { 0, 1 }), 1)
      data, fds, dropped = server:recv_fds(10, 2)
      lu.assertEquals({ data, #fds, dropped }, { "z", 2, nil })
      for _, fd in ipairs(fds) do lu.assertTrue(luds.close_fd(fd)) end
      lu.assertEquals(H.fd_count(), before)
    end
  end)
end

-- The kernel's limit: 253 descriptors in one message, all of them arrive.
function TestFdPass:test_253_descriptors()
  H.run(function()
    local client, server = H.pair(self.dir)
    local many = {}
    for i = 1, 253 do many[i] = 0 end
    lu.assertEquals(client:send_fds("m", many), 1)
    local data, fds, dropped = server:recv_fds()
    lu.assertEquals({ data, #fds, dropped }, { "m", 253, nil })
    for _, fd in ipairs(fds) do lu.assertTrue(luds.close_fd(fd)) end
  end)
end

luds.exit(lu.LuaUnit.run())
