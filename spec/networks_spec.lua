-- One API for every network (issue 8): one echo body run over unix,
-- unixpacket, tcp and tcp6, paths and abstract names alike, and one datagram
-- body over unixgram and udp, changing only the network and the address; the
-- rules of the abstract namespace; the example servers given a network.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

local EXAMPLE = {
  unix = H.ROOT .. "/examples/echo_unix.lua",
  unixgram = H.ROOT .. "/examples/echo_unixgram.lua",
  unixpacket = H.ROOT .. "/examples/echo_unixpacket.lua",
}
local USAGE = {
  unix = "usage: luds echo_unix.lua [serve [NETWORK] ADDRESS | ping [NETWORK] ADDRESS [MESSAGE] [COUNT]]\n"
    .. "NETWORK: unix (the default), tcp, tcp4 or tcp6\n",
  unixgram = "usage: luds echo_unixgram.lua [serve [NETWORK] ADDRESS | ping [NETWORK] ADDRESS [MESSAGE] [COUNT]]\n"
    .. "NETWORK: unixgram (the default), udp, udp4 or udp6\n",
  unixpacket = "usage: luds echo_unixpacket.lua [serve [NETWORK] ADDRESS | ping [NETWORK] ADDRESS [MESSAGE] [COUNT]]\n"
    .. "NETWORK: unixpacket (the default and the only one)\n",
}
local ABSTRACT_MAX = 107 -- sun_path holds 108 bytes; the leading NUL takes one
local CHILD_LIMIT = 20 -- seconds for tests that start processes (the sanitizer build is slow)

-- Sends the file argv[3] to host argv[1], port argv[2] over TCP, half-closes
-- and writes what comes back until EOF. A thread sends while the main thread
-- reads, so no buffer size can deadlock.
local PY_TCP_CLIENT = [[
import socket, sys, threading
host, port, data = sys.argv[1], int(sys.argv[2]), open(sys.argv[3], "rb").read()
s = socket.create_connection((host, port), timeout=10)
def send():
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=send)
t.start()
while True:
    b = s.recv(65536)
    if not b: break
    sys.stdout.buffer.write(b)
t.join()
]]

-- Every byte value, then enough of a pattern that a stream needs several reads.
local PAYLOADS = {}
do
  local bytes = {}
  for b = 0, 255 do bytes[#bytes + 1] = string.char(b) end
  PAYLOADS = { "hello", table.concat(bytes), H.pattern(60000) }
end

-- An abstract name no other test, run or process uses: the namespace is
-- shared by the whole machine, so it is made from the test's own temp dir.
local function abstract(dir, suffix)
  return "@luds-spec-" .. dir:match("[^/]+$") .. "-" .. suffix
end

-- Skips the test unless this machine has ::1 (containers may run without IPv6).
local function need_ipv6()
  local ln, msg, code = luds.listen("tcp6", "[::1]:0")
  if ln then return ln:close() end
  if code == "EADDRNOTAVAIL" or code == "EAFNOSUPPORT" then lu.skip("no ::1 here: " .. msg) end
  lu.fail("listen tcp6 [::1]:0: " .. msg)
end

-- Asserts that `bound`, the address a socket asked for `address` got, is
-- that address, with port 0 replaced by the port the kernel chose.
local function assert_bound(address, bound)
  local host = address:match("^(.*):0$")
  if not host then return lu.assertEquals(bound, address) end
  local port = tonumber(bound:match("^" .. host:gsub("%p", "%%%0") .. ":(%d+)$"))
  lu.assertNotNil(port, ("%s bound as %s"):format(address, bound))
  lu.assertTrue(port > 0 and port <= 65535, bound)
end

-- Reads exactly n bytes from conn, a stream (any number of reads) or a
-- packet conn (one message); a read returns at least one byte or fails.
local function read_exactly(conn, n)
  local got, len = {}, 0
  for _ = 1, n do
    if len >= n then break end
    local data = assert(conn:read())
    got[#got + 1], len = data, len + #data
  end
  return table.concat(got)
end

-- The one echo test: listen, accept in a task, dial the address the
-- listener reports, echo exact bytes, half-close, see EOF both ways.
local function echo_over(network, address)
  local ln = assert(luds.listen(network, address))
  local bound = ln:addr()
  assert_bound(address, bound)
  lu.assertEquals(tostring(ln), network .. " listener " .. bound)
  local server = luds.spawn(function()
    local conn <close> = assert(ln:accept())
    local names = { conn:local_addr(), conn:remote_addr() }
    while true do
      local data, _, code = conn:read()
      if not data then return code, names end
      assert(conn:write(data))
    end
  end)
  local conn <close> = assert(luds.dial(network, bound))
  lu.assertEquals(conn:remote_addr(), bound)
  for _, data in ipairs(PAYLOADS) do
    lu.assertEquals(conn:write(data), #data)
    lu.assertTrue(read_exactly(conn, #data) == data, ("%d bytes came back changed"):format(#data))
  end
  lu.assertTrue(conn:close_write())
  lu.assertEquals({ server:wait(1) }, { true, "EOF", { bound, conn:local_addr() } })
  lu.assertEquals({ conn:read() }, { nil, "EOF", "EOF" })
  lu.assertTrue(ln:close())
end

TestStreamEcho = H.suite()

function TestStreamEcho:test_unix_path()
  H.run(function() echo_over("unix", self.dir .. "/echo.sock") end)
  lu.assertEquals(H.ls(self.dir), "")
end

function TestStreamEcho:test_unix_abstract()
  H.run(function() echo_over("unix", abstract(self.dir, "unix")) end)
end

function TestStreamEcho:test_unixpacket_path()
  H.run(function() echo_over("unixpacket", self.dir .. "/echo.sock") end)
  lu.assertEquals(H.ls(self.dir), "")
end

function TestStreamEcho:test_unixpacket_abstract()
  H.run(function() echo_over("unixpacket", abstract(self.dir, "unixpacket")) end)
end

function TestStreamEcho:test_tcp()
  H.run(function() echo_over("tcp", "127.0.0.1:0") end)
end

function TestStreamEcho:test_tcp4()
  H.run(function() echo_over("tcp4", "127.0.0.1:0") end)
end

function TestStreamEcho:test_tcp6()
  need_ipv6()
  H.run(function() echo_over("tcp6", "[::1]:0") end)
end

-- The one datagram test: bind, dial the address the socket reports, and
-- see each datagram arrive whole from the client's address and go back.
local function datagrams_over(network, address)
  local server <close> = assert(luds.listen_packet(network, address))
  local bound = server:local_addr()
  assert_bound(address, bound)
  local client <close> = assert(luds.dial(network, bound))
  lu.assertEquals(client:remote_addr(), bound)
  local me = client:local_addr() -- an autobound @name or an ephemeral port
  lu.assertNotEquals(me, "")
  lu.assertEquals(tostring(client), ("%s packet conn %s -> %s"):format(network, me, bound))
  for _, data in ipairs({ "", table.unpack(PAYLOADS) }) do
    lu.assertEquals(client:write(data), #data)
    local got, from = server:read_from()
    lu.assertTrue(got == data, ("a datagram of %d bytes came as %s"):format(#data, #tostring(got)))
    lu.assertEquals(from, me)
    lu.assertEquals(server:write_to(data, from), #data)
    lu.assertTrue(client:read() == data, ("the %d-byte reply differs"):format(#data))
  end
end

TestDatagramEcho = H.suite()

function TestDatagramEcho:test_unixgram_path()
  H.run(function() datagrams_over("unixgram", self.dir .. "/echo.sock") end)
end

function TestDatagramEcho:test_unixgram_abstract()
  H.run(function() datagrams_over("unixgram", abstract(self.dir, "unixgram")) end)
  lu.assertEquals(H.ls(self.dir), "")
end

function TestDatagramEcho:test_udp()
  H.run(function() datagrams_over("udp", "127.0.0.1:0") end)
end

function TestDatagramEcho:test_udp4()
  H.run(function() datagrams_over("udp4", "127.0.0.1:0") end)
end

function TestDatagramEcho:test_udp6()
  need_ipv6()
  H.run(function() datagrams_over("udp6", "[::1]:0") end)
end

local UNIX_KINDS = { "unix", "unixpacket", "unixgram" }

-- A server on network at name and a client dialed to it; for a connection
-- network also the accepted conn. The one difference: listen_packet.
local function open(network, name)
  if network == "unixgram" then
    local pc = assert(luds.listen_packet(network, name))
    return pc, assert(luds.dial(network, name))
  end
  local ln = assert(luds.listen(network, name))
  local client = assert(luds.dial(network, name))
  return ln, client, assert(ln:accept())
end

local function listen(network, name)
  return (network == "unixgram" and luds.listen_packet or luds.listen)(network, name)
end

-- Sends one message from client and asserts the server side got exactly it.
local function assert_delivers(network, client, server, accepted)
  lu.assertEquals(client:write("across"), 6)
  if network == "unixgram" then
    lu.assertEquals({ server:read_from() }, { "across", client:local_addr() })
  else
    lu.assertEquals(accepted:read(), "across")
  end
end

-- Whether a file named like the abstract name (with or without its "@")
-- exists in the current directory.
local function in_cwd(name)
  return H.exists(name) or H.exists(name:sub(2))
end

TestAbstract = H.suite()

function TestAbstract:test_no_file_and_names_print_with_at()
  H.run(function()
    for _, network in ipairs(UNIX_KINDS) do
      local name = abstract(self.dir, network)
      local server, client, accepted = open(network, name)
      assert_delivers(network, client, server, accepted)
      lu.assertEquals(client:remote_addr(), name)
      if accepted then
        lu.assertEquals(server:addr(), name)
        lu.assertEquals(accepted:local_addr(), name)
        lu.assertEquals(tostring(server), network .. " listener " .. name)
      else
        lu.assertEquals(server:local_addr(), name)
        lu.assertEquals(tostring(server), network .. " packet conn " .. name)
      end
      local me = client:local_addr() -- "" for unix, autobound for the others
      lu.assertEquals(tostring(client), ("%s %s%s -> %s"):format(network,
        network == "unix" and "conn" or "packet conn", me ~= "" and " " .. me or "", name))
      lu.assertEquals(H.ls(self.dir), "")
      lu.assertFalse(in_cwd(name), network)
      for _, obj in ipairs({ server, client, accepted }) do lu.assertTrue(obj:close()) end
      lu.assertFalse(in_cwd(name), network)
    end
  end)
  lu.assertEquals(H.ls(self.dir), "")
end

function TestAbstract:test_close_frees_the_name_at_once()
  H.run(function()
    for _, network in ipairs(UNIX_KINDS) do
      local name = abstract(self.dir, network)
      for _ = 1, 3 do
        local server, client, accepted = open(network, name)
        assert_delivers(network, client, server, accepted)
        for _, obj in ipairs({ server, client, accepted }) do lu.assertTrue(obj:close()) end
        H.assert_fails("ECONNREFUSED", ("dial %s %s: connection refused"):format(network, name),
          luds.dial(network, name))
      end
    end
  end)
  lu.assertEquals(H.ls(self.dir), "")
end

function TestAbstract:test_name_in_use_is_eaddrinuse()
  H.run(function()
    for _, network in ipairs(UNIX_KINDS) do
      local name = abstract(self.dir, network)
      local first <close> = assert(listen(network, name))
      H.assert_fails("EADDRINUSE", ("listen %s %s: address already in use"):format(network, name),
        listen(network, name))
      lu.assertTrue(first:close())
      local again <close> = assert(listen(network, name))
    end
  end)
end

function TestAbstract:test_name_longer_than_107_bytes_is_enametoolong()
  H.run(function()
    for _, network in ipairs(UNIX_KINDS) do
      local prefix = abstract(self.dir, network)
      local longest = prefix .. ("x"):rep(ABSTRACT_MAX - #prefix + 1)
      lu.assertEquals(#longest, 1 + ABSTRACT_MAX)
      local server, client, accepted = open(network, longest)
      assert_delivers(network, client, server, accepted)
      lu.assertEquals(client:remote_addr(), longest)
      for _, obj in ipairs({ server, client, accepted }) do obj:close() end
      local long = longest .. "x"
      H.assert_fails("ENAMETOOLONG", ("listen %s %s: file name too long"):format(network, long),
        listen(network, long))
      H.assert_fails("ENAMETOOLONG", ("dial %s %s: file name too long"):format(network, long),
        luds.dial(network, long))
    end
  end)
end

-- The kernel compares abstract names as bytes of a given length: a NUL
-- inside one is a byte like any other, and the name is not its prefix.
function TestAbstract:test_name_with_nul_byte_is_a_name_of_its_own()
  H.run(function()
    for _, network in ipairs(UNIX_KINDS) do
      local prefix = abstract(self.dir, network)
      local name = prefix .. "\0tail"
      local server, client, accepted = open(network, name)
      local other <close> = assert(listen(network, prefix))
      assert_delivers(network, client, server, accepted)
      H.assert_fails("EADDRINUSE", nil, listen(network, name))
      for _, obj in ipairs({ server, client, accepted }) do lu.assertTrue(obj:close()) end
      H.assert_fails("ECONNREFUSED", nil, luds.dial(network, name))
    end
  end)
end

-- Abstract names may hold NUL bytes: addresses read back whole; messages
-- show each NUL as \0.
function TestAbstract:test_name_with_nul_byte_reads_back_whole()
  H.run(function()
    for _, network in ipairs(UNIX_KINDS) do
      local name = abstract(self.dir, network) .. "\0tail"
      local server, client, accepted = open(network, name)
      lu.assertEquals(client:remote_addr(), name)
      lu.assertEquals(accepted and server:addr() or server:local_addr(), name)
      if accepted then lu.assertEquals(accepted:local_addr(), name) end
      H.assert_fails("EADDRINUSE", ("listen %s %s: address already in use")
        :format(network, (name:gsub("%z", "\\0"))), listen(network, name))
      for _, obj in ipairs({ server, client, accepted }) do obj:close() end
    end
  end)
end

-- Starts example `kind` with `serve ARGS` and returns the child and the
-- address from its "listening on" line (printed once it can serve).
local function start_example(dir, kind, args)
  local p = H.start(("%s %s serve %s"):format(H.q(H.LUDS), H.q(EXAMPLE[kind]), args))
  local addr = H.wait_for("the " .. kind .. " example to listen", function()
    local rc = H.exited(p)
    if rc then lu.fail(("server exited (%d): %s"):format(rc, p:stderr())) end
    return (p:stdout() or ""):match("^listening on (.-)\n")
  end)
  return p, addr
end

-- Runs example `kind` with `args`; returns stdout, stderr and exit status.
local function run_example(kind, args)
  return H.exec(("%s %s %s"):format(H.q(H.LUDS), H.q(EXAMPLE[kind]), args))
end

local PINGED = "sent: hello\nreceived: hello\nsent: hello\nreceived: hello\n"

TestExamples = H.suite()

function TestExamples:test_echo_unix_over_tcp()
  H.run(function()
    local server, addr = start_example(self.dir, "unix", "tcp 127.0.0.1:0")
    assert_bound("127.0.0.1:0", addr)
    lu.assertEquals({ run_example("unix", "ping tcp " .. H.q(addr) .. " hello 2") }, { PINGED, "", 0 })
    lu.assertEquals(H.stop(server, "TERM"), 143)
    lu.assertEquals(server:stdout(), "listening on " .. addr .. "\n")
    lu.assertEquals(server:stderr(), "")
  end, CHILD_LIMIT)
end

function TestExamples:test_python_client_over_tcp()
  H.run(function()
    local server, addr = start_example(self.dir, "unix", "tcp 127.0.0.1:0")
    local host, port = addr:match("^(.*):(%d+)$")
    local file = self.dir .. "/payload"
    for _, data in ipairs({ "hello, tcp\n", PAYLOADS[2], H.pattern(100 * 1024) }) do
      H.spit(file, data)
      local out, err, status = H.exec(("python3 -c %s %s %s %s")
        :format(H.q(PY_TCP_CLIENT), host, port, H.q(file)))
      lu.assertEquals({ err, status }, { "", 0 })
      lu.assertTrue(out == data, ("%d bytes sent, %d came back, or changed"):format(#data, #out))
    end
    lu.assertEquals(H.stop(server, "TERM"), 143)
  end, CHILD_LIMIT)
end

function TestExamples:test_echo_unixgram_over_udp()
  H.run(function()
    local server, addr = start_example(self.dir, "unixgram", "udp 127.0.0.1:0")
    assert_bound("127.0.0.1:0", addr)
    lu.assertEquals({ run_example("unixgram", "ping udp " .. H.q(addr) .. " hello 2") },
      { PINGED, "", 0 })
    lu.assertEquals(H.stop(server, "TERM"), 143)
    lu.assertEquals(server:stdout(), "listening on " .. addr .. "\n")
  end, CHILD_LIMIT)
end

-- Each example named with its own network and an abstract address, then
-- pinged both with the network and without it (the default).
function TestExamples:test_own_network_named_with_abstract_address()
  H.run(function()
    for _, kind in ipairs(UNIX_KINDS) do
      local name = abstract(self.dir, kind)
      local server, addr = start_example(self.dir, kind, kind .. " " .. H.q(name))
      lu.assertEquals(addr, name)
      for _, args in ipairs({ kind .. " " .. H.q(name), H.q(name) }) do
        lu.assertEquals({ run_example(kind, "ping " .. args .. " hello 2") }, { PINGED, "", 0 })
      end
      lu.assertEquals(H.stop(server, "TERM"), 143)
    end
  end, CHILD_LIMIT)
end

-- A network of another kind, or a word that is no network where one must
-- be, prints the usage and exits 2 without touching any socket.
function TestExamples:test_wrong_network_prints_usage()
  H.run(function()
    local cases = {
      unix = { "serve udp 127.0.0.1:0", "serve unixgram @x", "serve unixpacket @x",
        "ping udp 127.0.0.1:1", "serve sctp 127.0.0.1:0", "ping sctp 127.0.0.1:1 hello 2", "serve tcp" },
      unixgram = { "serve tcp 127.0.0.1:0", "serve unix @x", "ping tcp6 [::1]:1 hello 2",
        "serve sctp 127.0.0.1:0", "ping udp" },
      unixpacket = { "serve tcp 127.0.0.1:0", "serve unix @x", "ping unixgram @x",
        "serve udp 127.0.0.1:0", "ping unixpacket" },
    }
    for _, kind in ipairs(UNIX_KINDS) do
      for _, args in ipairs(cases[kind]) do
        lu.assertEquals({ kind, args, run_example(kind, args) }, { kind, args, "", USAGE[kind], 2 })
      end
    end
  end, CHILD_LIMIT)
end

luds.exit(T.run())
