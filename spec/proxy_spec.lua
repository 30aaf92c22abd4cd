-- PROXY protocol listeners (issue 15, item 2): the real haproxy (v1, v2 with
-- CRC32C and TLVs, LOCAL health checks) and nginx in front of a luds server
-- on a unix socket; hand-made valid headers of every kind; malformed,
-- truncated and late ones refused with an exact log line, while the accept
-- loop keeps serving everyone else; bytes after a header kept byte-exact.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

-- In /usr/sbin, which need not be on PATH; else wherever PATH has them.
local function sbin(name)
  if H.exists("/usr/sbin/" .. name) then return "/usr/sbin/" .. name end
  local out, status = H.sh("command -v " .. name)
  return status == 0 and out:gsub("\n$", "") or nil
end

local HAPROXY = sbin("haproxy")
local NGINX = sbin("nginx")
local STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"

local SIG = "\r\n\r\n\0\r\nQUIT\n"

-- A v2 header: version/command byte, family/transport byte, then body.
local function v2(ver_cmd, fam, body)
  return SIG .. string.char(ver_cmd, fam) .. string.pack(">I2", #body) .. body
end

local function tlv(type, value) return string.char(type) .. string.pack(">I2", #value) .. value end

local function ip4(s) return string.char(s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")) end

local function inet4(src, dst, sport, dport)
  return ip4(src) .. ip4(dst) .. string.pack(">I2I2", sport, dport)
end

local V6_DOC = "\32\1\13\184" .. ("\0"):rep(11) .. "\1" -- 2001:db8::1
local V6_LOOP = ("\0"):rep(15) .. "\1"                  -- ::1

local function unix108(name) return name .. ("\0"):rep(108 - #name) end

-- What a handler saw of its conn, as one line.
local function describe(c)
  local p = c:proxied()
  if not p then return "no header" end
  local tlvs = {}
  for _, t in ipairs(p.tlvs) do
    tlvs[#tlvs + 1] = t.type .. "=" .. (t.type == 3 and #t.value .. " bytes" or t.value)
  end
  return ("v%d %s %s remote=%s local=%s tlvs=%s"):format(p.version, p.command, p.net or "-",
    c:remote_addr(), c:local_addr(), table.concat(tlvs, ","))
end

-- Dials path, writes data, accepts on ln; returns the accepted conn and the client.
local function through(ln, path, data)
  local c = assert(luds.dial("unix", path))
  assert(c:write(data))
  local s, msg = ln:accept()
  assert(s, msg)
  return s, c
end

-- A port on host that was free a moment ago (a listener's, closed again).
local function free_port(net, host)
  local ln = assert(luds.listen(net, host .. ":0"))
  local port = ln:addr():match(":(%d+)$")
  ln:close()
  return port
end

TestHeaders = H.suite()

-- describe() of the conn accepted after data was sent, and the bytes that
-- followed the header.
local function seen(ln, path, data)
  local s, c = through(ln, path, data)
  c:close_write()
  local d, rest = describe(s), H.read_all(s)
  s:close() c:close()
  return d .. (rest ~= "" and " then " .. rest or "")
end

function TestHeaders:test_v1_tcp4_tcp6_unknown()
  H.run(function()
    local path = self.dir .. "/p.sock"
    local ln <close> = assert(luds.listen("unix", path, { proxy = true }))
    local s, c = through(ln, path, "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET /\r\n")
    lu.assertEquals(describe(s), "v1 PROXY tcp4 remote=192.168.0.1:56324 local=192.168.0.11:443 tlvs=")
    lu.assertEquals(s:proxied(), { version = 1, command = "PROXY", net = "tcp4",
      src = "192.168.0.1:56324", dst = "192.168.0.11:443", tlvs = {} })
    lu.assertEquals(s:read_line(), "GET /\r")
    lu.assertEquals(tostring(s), "unix conn 192.168.0.11:443 -> 192.168.0.1:56324")
    s:close() c:close()
    lu.assertEquals(seen(ln, path, "PROXY TCP6 2001:db8::1 ::1 65535 0\r\n"),
      "v1 PROXY tcp6 remote=[2001:db8::1]:65535 local=[::1]:0 tlvs=")
    -- UNKNOWN: the real endpoints stand (an unnamed unix client: "")
    lu.assertEquals(seen(ln, path, "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nx"),
      ("v1 PROXY - remote= local=%s tlvs= then x"):format(path))
  end)
end

function TestHeaders:test_v2_every_family()
  H.run(function()
    local path = self.dir .. "/p.sock"
    local ln <close> = assert(luds.listen("unix", path, { proxy = "v2" }))
    local body = inet4("1.2.3.4", "10.0.0.1", 5678, 80) .. tlv(1, "h2") .. tlv(2, "example.com")
      .. tlv(0xe0, "")
    local s, c = through(ln, path, v2(0x21, 0x11, body))
    lu.assertEquals(s:proxied(), { version = 2, command = "PROXY", net = "tcp4",
      src = "1.2.3.4:5678", dst = "10.0.0.1:80", tlvs = { { type = 1, value = "h2" },
      { type = 2, value = "example.com" }, { type = 224, value = "" } } })
    s:close() c:close()
    local cases = {
      { v2(0x21, 0x11, body) .. "data",
        "v2 PROXY tcp4 remote=1.2.3.4:5678 local=10.0.0.1:80 tlvs=1=h2,2=example.com,224= then data" },
      { v2(0x21, 0x21, V6_DOC .. V6_LOOP .. string.pack(">I2I2", 443, 8443)),
        "v2 PROXY tcp6 remote=[2001:db8::1]:443 local=[::1]:8443 tlvs=" },
      { v2(0x21, 0x12, inet4("9.9.9.9", "8.8.8.8", 53, 5353)),
        "v2 PROXY udp4 remote=9.9.9.9:53 local=8.8.8.8:5353 tlvs=" },
      { v2(0x21, 0x31, unix108("/run/client.sock") .. unix108("\0srv")),
        "v2 PROXY unix remote=/run/client.sock local=@srv tlvs=" },
      { v2(0x21, 0x32, unix108("") .. unix108("/run/dgram.sock")),
        "v2 PROXY unixgram remote= local=/run/dgram.sock tlvs=" },
      -- LOCAL (health checks) and UNSPEC: the real endpoints stand,
      -- whatever the address block holds.
      { v2(0x20, 0x00, ""), ("v2 LOCAL - remote= local=%s tlvs="):format(path) },
      { v2(0x20, 0x11, inet4("1.2.3.4", "5.6.7.8", 1, 2)) .. "after",
        ("v2 LOCAL - remote= local=%s tlvs= then after"):format(path) },
      { v2(0x21, 0x00, tlv(1, "ignored")), ("v2 PROXY - remote= local=%s tlvs="):format(path) },
    }
    for _, case in ipairs(cases) do lu.assertEquals(seen(ln, path, case[1]), case[2]) end
    s, c = through(ln, path, v2(0x20, 0x00, ""))
    lu.assertEquals(s:proxied(), { version = 2, command = "LOCAL", tlvs = {} })
    s:close() c:close()
  end)
end

-- The longest v2 header (a 16-bit length: 65,535 bytes after the first 16)
-- is read whole, its TLV exact, and the bytes after it kept.
function TestHeaders:test_v2_longest_header()
  H.run(function()
    local path = self.dir .. "/p.sock"
    local ln <close> = assert(luds.listen("unix", path, { proxy = true }))
    local addr = inet4("1.2.3.4", "5.6.7.8", 1, 2)
    local pad = H.pattern(65535 - #addr - 3)
    local header = v2(0x21, 0x11, addr .. tlv(4, pad))
    lu.assertEquals(#header, 16 + 65535)
    local c = assert(luds.dial("unix", path))
    local w = luds.spawn(function() assert(c:write(header .. "after")) end)
    local s = assert(ln:accept())
    local tlvs = s:proxied().tlvs
    lu.assertEquals(#tlvs, 1)
    lu.assertEquals(tlvs[1].type, 4)
    lu.assertTrue(tlvs[1].value == pad, "the TLV differs")
    lu.assertEquals(s:read_full(5), "after")
    lu.assertTrue(w:wait(5))
    s:close() c:close()
  end)
end

-- A header may come in pieces: one byte at a time still works, for both
-- versions, and accept meanwhile serves a conn that sent its header whole.
function TestHeaders:test_header_one_byte_at_a_time()
  H.run(function()
    local path = self.dir .. "/p.sock"
    local ln <close> = assert(luds.listen("unix", path, { proxy = true }))
    for _, header in ipairs({ "PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n",
      v2(0x21, 0x11, inet4("1.2.3.4", "5.6.7.8", 1111, 2222) .. tlv(4, ("\0"):rep(40))) }) do
      local slow = assert(luds.dial("unix", path))
      local writer = luds.spawn(function()
        for i = 1, #header do
          assert(slow:write(header:sub(i, i)))
          luds.sleep(0.001)
        end
        assert(slow:write("tail"))
      end)
      local s, c = through(ln, path, "PROXY TCP4 9.9.9.9 9.9.9.9 9 9\r\n")
      lu.assertEquals(s:remote_addr(), "9.9.9.9:9") -- the whole one first
      s:close() c:close()
      s = assert(ln:accept())
      lu.assertEquals(s:remote_addr(), "1.2.3.4:1111")
      lu.assertEquals(s:read_full(4), "tail")
      lu.assertTrue(writer:wait(5))
      s:close() slow:close()
    end
  end, 15)
end

-- Bytes that follow the header in the same write reach the handler exactly:
-- 200 KiB echoed through read/write, a line through read_line, a stream
-- through luds.copy, and a descriptor sent with them through recv_fds.
function TestHeaders:test_data_after_header_is_kept()
  H.run(function()
    local path = self.dir .. "/p.sock"
    local ln <close> = assert(luds.listen("unix", path, { proxy = true }))
    local data = H.pattern(200 * 1024)
    for _, echo in ipairs({ H.echo, function(s) luds.copy(s, s) end }) do
      local c = assert(luds.dial("unix", path))
      local w = luds.spawn(function() assert(c:write("PROXY UNKNOWN\r\n" .. data)) c:close_write() end)
      local s = assert(ln:accept())
      local e = luds.spawn(function() echo(s) s:close_write() end)
      local got, ending = H.read_all(c)
      lu.assertEquals(#got, #data)
      lu.assertTrue(got == data, "the echo differs")
      lu.assertEquals(ending, { nil, "EOF", "EOF" })
      lu.assertTrue(w:wait(5))
      lu.assertTrue(e:wait(5))
      s:close() c:close()
    end
    local s, c = through(ln, path, v2(0x20, 0, "") .. "line one\nline two\n")
    lu.assertEquals({ s:read_line(), s:read_line() }, { "line one", "line two" })
    s:close() c:close()
    local f = assert(io.open(path:gsub("p%.sock$", "passed.txt"), "w"))
    c = assert(luds.dial("unix", path))
    assert(c:send_fds("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nwith-fd", { 0 }))
    f:close()
    s = assert(ln:accept())
    local got, fds = s:recv_fds()
    lu.assertEquals(got, "with-fd")
    lu.assertEquals(#fds, 1)
    lu.assertTrue(luds.close_fd(fds[1]))
    s:close() c:close()
  end)
end

-- A client that sends nothing never holds up accept: others are served
-- while it waits, and it is closed once proxy_timeout has passed.
function TestHeaders:test_slow_client_does_not_block_accept()
  H.run(function()
    local path = self.dir .. "/p.sock"
    local ln <close> = assert(luds.listen("unix", path, { proxy = true, proxy_timeout = 2 }))
    local t0 = luds.now()
    local silent = assert(luds.dial("unix", path))
    local partial = assert(luds.dial("unix", path))
    assert(partial:write("PROXY TCP4 1.2.3.4"))
    for i = 1, 5 do
      local s, c = through(ln, path, ("PROXY TCP4 1.1.1.%d 2.2.2.2 %d 80\r\n"):format(i, i))
      lu.assertEquals(s:remote_addr(), ("1.1.1.%d:%d"):format(i, i))
      s:close() c:close()
    end
    lu.assertTrue(luds.now() - t0 < 2, "served while the slow ones wait")
    silent:set_read_deadline(luds.now() + 10)
    lu.assertEquals({ silent:read() }, { nil, "EOF", "EOF" })
    lu.assertTrue(luds.now() - t0 >= 2)
    lu.assertEquals({ partial:read() }, { nil, "EOF", "EOF" })
    silent:close() partial:close()
  end, 15)
end

-- An accept deadline applies while the only conns have no header yet.
function TestHeaders:test_accept_deadline_with_headers_pending()
  H.run(function()
    local path = self.dir .. "/p.sock"
    local ln <close> = assert(luds.listen("unix", path, { proxy = true }))
    local c = assert(luds.dial("unix", path))
    ln:set_deadline(luds.now() + 0.05)
    H.assert_fails("TIMEOUT", nil, ln:accept())
    ln:set_deadline(nil)
    assert(c:write("PROXY UNKNOWN\r\n"))
    lu.assertEquals(assert(ln:accept()):proxied().version, 1)
    c:close()
  end)
end

function TestHeaders:test_proxied_on_plain_and_closed_conns()
  H.run(function()
    local c, s, ln = H.pair(self.dir)
    lu.assertEquals(s:proxied(), false)
    s:close()
    H.assert_fails("CLOSED", "proxied unix: use of closed connection", s:proxied())
    c:close() ln:close()
    local path = self.dir .. "/q.sock"
    local pl <close> = assert(luds.listen("unix", path, { proxy = "v1", proxy_timeout = 1 }))
    s, c = through(pl, path, "PROXY UNKNOWN\r\n")
    s:close()
    H.assert_fails("CLOSED", nil, s:proxied())
    H.assert_fails("CLOSED", nil, s:remote_addr())
    lu.assertEquals(tostring(s), "unix conn (closed)")
    c:close()
  end)
end

-- Closing (or dropping) a listener closes the conns still sending their
-- header: their clients see EOF, and no descriptor is left over. (Headers
-- are read from conns that an accept took from the kernel's backlog: with
-- no accept, a PROXY listener is a plain one.)
function TestHeaders:test_listener_close_and_gc_close_pending_conns()
  H.run(function()
    local base = H.fd_count()
    for _, drop in ipairs({ false, true }) do
      local path = self.dir .. "/p.sock"
      local ln = assert(luds.listen("unix", path, { proxy = true, remove_stale = true }))
      local clients = {}
      for i = 1, 20 do
        clients[i] = assert(luds.dial("unix", path))
        if i % 2 == 0 then assert(clients[i]:write("PROXY TCP4 1.2")) end
      end
      local bad = assert(luds.dial("unix", path))
      assert(bad:write("\r\n\r\n\0\r\nQUIT\n\x21\x11\0\12"))
      -- An accept takes them from the backlog; none sends a whole header.
      ln:set_deadline(luds.now() + 0.1)
      H.assert_fails("TIMEOUT", nil, ln:accept())
      if drop then
        ln = nil -- luacheck: ignore
        collectgarbage() collectgarbage()
      else
        ln:close()
      end
      for i = 1, 20 do
        clients[i]:set_read_deadline(luds.now() + 5)
        lu.assertEquals({ clients[i]:read() }, { nil, "EOF", "EOF" })
        clients[i]:close()
      end
      bad:close()
    end
    lu.assertEquals(H.fd_count(), base)
  end)
end

-- A process that ends with conns still sending their header, or with one
-- whose header came but that no accept took, frees them (the sanitizer
-- build of this spec checks for leaks).
function TestHeaders:test_exit_with_pending_conns()
  local path = self.dir .. "/p.sock"
  local out, err, status = H.exec_lua(([[
    local luds = require "luds"
    local ln = assert(luds.listen("unix", %q, { proxy = true }))
    local c1 = assert(luds.dial("unix", %q))
    local c2 = assert(luds.dial("unix", %q))
    ln:set_deadline(luds.now() + 0.05)
    assert(select(3, ln:accept()) == "TIMEOUT") -- both are reading their header
    assert(c1:write("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nready")) -- now waits for accept
    luds.sleep(0.05)
    print("done")
  ]]):format(path, path, path))
  lu.assertEquals({ out, err, status }, { "done\n", "", 0 })
end

function TestHeaders:test_misuse_raises()
  local path = self.dir .. "/x.sock"
  local msg = [[option 'proxy' must be true, "v1" or "v2"]]
  for _, v in ipairs({ "v3", "V1", "v1\0", 1, "", {} }) do
    H.assert_raises({ msg }, luds.listen, "unix", path, { proxy = v })
  end
  for _, v in ipairs({ 0, -1, 0 / 0, math.huge }) do
    H.assert_raises({ "option 'proxy_timeout' must be a number of seconds greater than 0" },
      luds.listen, "unix", path, { proxy = true, proxy_timeout = v })
  end
  H.assert_raises({ "option 'proxy_timeout' must be a number" }, luds.listen, "unix", path,
    { proxy = true, proxy_timeout = "soon" })
  H.assert_raises({ "option 'proxy_timeout' needs option 'proxy'" }, luds.listen, "unix", path,
    { proxy_timeout = 3 })
  H.assert_raises({ "option 'proxy' needs a stream network (unix, tcp, tcp4, tcp6), not unixpacket" },
    luds.listen, "unixpacket", path, { proxy = true })
  H.assert_raises({ "unknown option 'proxy'" }, luds.listen_packet, "udp", "127.0.0.1:0",
    { proxy = true })
  H.assert_raises({ "unknown option 'proxy'" }, luds.dial, "unix", path, { proxy = true })
  lu.assertFalse(H.exists(path))
  local ln <close> = assert(luds.listen("unix", path, { proxy = false, proxy_timeout = nil }))
  lu.assertNil(ln.proxy)
end

-- A luds server in a child process, so that its stderr can be read: it
-- listens with the given options, answers each conn with a line naming its
-- addresses and echoes the rest.
local SERVER = [[
local luds = require "luds"
io.stdout:setvbuf("line")
local net, address, opts = arg[1], arg[2], assert(load("return " .. arg[3]))()
local ln = assert(luds.listen(net, address, opts))
print("listening " .. ln:addr())
luds.serve(ln, function(c)
  c:write(("remote=%s local=%s\n"):format(c:remote_addr(), c:local_addr()))
  repeat local d = c:read() until not d or not c:write(d)
end)
]]

-- Starts SERVER; returns the child and the address it listens on.
local function start_server(dir, net, address, opts)
  local script = dir .. "/server.lua"
  H.spit(script, SERVER)
  local p = H.start(("%s %s %s %s %s"):format(H.q(H.LUDS), H.q(script), net, H.q(address),
    H.q(opts)))
  local at = H.wait_for("the server to listen", function()
    return (p:stdout() or ""):match("^listening (.-)\n")
  end)
  return p, at
end

-- Sends each case to the server at addr and checks that the server closed
-- the conn without a byte: a case is the bytes to send, or { bytes, "half"
-- } to shut down writing after them (a truncated header), or { "", "close"
-- } to connect and close at once.
local function refused(net, addr, cases)
  for _, case in ipairs(cases) do
    local data, how = case, nil
    if type(case) == "table" then data, how = case[1], case[2] end
    local c = assert(luds.dial(net, addr))
    if #data > 0 then assert(c:write(data)) end
    if how == "close" then
      c:close()
    else
      if how == "half" then c:close_write() end
      c:set_read_deadline(luds.now() + 10)
      local got, ending = H.read_all(c)
      lu.assertEquals({ got, ending }, { "", { nil, "EOF", "EOF" } }, ("case %q"):format(data))
      c:close()
    end
  end
end

-- Stops the server; returns the lines of its stderr.
local function stop_server(p)
  lu.assertEquals(H.stop(p, "TERM"), 143)
  local lines = {}
  for line in (p:stderr() or ""):gmatch("[^\n]+") do lines[#lines + 1] = line end
  return lines
end

TestRefused = H.suite()

function TestRefused:test_malformed_v1()
  H.run(function()
    local path = self.dir .. "/p.sock"
    local p = start_server(self.dir, "unix", path, "{ proxy = true }")
    refused("unix", path, {
      "GET / HTTP/1.0\r\n\r\n",
      "PROXY UNKNOWN " .. ("x"):rep(100) .. "\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1111 99999\r\n",
      "PROXY TCP4 1.2.3.4 ::1 1111 2222\r\n",
      "PROXY TCP7 1.2.3.4 5.6.7.8 1111 2222\r\n",
      "PROXY TCP4 1.2.3.4  5.6.7.8 1111 2222\r\n",
      { "PROXY TCP4 1.2.3.4", "half" },
      { "", "close" }, -- nothing sent: a TCP health check, not logged
      { "", "half" },
    })
    local pre = "luds: refused a connection to unix " .. path .. ": "
    lu.assertEquals(stop_server(p), {
      pre .. "not a PROXY protocol header",
      pre .. "PROXY v1 line longer than 107 bytes",
      pre .. "PROXY v1 line not ended by CRLF",
      pre .. "bad port in PROXY v1 line",
      pre .. "bad address in PROXY v1 line",
      pre .. "PROXY v1 protocol neither TCP4, TCP6 nor UNKNOWN",
      pre .. "malformed PROXY v1 line",
      pre .. "connection closed in the middle of its PROXY protocol header",
    })
  end, 20)
end

function TestRefused:test_malformed_v2()
  H.run(function()
    local path = self.dir .. "/p.sock"
    local p = start_server(self.dir, "unix", path, "{ proxy = true }")
    local addr = inet4("1.2.3.4", "5.6.7.8", 1, 2)
    local crc = tlv(3, "\0\0\0\0") -- a wrong CRC32C (zero is not this header's)
    refused("unix", path, {
      "\r\n\r\n\0\r\nQUIX\n\x21\x11\0\12" .. addr,
      { SIG .. "\x21\x11\x03\xe8" .. addr, "half" }, -- 1000 bytes announced, 12 sent
      v2(0x11, 0x11, addr),
      v2(0x23, 0x11, addr),
      v2(0x21, 0x41, addr),
      v2(0x21, 0x11, addr:sub(1, 11)),
      v2(0x21, 0x11, addr .. "\1\0\9ab"),
      v2(0x21, 0x11, addr .. crc),
    })
    local pre = "luds: refused a connection to unix " .. path .. ": "
    lu.assertEquals(stop_server(p), {
      pre .. "bad PROXY protocol signature",
      pre .. "connection closed in the middle of its PROXY protocol header",
      pre .. "bad PROXY v2 version",
      pre .. "unknown PROXY v2 command",
      pre .. "unknown PROXY v2 address family or transport",
      pre .. "PROXY v2 address block too short for its family",
      pre .. "malformed PROXY v2 TLV",
      pre .. "PROXY v2 CRC32C checksum mismatch",
    })
  end, 20)
end

-- proxy = "v1" or "v2" takes that version only.
function TestRefused:test_one_version_only()
  H.run(function()
    local v1 = "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"
    local v2h = v2(0x21, 0x11, inet4("1.2.3.4", "5.6.7.8", 1, 2))
    for _, c in ipairs({ { "v1", v2h, v1 }, { "v2", v1, v2h } }) do
      local path = self.dir .. "/" .. c[1] .. ".sock"
      local p = start_server(self.dir, "unix", path, ("{ proxy = %q }"):format(c[1]))
      refused("unix", path, { c[2] })
      local ok = assert(luds.dial("unix", path))
      assert(ok:write(c[3] .. "ping"))
      lu.assertEquals(ok:read_line(), ("remote=1.2.3.4:1 local=5.6.7.8:2"))
      lu.assertEquals(ok:read_full(4), "ping")
      ok:close()
      lu.assertEquals(stop_server(p), { "luds: refused a connection to unix " .. path
        .. ": a PROXY protocol version this listener does not accept" })
    end
  end, 20)
end

-- Too slow: nothing, or part of a header, within proxy_timeout; the log
-- says which. A tcp listener names the client too.
function TestRefused:test_late_headers_and_tcp_clients()
  H.run(function()
    local p, addr = start_server(self.dir, "tcp", "127.0.0.1:0", "{ proxy = true, proxy_timeout = 2 }")
    local silent = assert(luds.dial("tcp", addr))
    local partial = assert(luds.dial("tcp", addr))
    assert(partial:write(v2(0x21, 0x11, inet4("1.2.3.4", "5.6.7.8", 1, 2)):sub(1, 20)))
    local ok = assert(luds.dial("tcp", addr))
    assert(ok:write("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"))
    lu.assertEquals(ok:read_line(), "remote=1.2.3.4:1 local=5.6.7.8:2")
    ok:close()
    local bad = assert(luds.dial("tcp", addr))
    local bad_addr = bad:local_addr()
    assert(bad:write("GET / HTTP/1.0\r\n\r\n"))
    bad:set_read_deadline(luds.now() + 10)
    lu.assertEquals({ H.read_all(bad) }, { "", { nil, "EOF", "EOF" } })
    local names = { silent:local_addr(), partial:local_addr() }
    for _, c in ipairs({ silent, partial }) do
      c:set_read_deadline(luds.now() + 10)
      lu.assertEquals({ H.read_all(c) }, { "", { nil, "EOF", "EOF" } })
      c:close()
    end
    bad:close()
    local pre = "luds: refused a connection to " .. "tcp " .. addr .. " from "
    lu.assertEquals(stop_server(p), {
      pre .. bad_addr .. ": not a PROXY protocol header",
      pre .. names[1] .. ": no PROXY protocol header within 2 s",
      pre .. names[2] .. ": no complete PROXY protocol header within 2 s",
    })
  end, 20)
end

-- At most 10 lines a second per listener; the rest are counted, and the
-- count is logged (here when the listener closes).
function TestRefused:test_log_is_rate_limited()
  H.run(function()
    local path = self.dir .. "/p.sock"
    local p = start_server(self.dir, "unix", path, "{ proxy = true }")
    local cases = {}
    for i = 1, 13 do cases[i] = "junk " .. i end
    local t0 = luds.now()
    refused("unix", path, cases)
    local elapsed = luds.now() - t0
    local lines = stop_server(p)
    local pre = "luds: refused a connection to unix " .. path .. ": "
    local total = 0
    for _, line in ipairs(lines) do
      local more = line:match("^luds: refused (%d+) more connections to unix ")
      total = total + (more and tonumber(more) or 1)
      if not more then lu.assertEquals(line, pre .. "not a PROXY protocol header") end
    end
    lu.assertEquals(total, 13)
    if elapsed < 0.9 then -- all within one second of the first: 10 lines, then the count
      lu.assertEquals(#lines, 11)
      lu.assertEquals(lines[11], "luds: refused 3 more connections to unix " .. path
        .. " (not logged: at most 10 lines a second)")
    end
  end, 20)
end

-- Accepting runs on, whatever comes: 50 good, bad and silent clients mixed,
-- every good one answered with its own address, no descriptor left over.
function TestRefused:test_mixed_load_leaves_no_fds()
  H.run(function()
    local path = self.dir .. "/p.sock"
    local ln = assert(luds.listen("unix", path, { proxy = true, proxy_timeout = 0.3 }))
    local served = 0
    local srv = luds.spawn(luds.serve, ln, function(c)
      served = served + 1
      c:write(c:remote_addr() .. "\n")
    end)
    local base = H.fd_count()
    local g = luds.group()
    for i = 1, 50 do
      g:spawn(function()
        local c <close> = assert(luds.dial("unix", path))
        c:set_read_deadline(luds.now() + 10)
        local kind = i % 3
        if kind == 0 then
          assert(c:write(("PROXY TCP4 10.0.0.%d 10.0.0.1 %d 80\r\n"):format(i, 1000 + i)))
          lu.assertEquals(c:read_line(), ("10.0.0.%d:%d"):format(i, 1000 + i))
        elseif kind == 1 then
          c:write("\r\n\r\n\0\r\nQUIT\n\x31")
          lu.assertEquals({ c:read() }, { nil, "EOF", "EOF" })
        else
          lu.assertEquals({ c:read() }, { nil, "EOF", "EOF" }) -- silent: timed out
        end
      end)
    end
    lu.assertTrue(g:wait(15))
    lu.assertEquals(served, 16)
    lu.assertEquals(H.settled("fd count", H.fd_count), base)
    ln:close()
    lu.assertEquals({ srv:wait(5) }, { true, true })
  end, 20)
end

TestHaproxy = H.suite()

local HAPROXY_CFG = [[
global
  maxconn 200
defaults
  mode tcp
  timeout connect 5s
  timeout client 10s
  timeout server 10s
frontend v2
  bind 127.0.0.1:${P2}
  bind [::1]:${P2}
  unique-id-format %ci:%cp
  default_backend luds_v2
backend luds_v2
  server s1 unix@${SOCK} send-proxy-v2 proxy-v2-options crc32c,unique-id check inter 100ms
frontend v1
  bind 127.0.0.1:${P1}
  bind [::1]:${P1}
  bind unix@${FRONT}
  default_backend luds_v1
backend luds_v1
  server s1 unix@${SOCK} send-proxy
]]

-- Fills ${NAME} in template from vars.
local function fill(template, vars)
  return (template:gsub("%${(%w+)}", function(k) return assert(vars[k], k) end))
end

-- Dials net addr until it answers (bounded); the probes are plain conns.
local function wait_listening(net, addr)
  H.wait_for(addr .. " to listen", function()
    local c = luds.dial(net, addr)
    if c then c:close() end
    return c ~= nil
  end, 10)
end

-- Sends "hello\n" to net addr; returns the client's own address and the
-- line the luds server answered.
local function ask(net, addr)
  local c <close> = assert(luds.dial(net, addr))
  c:set_deadline(luds.now() + 10)
  assert(c:write("hello\n"))
  return c:local_addr(), c:read_line()
end

-- The luds server behind the proxies: answers a line with describe(conn);
-- counts LOCAL health checks.
local function backend(path)
  local ln = assert(luds.listen("unix", path, { proxy = true }))
  local stats = { checks = {} }
  local task = luds.spawn(luds.serve, ln, function(c)
    local p = c:proxied()
    if p.command == "LOCAL" then stats.checks[#stats.checks + 1] = describe(c) end
    local line = c:read_line()
    if line == "hello" then c:write(describe(c) .. "\n") end
  end)
  return ln, stats, task
end

function TestHaproxy:test_haproxy_v1_v2_and_health_checks()
  lu.assertNotNil(HAPROXY, "haproxy is not installed (make test-deps)")
  H.run(function()
    local sock, front = self.dir .. "/luds.sock", self.dir .. "/front.sock"
    local ln, stats, srv = backend(sock)
    local vars = { P1 = free_port("tcp4", "127.0.0.1"), P2 = free_port("tcp4", "127.0.0.1"),
      SOCK = sock, FRONT = front }
    H.spit(self.dir .. "/haproxy.cfg", fill(HAPROXY_CFG, vars))
    local hp = H.start(H.q(HAPROXY) .. " -db -f " .. H.q(self.dir .. "/haproxy.cfg"))
    for _, at in ipairs({ "127.0.0.1:" .. vars.P1, "127.0.0.1:" .. vars.P2, "[::1]:" .. vars.P1,
      "[::1]:" .. vars.P2 }) do
      wait_listening("tcp", at)
    end
    local me, line = ask("tcp", "127.0.0.1:" .. vars.P2)
    lu.assertEquals(line, ("v2 PROXY tcp4 remote=%s local=127.0.0.1:%s tlvs=3=4 bytes,5=%s")
      :format(me, vars.P2, me))
    me, line = ask("tcp", "[::1]:" .. vars.P2)
    local unique = me:gsub("^%[(.*)%]", "%1") -- %ci:%cp, no brackets
    lu.assertEquals(line, ("v2 PROXY tcp6 remote=%s local=[::1]:%s tlvs=3=4 bytes,5=%s")
      :format(me, vars.P2, unique))
    me, line = ask("tcp", "127.0.0.1:" .. vars.P1)
    lu.assertEquals(line, ("v1 PROXY tcp4 remote=%s local=127.0.0.1:%s tlvs="):format(me, vars.P1))
    me, line = ask("tcp", "[::1]:" .. vars.P1)
    lu.assertEquals(line, ("v1 PROXY tcp6 remote=%s local=[::1]:%s tlvs="):format(me, vars.P1))
    wait_listening("unix", front)
    me, line = ask("unix", front) -- haproxy cannot say who a unix client is: UNKNOWN
    lu.assertEquals(line, ("v1 PROXY - remote= local=%s tlvs="):format(sock))
    H.wait_for("a health check", function() return #stats.checks > 0 end)
    lu.assertEquals(stats.checks[1], ("v2 LOCAL - remote= local=%s tlvs="):format(sock))
    -- a python3 client, which reads its own address
    local py = H.start(("python3 -c %s %s"):format(H.q([[
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"hello\n")
print("%s:%d" % s.getsockname())
print(s.makefile().readline(), end="")
]]), vars.P2))
    lu.assertEquals(H.wait_exit(py), 0)
    local pme, pline = (py:stdout()):match("^(.-)\n(.-)\n$")
    lu.assertEquals(pline, ("v2 PROXY tcp4 remote=%s local=127.0.0.1:%s tlvs=3=4 bytes,5=%s")
      :format(pme, vars.P2, pme))
    H.stop(hp, "TERM")
    lu.assertEquals(hp:stderr(), "")
    ln:close()
    lu.assertEquals({ srv:wait(5) }, { true, true })
  end, 30)
end

TestNginx = H.suite()

local NGINX_CFG = [[
daemon off;
master_process off;
pid ${DIR}/nginx.pid;
error_log ${DIR}/nginx.log warn;
load_module ${MODULE};
events { worker_connections 64; }
stream {
  server {
    listen 127.0.0.1:${PORT};
    listen [::1]:${PORT};
    proxy_pass unix:${SOCK};
    proxy_protocol on;
  }
}
]]

function TestNginx:test_nginx_proxy_protocol_on()
  lu.assertTrue(NGINX ~= nil and H.exists(STREAM_MODULE),
    "nginx and its stream module are not installed (make test-deps)")
  H.run(function()
    local sock = self.dir .. "/luds.sock"
    local ln, _, srv = backend(sock)
    local vars = { DIR = self.dir, MODULE = STREAM_MODULE, PORT = free_port("tcp4", "127.0.0.1"),
      SOCK = sock }
    local cfg = self.dir .. "/nginx.conf"
    H.spit(cfg, fill(NGINX_CFG, vars))
    local ng = H.start(("%s -p %s -c %s -e %s"):format(H.q(NGINX), H.q(self.dir), H.q(cfg),
      H.q(self.dir .. "/nginx.log")))
    wait_listening("tcp", "127.0.0.1:" .. vars.PORT)
    wait_listening("tcp", "[::1]:" .. vars.PORT)
    local me, line = ask("tcp", "127.0.0.1:" .. vars.PORT)
    lu.assertEquals(line, ("v1 PROXY tcp4 remote=%s local=127.0.0.1:%s tlvs="):format(me, vars.PORT))
    me, line = ask("tcp", "[::1]:" .. vars.PORT)
    lu.assertEquals(line, ("v1 PROXY tcp6 remote=%s local=[::1]:%s tlvs="):format(me, vars.PORT))
    H.stop(ng, "TERM")
    lu.assertEquals(ng:stderr(), "")
    ln:close()
    lu.assertEquals({ srv:wait(5) }, { true, true })
  end, 30)
end

luds.exit(T.run())
