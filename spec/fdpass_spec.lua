-- Passing descriptors over unix sockets: send_fds/recv_fds on stream and
-- seqpacket conns, adopting what arrives with wrap, closing it with
-- close_fd, and every bad input.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

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
    local client, server = T.pair()
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
    local client, server = T.pair()
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
    local client, server = T.pair()
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
    local owner = "fd " .. server:fd() .. " belongs to luds (a socket: use its methods; or the event loop, or a copy's pipe)"
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

-- A descriptor that is neither a socket nor pollable (a pipe or terminal
-- would be wrapped: pipe_spec) cannot be adopted (run in a child whose
-- standard input is /dev/null, which epoll refuses).
function TestFdPass:test_wrap_refuses_an_unpollable_non_socket()
  H.run(function()
    local code = "local luds = require 'luds'; print(select(3, luds.wrap(0)))"
    local out, _, status = H.exec(("%s -e %s"):format(H.q(H.LUDS), H.q(code)))
    lu.assertEquals(out, "EPERM\n")
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
    local client, server = T.pair()
    local many = {}
    for i = 1, 253 do many[i] = 0 end
    lu.assertEquals(client:send_fds("m", many), 1)
    local data, fds, dropped = server:recv_fds()
    lu.assertEquals({ data, #fds, dropped }, { "m", 253, nil })
    for _, fd in ipairs(fds) do lu.assertTrue(luds.close_fd(fd)) end
  end)
end

-- No descriptor arrives unasked (issue 12, item 7): whatever a peer attaches
-- to a datagram or seqpacket message that is read with read/read_from is
-- closed at once, with passcred or without.
TestUnaskedFds = H.suite()

local function devnulls(n)
  local files = {}
  for k = 1, n do files[k] = assert(io.open("/dev/null")) end
  return files
end

-- fds of open Lua files: io has no fileno, so take them from /proc.
local function fds_of_devnull()
  local list = {}
  local dir = "/proc/" .. H.pid() .. "/fd/"
  for fd in H.sh("ls " .. dir):gmatch("%d+") do
    if H.sh("readlink " .. dir .. fd) == "/dev/null\n" then list[#list + 1] = tonumber(fd) end
  end
  return list
end

function TestUnaskedFds:test_datagrams_and_messages_with_fds()
  H.run(function()
    local files = devnulls(4)
    local four = fds_of_devnull()
    lu.assertTrue(#four >= 4)
    four = { table.unpack(four, 1, 4) }
    local plain = assert(luds.listen_packet("unixgram", self.dir .. "/g.sock"))
    local cred = assert(luds.listen_packet("unixgram", self.dir .. "/c.sock", { passcred = true }))
    local ln = assert(luds.listen("unixpacket", self.dir .. "/p.sock"))
    local g1 = assert(luds.dial("unixgram", self.dir .. "/g.sock"))
    local g2 = assert(luds.dial("unixgram", self.dir .. "/c.sock"))
    local p1 = assert(luds.dial("unixpacket", self.dir .. "/p.sock"))
    local p2 = assert(ln:accept())
    local before = H.fd_count()
    for i = 1, 50 do
      for _, c in ipairs({ g1, g2, p1 }) do lu.assertEquals(c:send_fds("m" .. i, four), #("m" .. i)) end
      lu.assertEquals(plain:read_from(), "m" .. i)
      lu.assertEquals(cred:read_from(), "m" .. i)
      lu.assertEquals(p2:read(), "m" .. i)
    end
    lu.assertEquals(H.fd_count(), before)
    for _, f in ipairs(files) do f:close() end
  end, 20)
end

-- The reported case: a python3 peer attaches 4 fds to each of 50 datagrams
-- sent to examples/echo_unixgram.lua; the server ends with the fds it had.
function TestUnaskedFds:test_echo_unixgram_server_keeps_none()
  local path = self.dir .. "/echo.sock"
  local p = H.start(("%s %s serve %s"):format(H.q(H.LUDS),
    H.q(H.ROOT .. "/examples/echo_unixgram.lua"), H.q(path)))
  local py = [[
import array, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[2])
s.settimeout(5)
fds = array.array("i", [os.open("/dev/null", os.O_RDONLY) for _ in range(4)])
for i in range(int(sys.argv[3])):
    msg = b"m%d" % i
    s.sendmsg([msg], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)], 0, sys.argv[1])
    assert s.recv(100) == msg
print("ok")
]]
  local function send(n, name)
    local out, err, status = H.exec(("python3 -c %s %s %s %d"):format(H.q(py), H.q(path),
      H.q(self.dir .. "/" .. name), n))
    lu.assertEquals({ out, status }, { "ok\n", 0 }, err)
  end
  H.run(function()
    H.wait_for("the server's socket", function() return H.exists(path) end)
  end)
  send(1, "first.sock") -- the server has served once: its fds have settled
  local before = H.fd_count(p.pid)
  send(50, "flood.sock")
  lu.assertEquals(H.fd_count(p.pid), before)
  lu.assertEquals(H.stop(p, "TERM"), 143)
end

-- Descriptors that come with bytes read ahead (read_line, read_full) stay
-- with those bytes (issue 12, item 8): recv_fds serves the buffered bytes
-- first, with their descriptors; a plain read of such bytes closes them.
TestReadAheadFds = H.suite()

-- Runs body(client, server, fds) as a test with a connected pair and n open
-- descriptors of /dev/null to pass; closes them all afterwards.
local function with_fds(self, n, body)
  H.run(function()
    local client, server, ln = H.pair(self.dir)
    local files = devnulls(n)
    body(client, server, { table.unpack(fds_of_devnull(), 1, n) })
  end)
end

function TestReadAheadFds:test_recv_fds_after_read_line()
  with_fds(self, 1, function(client, server, list)
    local fd = list[1]
    assert(client:write("header\n"))
    assert(client:send_fds("body", { fd }))
    lu.assertEquals(server:read_line(), "header") -- reads "body" and its fd ahead
    assert(client:write("later"))
    local data, fds = server:recv_fds()
    lu.assertEquals(data, "body")
    lu.assertEquals(#fds, 1)
    lu.assertEquals(H.sh(("readlink /proc/%d/fd/%d"):format(H.pid(), fds[1])), "/dev/null\n")
    lu.assertEquals(server:read(), "later")
    lu.assertTrue(luds.close_fd(fds[1]))
  end)
end

function TestReadAheadFds:test_order_and_limits()
  with_fds(self, 3, function(client, server, three)
    assert(client:write("a\nbc"))
    lu.assertEquals(server:read_line(), "a")
    assert(client:send_fds("de", { three[1], three[2], three[3] }))
    -- buffered bytes come first, before anything still in the socket
    lu.assertEquals({ server:recv_fds(1) }, { "b", {} })
    lu.assertEquals(server:read_full(3), "cde") -- reads "de" and the fds ahead
    local before = H.fd_count()
    assert(client:send_fds("fg", { three[1], three[2], three[3] }))
    assert(client:write("\n"))
    lu.assertEquals(server:read_line(), "fg")
    lu.assertEquals(H.fd_count(), before) -- read_line took their bytes: closed
    assert(client:send_fds("hi\n", { three[1], three[2], three[3] }))
    assert(client:write("jk\n"))
    local t = luds.spawn(function() return server:read_line() end)
    lu.assertEquals({ t:wait(2) }, { true, "hi" })
    local data, fds, dropped = server:recv_fds(10, 2) -- more came than asked
    lu.assertEquals({ data, #fds, dropped }, { "jk\n", 0, nil })
    lu.assertEquals(H.fd_count(), before)
  end)
end

function TestReadAheadFds:test_close_closes_held_fds()
  with_fds(self, 2, function(client, server, two)
    local before = H.fd_count()
    assert(client:send_fds("x", { two[1], two[2] }))
    assert(client:write("y\nz"))
    local t = luds.spawn(function() return server:read_line() end)
    lu.assertEquals({ t:wait(2) }, { true, "xy" })
    lu.assertEquals(H.fd_count(), before) -- their bytes were taken by read_line
    assert(client:send_fds("w", { two[1], two[2] }))
    lu.assertEquals(server:read_full(2), "zw")
    lu.assertEquals(H.fd_count(), before)
    assert(client:send_fds("held", { two[1], two[2] }))
    assert(client:write("\n"))
    local line_task = luds.spawn(function() return server:read_full(1) end)
    lu.assertEquals({ line_task:wait(2) }, { true, "h" }) -- "eld\n" and 2 fds held
    lu.assertEquals(H.fd_count(), before + 2)
    server:close()
    lu.assertEquals(H.fd_count(), before - 1) -- its own fd and the two held
  end)
end

-- The runtime's own descriptors (issue 12, item 14): the epoll fd, the
-- signalfd and a copy's pipe are refused by close_fd and wrap.
TestRuntimeFds = H.suite()

local function fds_named(pattern)
  local list = {}
  local dir = "/proc/" .. H.pid() .. "/fd/"
  for fd in H.sh("ls " .. dir):gmatch("%d+") do
    local target = H.sh("readlink " .. dir .. fd)
    if target:match(pattern) and H.slurp("/proc/self/fdinfo/" .. fd) then list[#list + 1] = tonumber(fd) end
  end
  return list
end

function TestRuntimeFds:test_loop_fds_refused()
  H.run(function()
    local ep, sig = fds_named("^anon_inode:%[eventpoll%]"), fds_named("^anon_inode:%[signalfd%]")
    lu.assertEquals({ #ep, #sig }, { 1, 1 })
    for _, fd in ipairs({ ep[1], sig[1] }) do
      H.assert_raises({ "fd " .. fd .. " belongs to luds" }, luds.close_fd, fd)
      H.assert_raises({ "fd " .. fd .. " belongs to luds" }, luds.wrap, fd)
    end
    luds.sleep(0.01) -- the loop still works
  end)
end

function TestRuntimeFds:test_copy_pipe_refused()
  H.run(function()
    local src_w, src = H.pair(self.dir, "src.sock")
    local dst, dst_r = H.pair(self.dir, "dst.sock")
    local before = {}
    for _, fd in ipairs(fds_named("^pipe:")) do before[fd] = true end -- stdout may be one
    local function new_pipes()
      local list = {}
      for _, fd in ipairs(fds_named("^pipe:")) do
        if not before[fd] then list[#list + 1] = fd end
      end
      return list
    end
    local t = luds.spawn(luds.copy, dst, src)
    local w = luds.spawn(src_w.write, src_w, ("b"):rep(8 * 1024 * 1024)) -- bulk
    H.wait_for("the copy to splice", function() return #new_pipes() == 2 end)
    H.wait_parked(t) -- dst_r never reads: the copy waits
    local refused = 0
    for _, fd in ipairs(new_pipes()) do
      if not pcall(luds.close_fd, fd) then refused = refused + 1 end
    end
    lu.assertEquals(refused, 2)
    t:cancel()
    w:cancel()
    lu.assertEquals(new_pipes(), {}) -- closed at cancel, before any GC
  end, 10)
end

luds.exit(T.run())
