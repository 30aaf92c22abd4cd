-- Unix packet sockets in one process: unixgram (listen_packet, read_from,
-- write_to, connected dials) and unixpacket (listen, accept, dial): message
-- boundaries, truncation, empty messages, addresses, every bad input, closed
-- objects, full queues and deadlines.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

local HUGE = 10 * 1024 * 1024 -- more than any unix socket accepts as one message
local AUTOBOUND = "^@%x%x%x%x%x$" -- Linux autobinds to five hex digits

-- n bytes that are not one byte repeated, so a shifted or cut copy differs.
-- Echoes every datagram back to its sender until pc is closed.
local function echo_datagrams(pc)
  while true do
    local data, from, code = pc:read_from() -- from is the message on failure
    if not data then return code end
    pc:write_to(data, from)
  end
end

-- One message back for every message read, until EOF or close.
local function echo_messages(conn)
  while true do
    local data = conn:read()
    if not data or not conn:write(data) then return end
  end
end

local function bind(dir, name, opts)
  local path = dir .. "/" .. name
  return assert(luds.listen_packet("unixgram", path, opts)), path
end

-- A unixpacket listener at dir/name, a dialed conn and its accepted peer.
local function packet_pair(dir, name)
  local path = dir .. "/" .. (name or "packet.sock")
  local ln = assert(luds.listen("unixpacket", path))
  local client = assert(luds.dial("unixpacket", path))
  local server = assert(ln:accept())
  return client, server, ln, path
end

-- A unixpacket listener at dir/echo.sock served by echo_messages, and a client.
local function packet_echo(dir)
  local client, server, ln, path = packet_pair(dir, "echo.sock")
  local handler = luds.spawn(echo_messages, server)
  return client, ln, path, handler
end

-- Leaves a dead datagram socket file at path: bound by a process that exited.
local function stale_dgram_socket(path)
  local py = "import socket,sys; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).bind(sys.argv[1])"
  assert(os.execute(("python3 -c %s %s"):format(H.q(py), H.q(path))))
end

-- Asserts that f(...) raises an error naming `call` as a whole name, so that
-- "luds.listen" is not satisfied by "luds.listen_packet".
local function assert_raises_naming(call, f, ...)
  local ok, err = pcall(f, ...)
  lu.assertFalse(ok, "expected a Lua error")
  err = tostring(err)
  lu.assertNotNil(err:find(call:gsub("%p", "%%%0") .. "%f[^%w_]"),
    ("error does not name %s: %s"):format(call, err))
end

-- Calls send(i) for i = 1, 2, ... until it fails, which must be with TIMEOUT
-- past `deadline`; returns how many sends succeeded (at least one).
local function send_until_timeout(send, deadline)
  for i = 1, 10000 do
    local n, msg, code = send(i)
    if not n then
      lu.assertEquals({ n, code }, { nil, "TIMEOUT" }, msg)
      lu.assertTrue(luds.now() >= deadline, "returned before the deadline")
      lu.assertTrue(i > 1, "not even one datagram was sent")
      return i - 1
    end
    lu.assertEquals(n, #tostring(i))
  end
  lu.fail("the receiver's queue never filled")
end

-- Reads from pc exactly the datagrams "1" .. count, in order, each from
-- `sender`, then asserts that nothing else is queued.
local function drain(pc, count, sender)
  for i = 1, count do
    lu.assertEquals({ pc:read_from() }, { tostring(i), sender })
  end
  pc:set_read_deadline(luds.now() + 0.05)
  H.assert_fails("TIMEOUT", nil, pc:read_from())
  pc:set_read_deadline(nil)
end

TestEcho = H.suite()

-- Port of TestEchoServerUnixDatagram ("Network Programming with Go", ch. 7).
function TestEcho:test_echo_server_unix_datagram()
  H.run(function()
    local server, spath = bind(self.dir, "server.sock")
    local echo = luds.spawn(echo_datagrams, server)
    local client, cpath = bind(self.dir, "client.sock")
    for _ = 1, 3 do lu.assertEquals(client:write_to("ping", spath), 4) end
    for _ = 1, 3 do lu.assertEquals({ client:read_from(1024) }, { "ping", spath }) end
    lu.assertTrue(client:close())
    lu.assertTrue(server:close())
    lu.assertEquals({ echo:wait(1) }, { true, "CLOSED" })
    for _, path in ipairs({ spath, cpath }) do
      lu.assertTrue(os.remove(path))
      lu.assertFalse(H.exists(path))
    end
  end)
end

-- The same with the client dialed from its own socket file.
function TestEcho:test_echo_datagram_dial_with_local_path()
  H.run(function()
    local server, spath = bind(self.dir, "server.sock", { unlink_on_close = true })
    local echo = luds.spawn(echo_datagrams, server)
    local cpath = self.dir .. "/client.sock"
    local conn = assert(luds.dial("unixgram", spath, { local_address = cpath }))
    lu.assertEquals({ conn:local_addr(), conn:remote_addr() }, { cpath, spath })
    for _ = 1, 3 do lu.assertEquals(conn:write("ping"), 4) end
    for _ = 1, 3 do lu.assertEquals(conn:read(), "ping") end
    conn:close()
    server:close()
    lu.assertEquals({ echo:wait(1) }, { true, "CLOSED" })
    lu.assertTrue(os.remove(cpath))
    lu.assertEquals(H.ls(self.dir), "")
  end)
end

-- Port of TestEchoServerUnixPacket: boundaries survive, so three writes come
-- back as three messages, never "pingpingping".
function TestEcho:test_echo_server_unix_packet()
  H.run(function()
    local conn, ln, path, handler = packet_echo(self.dir)
    for _ = 1, 3 do lu.assertEquals(conn:write("ping"), 4) end
    for _ = 1, 3 do lu.assertEquals(conn:read(1024), "ping") end
    for _ = 1, 2 do lu.assertEquals(conn:write("ping"), 4) end
    lu.assertEquals(H.assert_fails("TRUNCATED", nil, conn:read(2)), "pi")
    lu.assertEquals(conn:read(), "ping") -- the next message, not "ng"
    conn:close()
    lu.assertEquals({ handler:wait(1) }, { true })
    lu.assertTrue(ln:close())
    lu.assertFalse(H.exists(path))
  end)
end

function TestEcho:test_unix_packet_200k_message_whole()
  H.run(function()
    local conn = packet_echo(self.dir)
    local big = H.pattern(200 * 1024)
    lu.assertEquals(conn:write(big), #big)
    lu.assertEquals(conn:write("after"), 5)
    local got = conn:read()
    lu.assertEquals(#got, #big)
    lu.assertTrue(got == big, "200 KiB message differs")
    lu.assertEquals(conn:read(), "after")
  end)
end

function TestEcho:test_datagram_truncation_keeps_sender()
  H.run(function()
    local server, spath = bind(self.dir, "server.sock")
    local client, cpath = bind(self.dir, "client.sock")
    client:write_to("hello", spath)
    client:write_to("next", spath)
    lu.assertEquals({ H.assert_fails("TRUNCATED", nil, server:read_from(3)) }, { "hel", cpath })
    lu.assertEquals({ server:read_from() }, { "next", cpath })
  end)
end

TestEmpty = H.suite()

function TestEmpty:test_zero_length_datagrams_both_ways()
  H.run(function()
    local server, spath = bind(self.dir, "server.sock")
    local client, cpath = bind(self.dir, "client.sock")
    lu.assertEquals(client:write_to("", spath), 0)
    lu.assertEquals({ server:read_from() }, { "", cpath })
    lu.assertEquals(server:write_to("", cpath), 0)
    lu.assertEquals({ client:read_from(10) }, { "", spath })
    local conn = assert(luds.dial("unixgram", spath))
    lu.assertEquals(conn:write(""), 0)
    local data, from = server:read_from()
    lu.assertEquals({ data, from }, { "", conn:local_addr() })
    lu.assertEquals(server:write_to("", from), 0)
    lu.assertEquals(conn:read(), "")
  end)
end

-- An empty message is data, never the end: "", the message, then EOF, whether
-- the peer closes or only shuts its writing side.
function TestEmpty:test_empty_unix_packet_message_then_eof()
  H.run(function()
    for _, ending in ipairs({ "close", "close_write" }) do
      local client, server = packet_pair(self.dir, ending .. ".sock")
      lu.assertEquals(client:write(""), 0)
      lu.assertEquals(client:write("real"), 4)
      lu.assertTrue(client[ending](client))
      lu.assertEquals(server:read(), "")
      lu.assertEquals(server:read(), "real")
      lu.assertEquals({ server:read() }, { nil, "EOF", "EOF" })
      lu.assertEquals({ server:read() }, { nil, "EOF", "EOF" })
    end
  end)
end

TestAddress = H.suite()

function TestAddress:test_autobind_shows_abstract_address()
  H.run(function()
    local server, spath = bind(self.dir, "server.sock")
    for _, opts in ipairs({ { local_address = "" }, {} }) do
      local conn = assert(luds.dial("unixgram", spath, opts))
      local me = conn:local_addr()
      lu.assertStrMatches(me, AUTOBOUND)
      lu.assertEquals(conn:remote_addr(), spath)
      lu.assertEquals(conn:write("hi"), 2)
      lu.assertEquals({ server:read_from() }, { "hi", me })
      lu.assertEquals(server:write_to("reply", me), 5)
      lu.assertEquals(conn:read(), "reply")
      conn:close()
    end
    lu.assertEquals(H.ls(self.dir), "server.sock") -- autobinding made no file
  end)
end

function TestAddress:test_listen_packet_autobind()
  H.run(function()
    local server, spath = bind(self.dir, "server.sock")
    local pc = assert(luds.listen_packet("unixgram", ""))
    local me = pc:local_addr()
    lu.assertStrMatches(me, AUTOBOUND)
    lu.assertEquals(pc:write_to("x", spath), 1)
    lu.assertEquals({ server:read_from() }, { "x", me })
  end)
end

-- A sender that never bound has no address: read_from gives "".
function TestAddress:test_unnamed_sender()
  H.run(function()
    local server, spath = bind(self.dir, "server.sock")
    local py = "import socket,sys; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b'anon', sys.argv[1])"
    assert(os.execute(("python3 -c %s %s"):format(H.q(py), H.q(spath))))
    lu.assertEquals({ server:read_from() }, { "anon", "" })
  end)
end

function TestAddress:test_unix_packet_addresses_and_peer_cred()
  H.run(function()
    local client, server, ln, path = packet_pair(self.dir)
    lu.assertEquals({ ln:addr(), client:remote_addr(), server:local_addr() }, { path, path, path })
    local pid = H.pid()
    local uid = tonumber((H.sh("id -u")))
    local gid = tonumber((H.sh("id -g")))
    for _, conn in ipairs({ client, server }) do
      lu.assertEquals(conn:peer_cred(), { pid = pid, uid = uid, gid = gid })
    end
  end)
end

TestLifecycle = H.suite()

function TestLifecycle:test_listen_packet_keeps_file_on_close()
  H.run(function()
    local pc, path = bind(self.dir, "kept.sock")
    lu.assertTrue(pc:close())
    lu.assertTrue(H.exists(path))
    lu.assertStrContains(tostring(pc), "(closed)")
  end)
end

function TestLifecycle:test_unlink_on_close_removes_file()
  H.run(function()
    local pc, path = bind(self.dir, "owned.sock", { unlink_on_close = true })
    lu.assertTrue(H.exists(path))
    lu.assertTrue(pc:close())
    lu.assertFalse(H.exists(path))
  end)
end

function TestLifecycle:test_unix_packet_listener_close_removes_file()
  H.run(function()
    local path = self.dir .. "/ln.sock"
    local ln = assert(luds.listen("unixpacket", path))
    lu.assertTrue(H.exists(path))
    lu.assertTrue(ln:close())
    lu.assertFalse(H.exists(path))
  end)
end

TestBadInput = H.suite()

-- Too large for one message: nothing is sent, and the peer reads the next
-- message whole, not a fragment of the refused one.
function TestBadInput:test_message_too_large_is_emsgsize()
  H.run(function()
    local huge = ("h"):rep(HUGE)
    local server, spath = bind(self.dir, "server.sock")
    local client, cpath = bind(self.dir, "client.sock")
    H.assert_fails("EMSGSIZE", "write_to unixgram " .. spath .. ": message too long",
      client:write_to(huge, spath))
    client:write_to("next", spath)
    lu.assertEquals({ server:read_from() }, { "next", cpath })

    local dialed = assert(luds.dial("unixgram", spath))
    H.assert_fails("EMSGSIZE", nil, dialed:write(huge))
    dialed:write("next")
    lu.assertEquals({ server:read_from() }, { "next", dialed:local_addr() })

    local conn, peer = packet_pair(self.dir)
    H.assert_fails("EMSGSIZE", nil, conn:write(huge))
    conn:write("next")
    lu.assertEquals(peer:read(), "next")
    conn:close()
    lu.assertEquals({ peer:read() }, { nil, "EOF", "EOF" })
  end)
end

function TestBadInput:test_write_to_missing_path_is_enoent()
  H.run(function()
    local pc = bind(self.dir, "client.sock")
    local path = self.dir .. "/missing.sock"
    H.assert_fails("ENOENT", "write_to unixgram " .. path .. ": no such file or directory",
      pc:write_to("x", path))
    lu.assertEquals(pc:write_to("self", pc:local_addr()), 4) -- still usable
    lu.assertEquals(pc:read_from(), "self")
  end)
end

-- A socket file nobody reads: left by a dead process, or by a closed
-- listen_packet socket (which does not unlink).
function TestBadInput:test_write_to_dead_socket_is_refused()
  H.run(function()
    local stale = self.dir .. "/stale.sock"
    stale_dgram_socket(stale)
    local closed_pc, closed = bind(self.dir, "closed.sock")
    closed_pc:close()
    local pc = bind(self.dir, "client.sock")
    for _, path in ipairs({ stale, closed }) do
      H.assert_fails("ECONNREFUSED", "write_to unixgram " .. path .. ": connection refused",
        pc:write_to("x", path))
      lu.assertTrue(H.exists(path))
    end
  end)
end

function TestBadInput:test_listen_and_listen_packet_misuse()
  H.run(function()
    local path = self.dir .. "/x.sock"
    assert_raises_naming("luds.listen_packet", luds.listen, "unixgram", path)
    assert_raises_naming("luds.listen", luds.listen_packet, "unix", path)
    assert_raises_naming("luds.listen", luds.listen_packet, "unixpacket", path)
    local conn = packet_pair(self.dir)
    H.assert_raises({ "write_to", "write" }, conn.write_to, conn, "x", path)
    lu.assertEquals(H.ls(self.dir), "packet.sock")
  end)
end

TestClosed = H.suite()

function TestClosed:test_closed_packet_conns()
  H.run(function()
    local pc, path = bind(self.dir, "pc.sock")
    local conn = packet_pair(self.dir)
    lu.assertTrue(pc:close())
    lu.assertTrue(conn:close())
    H.assert_fails("CLOSED", nil, pc:read_from())
    H.assert_fails("CLOSED", nil, pc:read())
    H.assert_fails("CLOSED", nil, pc:write_to("x", path))
    H.assert_fails("CLOSED", nil, pc:close())
    H.assert_fails("CLOSED", nil, conn:read())
    H.assert_fails("CLOSED", nil, conn:read(10))
    H.assert_fails("CLOSED", nil, conn:write("x"))
    H.assert_fails("CLOSED", nil, conn:close())
  end)
end

function TestClosed:test_close_wakes_blocked_readers()
  H.run(function()
    local blocked = {
      { bind(self.dir, "read_from.sock"), "read_from" },
      { bind(self.dir, "read.sock"), "read" },
      { select(2, packet_pair(self.dir)), "read" },
    }
    for _, b in ipairs(blocked) do
      local sock, method = b[1], b[2]
      local reader = luds.spawn(sock[method], sock)
      H.wait_parked(reader)
      sock:close()
      local ok, v, msg, code = reader:wait(1)
      lu.assertTrue(ok)
      H.assert_fails("CLOSED", nil, v, msg, code)
    end
  end)
end

-- The receiver never reads: once its queue is full the writer waits, until the
-- write deadline gives TIMEOUT. Every datagram reported sent arrives, in
-- order; the timed-out one does not.
TestFullQueue = H.suite()

function TestFullQueue:test_write_to_deadline_on_full_queue()
  H.run(function()
    local receiver, rpath = bind(self.dir, "receiver.sock")
    local sender, spath = bind(self.dir, "sender.sock")
    local deadline = luds.now() + 0.1
    sender:set_write_deadline(deadline)
    local sent = send_until_timeout(function(i) return sender:write_to(tostring(i), rpath) end, deadline)
    drain(receiver, sent, spath)
    sender:set_write_deadline(nil)
    lu.assertEquals(sender:write_to("after", rpath), 5)
    lu.assertEquals({ receiver:read_from() }, { "after", spath })
  end)
end

function TestFullQueue:test_dialed_write_deadline_on_full_queue()
  H.run(function()
    local receiver, rpath = bind(self.dir, "receiver.sock")
    local conn = assert(luds.dial("unixgram", rpath))
    local deadline = luds.now() + 0.1
    conn:set_write_deadline(deadline)
    local sent = send_until_timeout(function(i) return conn:write(tostring(i)) end, deadline)
    drain(receiver, sent, conn:local_addr())
    conn:set_write_deadline(nil)
    lu.assertEquals(conn:write("after"), 5)
    lu.assertEquals({ receiver:read_from() }, { "after", conn:local_addr() })
  end)
end

-- Without a deadline a writer on a full queue waits, then goes on once the
-- receiver reads; nothing is lost or repeated.
function TestFullQueue:test_blocked_writers_resume_when_drained()
  H.run(function()
    local COUNT = 50 -- several queues' worth
    local receiver, rpath = bind(self.dir, "receiver.sock")
    local sender, spath = bind(self.dir, "sender.sock")
    local conn = assert(luds.dial("unixgram", rpath))
    local senders = {
      { spath, function(i) return sender:write_to(tostring(i), rpath) end },
      { conn:local_addr(), function(i) return conn:write(tostring(i)) end },
    }
    for _, s in ipairs(senders) do
      local from, send = s[1], s[2]
      local writer = luds.spawn(function()
        for i = 1, COUNT do assert(send(i)) end
        return COUNT
      end)
      H.wait_parked(writer)
      for i = 1, COUNT do lu.assertEquals({ receiver:read_from() }, { tostring(i), from }) end
      lu.assertEquals({ writer:wait(1) }, { true, COUNT })
    end
  end)
end

TestDeadline = H.suite()

function TestDeadline:test_read_from_deadline_then_usable()
  H.run(function()
    local pc, path = bind(self.dir, "pc.sock")
    local deadline = luds.now() + 0.05
    pc:set_read_deadline(deadline)
    H.assert_fails("TIMEOUT", nil, pc:read_from())
    lu.assertTrue(luds.now() >= deadline, "returned before the deadline")
    pc:write_to("later", path)
    H.assert_fails("TIMEOUT", nil, pc:read_from()) -- a passed deadline stays passed
    pc:set_read_deadline(nil)
    lu.assertEquals({ pc:read_from() }, { "later", path })
  end)
end

function TestDeadline:test_unix_packet_deadlines()
  H.run(function()
    local client, server = packet_pair(self.dir)
    local deadline = luds.now() + 0.05
    server:set_deadline(deadline)
    H.assert_fails("TIMEOUT", nil, server:read())
    lu.assertTrue(luds.now() >= deadline, "returned before the deadline")
    server:set_deadline(luds.now() + 5)
    client:write("in time")
    lu.assertEquals(server:read(), "in time")
    server:set_deadline(nil)
    client:write("cleared")
    lu.assertEquals(server:read(), "cleared")
  end)
end

luds.exit(T.run())
