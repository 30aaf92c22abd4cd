-- Unix stream sockets in one process: echo, reads, half-close, every bad input,
-- closed objects, deadlines, misuse, lifecycle.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

local BIG = 8 * 1024 * 1024 -- far more than a unix socket buffers, so writes park

TestEcho = H.suite()

-- Port of TestEchoServerUnix ("Network Programming with Go", ch. 7).
function TestEcho:test_echo_server_unix()
  H.run(function()
    local path = self.dir .. "/echo.sock"
    local ln = assert(luds.listen("unix", path))
    lu.assertEquals(ln:addr(), path)
    local server = luds.spawn(luds.serve, ln, H.echo)
    local conn <close> = assert(luds.dial("unix", path))
    for _ = 1, 3 do lu.assertEquals(conn:write("ping"), 4) end
    lu.assertEquals(conn:read_full(12), "pingpingping")
    lu.assertTrue(ln:close())
    lu.assertEquals({ server:wait(1) }, { true, true })
    lu.assertFalse(H.exists(path))
  end)
end

function TestEcho:test_addresses()
  H.run(function()
    local client, server, ln, path = H.pair(self.dir)
    lu.assertEquals(client:remote_addr(), path)
    lu.assertEquals(client:local_addr(), "")
    lu.assertEquals(server:local_addr(), path)
    lu.assertEquals(server:remote_addr(), "")
    for _, obj in ipairs({ ln, client, server }) do
      lu.assertEquals(math.type(obj:fd()), "integer")
      lu.assertTrue(obj:fd() >= 0)
    end
  end)
end

TestRead = H.suite()

function TestRead:test_read_max_then_rest()
  H.run(function()
    local client, server = T.pair()
    lu.assertEquals(client:write("hello world"), 11)
    lu.assertEquals(client:write(""), 0)
    lu.assertEquals(server:read(5), "hello")
    lu.assertEquals(server:read(), " world")
  end)
end

function TestRead:test_read_at_end_of_stream()
  H.run(function()
    local client, server = T.pair()
    client:close()
    lu.assertEquals({ server:read() }, { nil, "EOF", "EOF" })
    lu.assertEquals({ server:read() }, { nil, "EOF", "EOF" })
  end)
end

function TestRead:test_read_line()
  H.run(function()
    local client, server = T.pair()
    client:write("one\n\nthree\nlast")
    client:close_write()
    lu.assertEquals(server:read_line(), "one")
    lu.assertEquals(server:read_line(), "")
    lu.assertEquals(server:read_line(), "three")
    lu.assertEquals(server:read_line(), "last")
    lu.assertEquals({ server:read_line() }, { nil, "EOF", "EOF" })
  end)
end

function TestRead:test_read_line_across_writes()
  H.run(function()
    local client, server = T.pair()
    client:write("hel")
    local reader = luds.spawn(server.read_line, server)
    H.wait_parked(reader)
    client:write("lo\nrest")
    lu.assertEquals({ reader:wait(1) }, { true, "hello" })
    lu.assertEquals(server:read(), "rest")
  end)
end

function TestRead:test_read_line_longer_than_a_read()
  H.run(function()
    local client, server = T.pair()
    local line = ("x"):rep(100000)
    local writer = luds.spawn(client.write, client, line .. "\ntail\n")
    lu.assertEquals(server:read_line(), line)
    lu.assertEquals(server:read_line(), "tail")
    lu.assertEquals({ writer:wait(1) }, { true, #line + 6 })
  end)
end

function TestRead:test_read_full_waits_for_all()
  H.run(function()
    local client, server = T.pair()
    client:write("abc")
    local reader = luds.spawn(server.read_full, server, 8)
    H.wait_parked(reader)
    client:write("defghij")
    lu.assertEquals({ reader:wait(1) }, { true, "abcdefgh" })
    lu.assertEquals(server:read(), "ij")
  end)
end

function TestRead:test_read_full_eof_keeps_partial()
  H.run(function()
    local client, server = T.pair()
    client:write("xy")
    client:close_write()
    H.assert_fails("EOF", nil, server:read_full(5))
    lu.assertEquals(server:read(), "xy")
    lu.assertEquals({ server:read() }, { nil, "EOF", "EOF" })
  end)
end

function TestRead:test_close_write_peer_sees_eof()
  H.run(function()
    local client, server = T.pair()
    lu.assertEquals(client:write("bye"), 3)
    lu.assertTrue(client:close_write())
    lu.assertEquals(server:read_full(3), "bye")
    lu.assertEquals({ server:read() }, { nil, "EOF", "EOF" })
    -- Half-close: the other direction still works.
    lu.assertEquals(server:write("ack"), 3)
    lu.assertEquals(client:read(), "ack")
  end)
end

TestBadInput = H.suite()

function TestBadInput:test_listen_on_live_socket_is_eaddrinuse()
  H.run(function()
    local path = self.dir .. "/live.sock"
    local ln = assert(luds.listen("unix", path))
    local server = luds.spawn(luds.serve, ln, H.echo)
    H.assert_fails("EADDRINUSE", "listen unix " .. path .. ": address already in use",
      luds.listen("unix", path))
    local c <close> = assert(luds.dial("unix", path))
    c:write("still here")
    lu.assertEquals(c:read_full(10), "still here")
    ln:close()
    lu.assertEquals({ server:wait(1) }, { true, true })
  end)
end

function TestBadInput:test_listen_on_regular_file_leaves_it()
  H.run(function()
    local path = self.dir .. "/precious.txt"
    H.spit(path, "precious\n")
    H.assert_fails("EEXIST", "listen unix " .. path .. ": file exists", luds.listen("unix", path))
    lu.assertEquals(H.slurp(path), "precious\n")
  end)
end

-- sun_path holds 108 bytes with its NUL: 107 fit, longer paths fail, never truncate.
function TestBadInput:test_path_longer_than_sun_path()
  H.run(function()
    local function path_of(len) return self.dir .. "/" .. ("s"):rep(len - #self.dir - 1) end
    local fits = path_of(107)
    local ln = assert(luds.listen("unix", fits))
    lu.assertEquals(ln:addr(), fits)
    ln:close()
    for _, len in ipairs({ 109, 300 }) do
      local long = path_of(len)
      lu.assertEquals(#long, len)
      H.assert_fails("ENAMETOOLONG", "listen unix " .. long .. ": file name too long",
        luds.listen("unix", long))
      H.assert_fails("ENAMETOOLONG", "dial unix " .. long .. ": file name too long",
        luds.dial("unix", long))
    end
    lu.assertEquals(H.ls(self.dir), "")
  end)
end

function TestBadInput:test_path_with_nul_byte()
  H.run(function()
    local path = self.dir .. "/a\0b.sock"
    local shown = self.dir .. "/a\\0b.sock" -- the message shows the NUL as \0
    H.assert_fails("EINVAL", "listen unix " .. shown .. ": path contains a NUL byte",
      luds.listen("unix", path))
    H.assert_fails("EINVAL", "dial unix " .. shown .. ": path contains a NUL byte",
      luds.dial("unix", path))
    lu.assertEquals(H.ls(self.dir), "")
  end)
end

-- Each malformed host:port says what is wrong with it (names that are well
-- formed are looked up: resolve_spec).
function TestBadInput:test_malformed_host_port()
  local host = ": invalid host (want a host name or a numeric address)"
  local family = ": no suitable address found (not of the network's IP version)"
  local port = ": invalid port (want 0 to 65535)"
  local noport = ": missing port in address (want host:port or [v6]:port)"
  local brackets = ": missing brackets around IPv6 address (want [v6]:port)"
  local cases = {
    { "dial", "tcp", "[example.com]:80", host }, { "dial", "tcp4", "[::1]:80", family },
    { "dial", "tcp6", "127.0.0.1:80", family }, { "listen", "tcp", "[zz]:80", host },
    { "dial", "tcp", "-bad-.test:80", host }, { "dial", "tcp", "a..b:80", host },
    { "listen", "tcp", "127.0.0.1:65536", port }, { "listen", "tcp", "127.0.0.1:8x", port },
    { "listen", "tcp", "127.0.0.1:-1", port }, { "dial", "tcp", "[::1]:99999", port },
    { "listen", "tcp", "127.0.0.1", noport }, { "dial", "tcp6", "[::1]", noport },
    { "listen", "tcp", "::1:80", brackets }, { "dial", "tcp6", "fe80::1:80", brackets },
    { "listen_packet", "udp", "127.0.0.1:70000", port }, { "listen_packet", "udp6", "::1:53", brackets },
  }
  H.run(function()
    for _, c in ipairs(cases) do
      local op, network, address, why = table.unpack(c)
      H.assert_fails("EINVAL", ("%s %s %s%s"):format(op == "listen_packet" and "listen" or op,
        network, address, why), luds[op](network, address))
    end
    H.assert_fails("EINVAL", "listen tcp" .. noport, luds.listen("tcp", ""))
  end)
end

function TestBadInput:test_listen_in_missing_directory()
  H.run(function()
    local path = self.dir .. "/missing/x.sock"
    H.assert_fails("ENOENT", "listen unix " .. path .. ": no such file or directory",
      luds.listen("unix", path))
  end)
end

function TestBadInput:test_dial_missing_path()
  H.run(function()
    local path = self.dir .. "/missing.sock"
    H.assert_fails("ENOENT", "dial unix " .. path .. ": no such file or directory",
      luds.dial("unix", path))
  end)
end

function TestBadInput:test_dial_stale_socket_is_refused()
  H.run(function()
    local path = self.dir .. "/stale.sock"
    H.stale_socket(path)
    H.assert_fails("ECONNREFUSED", "dial unix " .. path .. ": connection refused",
      luds.dial("unix", path))
    lu.assertTrue(H.exists(path))
  end)
end

function TestBadInput:test_dial_regular_file_is_refused()
  H.run(function()
    local path = self.dir .. "/plain.txt"
    H.spit(path, "plain")
    H.assert_fails("ECONNREFUSED", "dial unix " .. path .. ": connection refused",
      luds.dial("unix", path))
    lu.assertEquals(H.slurp(path), "plain")
  end)
end

TestClosed = H.suite()

function TestClosed:test_closed_listener()
  H.run(function()
    local path = self.dir .. "/ln.sock"
    local ln = assert(luds.listen("unix", path))
    lu.assertTrue(H.exists(path))
    lu.assertTrue(ln:close())
    lu.assertFalse(H.exists(path))
    H.assert_fails("CLOSED", nil, ln:close())
    H.assert_fails("CLOSED", nil, ln:accept())
  end)
end

function TestClosed:test_closed_conn()
  H.run(function()
    local client = T.pair()
    lu.assertTrue(client:close())
    H.assert_fails("CLOSED", nil, client:close())
    H.assert_fails("CLOSED", nil, client:read())
    H.assert_fails("CLOSED", nil, client:read_full(1))
    H.assert_fails("CLOSED", nil, client:read_line())
    H.assert_fails("CLOSED", nil, client:write("x"))
    H.assert_fails("CLOSED", nil, client:close_write())
  end)
end

function TestClosed:test_close_wakes_blocked_reader()
  H.run(function()
    local _, server = T.pair()
    local reader = luds.spawn(server.read, server)
    H.wait_parked(reader)
    server:close()
    local ok, v, msg, code = reader:wait(1)
    lu.assertTrue(ok)
    H.assert_fails("CLOSED", nil, v, msg, code)
  end)
end

function TestClosed:test_close_wakes_blocked_accept()
  H.run(function()
    local ln = assert(luds.listen("unix", self.dir .. "/ln.sock"))
    local acceptor = luds.spawn(ln.accept, ln)
    H.wait_parked(acceptor)
    ln:close()
    local ok, v, msg, code = acceptor:wait(1)
    lu.assertTrue(ok)
    H.assert_fails("CLOSED", nil, v, msg, code)
  end)
end

local function assert_broken_pipe(v, msg, code, written)
  lu.assertNil(v)
  lu.assertIsString(msg)
  lu.assertTrue(code == "EPIPE" or code == "ECONNRESET", "got code " .. tostring(code))
  lu.assertEquals(math.type(written), "integer")
  return written
end

function TestClosed:test_write_after_peer_closed_is_epipe()
  H.run(function()
    local client, server = T.pair()
    server:close()
    local chunk = ("z"):rep(65536)
    local results
    for _ = 1, 100 do
      results = table.pack(client:write(chunk))
      if not results[1] then break end
    end
    assert_broken_pipe(table.unpack(results, 1, 4))
    -- Still alive (SIGPIPE ignored) and able to serve other connections.
    local c2, s2 = H.pair(self.dir, "second.sock")
    c2:write("alive")
    lu.assertEquals(s2:read(), "alive")
  end)
end

function TestClosed:test_peer_close_wakes_blocked_writer()
  H.run(function()
    local client, server = T.pair()
    local writer = luds.spawn(client.write, client, ("w"):rep(BIG))
    H.wait_parked(writer)
    server:close()
    local ok, v, msg, code, written = writer:wait(1)
    lu.assertTrue(ok)
    written = assert_broken_pipe(v, msg, code, written)
    lu.assertTrue(written > 0 and written < BIG, "written " .. written)
  end)
end

TestDeadline = H.suite()

function TestDeadline:test_read_deadline_then_usable()
  H.run(function()
    local client, server = T.pair()
    local deadline = luds.now() + 0.05
    server:set_read_deadline(deadline)
    H.assert_fails("TIMEOUT", nil, server:read())
    lu.assertTrue(luds.now() >= deadline, "returned before the deadline")
    server:set_read_deadline(luds.now() + 5)
    client:write("after")
    lu.assertEquals(server:read(), "after")
    server:set_read_deadline(nil)
    client:write("cleared")
    lu.assertEquals(server:read(), "cleared")
  end)
end

function TestDeadline:test_read_full_timeout_keeps_partial()
  H.run(function()
    local client, server = T.pair()
    client:write("xy")
    server:set_deadline(luds.now() + 0.05)
    H.assert_fails("TIMEOUT", nil, server:read_full(5))
    server:set_deadline(nil)
    client:write("zzz")
    lu.assertEquals(server:read_full(5), "xyzzz")
  end)
end

function TestDeadline:test_read_line_deadline()
  H.run(function()
    local client, server = T.pair()
    client:write("no newline yet")
    server:set_deadline(luds.now() + 0.05)
    H.assert_fails("TIMEOUT", nil, server:read_line())
    server:set_deadline(nil)
    client:write("!\n")
    lu.assertEquals(server:read_line(), "no newline yet!")
  end)
end

function TestDeadline:test_write_deadline_reports_bytes_written()
  H.run(function()
    local client, server = T.pair()
    local data = ("w"):rep(BIG)
    -- An op that starts after its deadline writes nothing: leave it time to start.
    client:set_write_deadline(luds.now() + 0.2)
    local written = H.assert_fails("TIMEOUT", nil, client:write(data))
    lu.assertEquals(math.type(written), "integer")
    lu.assertTrue(written > 0 and written < BIG, "written " .. tostring(written))
    client:set_write_deadline(nil)
    lu.assertEquals(server:read_full(written), ("w"):rep(written))
    client:write("tail")
    lu.assertEquals(server:read_full(4), "tail")
  end)
end

function TestDeadline:test_accept_deadline()
  H.run(function()
    local path = self.dir .. "/ln.sock"
    local ln = assert(luds.listen("unix", path))
    local deadline = luds.now() + 0.05
    ln:set_deadline(deadline)
    H.assert_fails("TIMEOUT", nil, ln:accept())
    lu.assertTrue(luds.now() >= deadline, "returned before the deadline")
    ln:set_deadline(nil)
    local c <close> = assert(luds.dial("unix", path))
    local s <close> = assert(ln:accept())
    c:write("ok")
    lu.assertEquals(s:read(), "ok")
  end)
end

TestMisuse = H.suite()

function TestMisuse:test_wrong_argument_types()
  H.run(function()
    local client, _, ln = H.pair(self.dir)
    local path = self.dir .. "/x.sock"
    H.assert_raises({ "bad argument #1" }, luds.listen)
    H.assert_raises({ "bad argument #2" }, luds.listen, "unix", {})
    H.assert_raises({ "bad argument #3" }, luds.listen, "unix", path, 5)
    H.assert_raises({ "bad argument #2" }, luds.dial, "unix", nil)
    H.assert_raises({ "bad argument #3" }, luds.dial, "unix", path, "fast")
    H.assert_raises({ "bad argument" }, client.read, client, "x")
    H.assert_raises({ "bad argument" }, client.read_full, client, {})
    H.assert_raises({ "bad argument" }, client.write, client, {})
    H.assert_raises({ "bad argument" }, client.set_deadline, client, "soon")
    H.assert_raises({ "bad argument" }, ln.set_deadline, ln, {})
    H.assert_raises({ "bad argument #1" }, ln.accept, client)
    H.assert_raises({ "bad argument #1" }, client.read, ln)
    H.assert_raises({ "bad argument #1" }, luds.spawn, 42)
    H.assert_raises({ "bad argument #1" }, luds.sleep, "later")
    lu.assertFalse(H.exists(path))
  end)
end

function TestMisuse:test_unknown_networks()
  H.run(function()
    local path = self.dir .. "/x.sock"
    H.assert_raises({ "tcpx" }, luds.listen, "tcpx", path)
    H.assert_raises({ "tcpx" }, luds.dial, "tcpx", path)
    -- Datagram sockets are bound with listen_packet, not listen.
    H.assert_raises({ "unixgram" }, luds.listen, "unixgram", path)
    lu.assertEquals(H.ls(self.dir), "")
  end)
end

TestLifecycle = H.suite()

function TestLifecycle:test_tostring_exact()
  H.run(function()
    local client, server, ln, path = H.pair(self.dir)
    lu.assertEquals(tostring(ln), "unix listener " .. path)
    lu.assertEquals(tostring(client), "unix conn -> " .. path)
    lu.assertEquals(tostring(server), "unix conn " .. path)
    local pc <close> = assert(luds.listen_packet("unixgram", self.dir .. "/g.sock"))
    lu.assertEquals(tostring(pc), "unixgram packet conn " .. self.dir .. "/g.sock")
    client:close()
    lu.assertEquals(tostring(client), "unix conn (closed)")
  end)
end

function TestLifecycle:test_tostring_shows_closed()
  H.run(function()
    local client, server, ln, path = H.pair(self.dir)
    for _, obj in ipairs({ ln, client }) do
      lu.assertStrContains(tostring(obj), path)
      lu.assertNotStrContains(tostring(obj), "(closed)")
      obj:close()
      lu.assertStrContains(tostring(obj), "(closed)")
    end
    lu.assertNotStrContains(tostring(server), "(closed)")
    server:close()
    lu.assertStrContains(tostring(server), "(closed)")
  end)
end

function TestLifecycle:test_close_attribute()
  H.run(function()
    local path = self.dir .. "/scoped.sock"
    local kept_ln, kept_conn, server
    do
      local ln <close> = assert(luds.listen("unix", path))
      local c <close> = assert(luds.dial("unix", path))
      server = assert(ln:accept())
      kept_ln, kept_conn = ln, c
    end
    lu.assertStrContains(tostring(kept_ln), "(closed)")
    lu.assertStrContains(tostring(kept_conn), "(closed)")
    lu.assertFalse(H.exists(path))
    lu.assertEquals({ server:read() }, { nil, "EOF", "EOF" })
  end)
end

function TestLifecycle:test_gc_closes_conn()
  H.run(function()
    local client, server = H.pair(self.dir)
    client = nil
    collectgarbage()
    collectgarbage()
    lu.assertEquals({ server:read() }, { nil, "EOF", "EOF" })
  end)
end

function TestLifecycle:test_second_reader_is_busy()
  H.run(function()
    local client, server = T.pair()
    local reader = luds.spawn(server.read, server)
    H.wait_parked(reader)
    H.assert_fails("BUSY", nil, server:read())
    H.assert_fails("BUSY", nil, server:read_line())
    client:write("x")
    lu.assertEquals({ reader:wait(1) }, { true, "x" })
  end)
end

function TestLifecycle:test_second_writer_is_busy()
  H.run(function()
    local client, server = T.pair()
    local writer = luds.spawn(client.write, client, ("w"):rep(BIG))
    H.wait_parked(writer)
    H.assert_fails("BUSY", nil, client:write("y"))
    lu.assertEquals(server:read_full(BIG), ("w"):rep(BIG))
    lu.assertEquals({ writer:wait(1) }, { true, BIG })
  end)
end

luds.exit(T.run())
