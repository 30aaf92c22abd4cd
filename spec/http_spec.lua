-- The example HTTP server and the tcp->unix proxy, each a separate luds process,
-- driven by curl and by raw python3 sockets: routes, keep-alive, refusals and
-- limits, idle timeouts, and the same server behind the proxy.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

local HTTP = H.ROOT .. "/examples/http_unix.lua"
local PROXY = H.ROOT .. "/examples/proxy.lua"
local BODY_LIMIT = 1024 * 1024
local HOME = "Hello from luds.\n"
local OCTETS = "application/octet-stream"

-- Connects to argv[1] (a socket path or host:port), sends the file argv[2],
-- shuts down writing if argv[3] is "half", then prints all it receives until
-- the server ends the stream. Fails after 10 s without it.
local PY_RAW = [[
import socket, sys
addr, data, half = sys.argv[1], open(sys.argv[2], "rb").read(), sys.argv[3] == "half"
if addr.startswith("/"):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(addr)
else:
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
s.sendall(data)
if half:
    s.shutdown(socket.SHUT_WR)
while True:
    b = s.recv(65536)
    if not b:
        break
    sys.stdout.buffer.write(b)
]]

-- Starts `luds script args` and waits for its "listening on ADDRESS" line;
-- returns the child and ADDRESS. env is "NAME=value" or nil.
local function start(dir, script, args, env)
  local p = H.start(("%s %s %s %s"):format(env or "", H.q(H.LUDS), H.q(script), args))
  local addr = H.wait_for(script .. " to listen", function()
    return (p:stdout() or ""):match("^listening on (.*)\n$")
  end)
  return p, addr
end

-- curl, at most 10 s; returns its stdout, asserting it succeeded.
local function curl(args)
  local out, err, status = H.exec("curl --silent --show-error --max-time 10 " .. args)
  lu.assertEquals({ err, status }, { "", 0 })
  return out
end

-- Sends data to addr from python3 (see PY_RAW); returns all the server sent.
local function raw(dir, addr, data, half)
  local file = dir .. "/request"
  H.spit(file, data)
  local out, err, status = H.exec(("python3 -c %s %s %s %s")
    :format(H.q(PY_RAW), H.q(addr), H.q(file), half and "half" or "full"))
  lu.assertEquals({ err, status }, { "", 0 })
  return out
end

-- out with every Date value checked (IMF-fixdate) and replaced by "DATE".
local function mask_dates(out)
  return (out:gsub("\r\nDate: ([^\r]*)\r\n", function(date)
    lu.assertStrMatches(date, "%u%l%l, %d%d %u%l%l %d%d%d%d %d%d:%d%d:%d%d GMT")
    return "\r\nDate: DATE\r\n"
  end))
end

-- The exact response (its Date masked) with status ("200 OK") and body, the
-- extra header lines, and Content-Type (plain text unless given).
local function response(status, body, extra, type)
  local head = { "HTTP/1.1 " .. status, "Date: DATE",
    "Content-Type: " .. (type or "text/plain; charset=utf-8"), "Content-Length: " .. #body }
  for _, line in ipairs(extra or {}) do head[#head + 1] = line end
  return table.concat(head, "\r\n") .. "\r\n\r\n" .. body
end

-- The response refusing a request with status ("400 Bad Request").
local function refusal(status)
  return response(status, status .. "\n", { "Connection: close" })
end

-- The /status body of a server (s: active, address, connections, pid, requests)
-- with its uptime as "U"; mask_uptime does the same to a real one.
local function status_json(s)
  return ('{"active":%d,"address":"%s","connections":%d,"pid":%d,"requests":%d,"uptime":U}\n')
    :format(s.active, s.address, s.connections, s.pid, s.requests)
end

local function mask_uptime(body)
  return (body:gsub('"uptime":%d+%.?%d*}', '"uptime":U}'))
end

TestHttp = H.suite()

function TestHttp:setUp()
  self.dir = T.tempdir()
  self.sock = self.dir .. "/http.sock"
  H.run(function() self.server = start(self.dir, HTTP, "serve " .. H.q(self.sock)) end)
end

function TestHttp:curl(args)
  return curl(("--unix-socket %s %s"):format(H.q(self.sock), args))
end

function TestHttp:raw(data, half)
  return raw(self.dir, self.sock, data, half)
end

function TestHttp:status(connections, requests)
  return status_json({ active = 1, address = self.sock, connections = connections,
    pid = self.server.pid, requests = requests })
end

-- A request after trouble: the server is still there.
function TestHttp:assert_alive()
  lu.assertEquals(mask_dates(self:curl("-i http://x/")), response("200 OK", HOME))
end

function TestHttp:test_get_home_page()
  H.run(function()
    lu.assertEquals(mask_dates(self:curl("-i http://x/ http://x/?q=1")),
      response("200 OK", HOME) .. response("200 OK", HOME))
    -- HEAD: the same head, Content-Length included, and no body.
    lu.assertEquals(mask_dates(self:curl("-I http://x/")), response("200 OK", HOME):sub(1, -#HOME - 1))
  end, 30)
end

function TestHttp:test_status_is_json_with_exact_counts()
  H.run(function()
    local body = self:curl("http://x/status")
    lu.assertEquals(mask_uptime(body), self:status(1, 1))
    local file = self.dir .. "/status.json"
    H.spit(file, body)
    local py = "import json,sys; d=json.load(sys.stdin); print(sorted(d), d['pid'], d['uptime'] >= 0)"
    local out = H.exec("python3 -c " .. H.q(py), file)
    lu.assertEquals(out, ("['active', 'address', 'connections', 'pid', 'requests', 'uptime'] %d True\n")
      :format(self.server.pid))
  end, 30)
end

-- A quote, a backslash, a tab, an "é" and a byte that is not UTF-8 in the address.
function TestHttp:test_status_escapes_strings()
  H.run(function()
    local sock = self.dir .. '/q"\\\t\xc3\xa9\xff.sock'
    start(self.dir, HTTP, "serve " .. H.q(sock))
    local body = curl(("--unix-socket %s http://x/status"):format(H.q(sock)))
    local json = self.dir .. '/q\\"\\\\\\u0009\xc3\xa9\xef\xbf\xbd.sock'
    lu.assertStrContains(body, ',"address":"' .. json .. '",', false)
    local file = self.dir .. "/status.json"
    H.spit(file, body)
    local py = "import json,sys; sys.stdout.buffer.write(json.load(sys.stdin)['address'].encode())"
    lu.assertEquals(H.exec("python3 -c " .. H.q(py), file), self.dir .. '/q"\\\t\xc3\xa9\u{FFFD}.sock')
  end, 30)
end

-- Every byte value, exactly the largest body accepted; then an empty body.
function TestHttp:test_post_echo_is_byte_exact()
  H.run(function()
    local data = H.pattern(BODY_LIMIT)
    H.spit(self.dir .. "/body", data)
    local out = self:curl(("-i --data-binary @%s http://x/echo"):format(H.q(self.dir .. "/body")))
    lu.assertTrue(mask_dates(out) == response("200 OK", data, nil, OCTETS), "echo differs")
    lu.assertEquals(mask_dates(self:curl("-i --data-binary '' http://x/echo")),
      response("200 OK", "", nil, OCTETS))
  end, 30)
end

function TestHttp:test_unknown_path_is_404()
  H.run(function()
    local not_found = response("404 Not Found", "404 Not Found\n")
    lu.assertEquals(mask_dates(self:curl("-i http://x/nope http://x/status/x")), not_found:rep(2))
  end, 30)
end

function TestHttp:test_wrong_method_is_405_with_allow()
  H.run(function()
    local function not_allowed(allow)
      return response("405 Method Not Allowed", "405 Method Not Allowed\n", { "Allow: " .. allow })
    end
    lu.assertEquals(mask_dates(self:curl("-i -X POST http://x/")), not_allowed("GET, HEAD"))
    lu.assertEquals(mask_dates(self:curl("-i -X DELETE http://x/status")), not_allowed("GET, HEAD"))
    lu.assertEquals(mask_dates(self:curl("-i http://x/echo")), not_allowed("POST"))
  end, 30)
end

-- Two URLs in one curl: the second request comes on the same connection.
function TestHttp:test_keep_alive_reuses_the_connection()
  H.run(function()
    lu.assertEquals(mask_uptime(self:curl("http://x/status http://x/status")),
      self:status(1, 1) .. self:status(1, 2))
  end, 30)
end

function TestHttp:test_connection_close_is_honoured()
  H.run(function()
    lu.assertEquals(mask_uptime(self:curl("-H 'Connection: close' http://x/status http://x/status")),
      self:status(1, 1) .. self:status(2, 2))
    lu.assertEquals(mask_dates(self:raw("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")),
      response("200 OK", HOME, { "Connection: close" }))
  end, 30)
end

-- HTTP/1.0 closes after the response unless the request asks to keep it.
function TestHttp:test_http10_closes_unless_keep_alive()
  H.run(function()
    lu.assertEquals(mask_dates(self:raw("GET / HTTP/1.0\r\n\r\n")),
      response("200 OK", HOME, { "Connection: close" }))
    local two = "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n"
    lu.assertEquals(mask_dates(self:raw(two)), response("200 OK", HOME, { "Connection: keep-alive" })
      .. response("200 OK", HOME, { "Connection: close" }))
  end, 30)
end

function TestHttp:test_pipelined_requests_answered_in_order()
  H.run(function()
    local requests = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
      .. "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\nhello\r\n"
      .. "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    lu.assertEquals(mask_dates(self:raw(requests)), response("200 OK", HOME)
      .. response("200 OK", "hello\r\n", nil, OCTETS)
      .. response("404 Not Found", "404 Not Found\n", { "Connection: close" }))
  end, 30)
end

function TestHttp:test_expect_100_continue()
  H.run(function()
    local request = "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
      .. "Content-Length: 2\r\nConnection: close\r\n\r\nhi"
    lu.assertEquals(mask_dates(self:raw(request)),
      "HTTP/1.1 100 Continue\r\n\r\n" .. response("200 OK", "hi", { "Connection: close" }, OCTETS))
  end, 30)
end

-- Each refused request gets exactly its status, then the end of the stream
-- (raw returns only once the server has closed).
function TestHttp:assert_refused(status, requests)
  for _, request in ipairs(requests) do
    lu.assertEquals(mask_dates(self:raw(request)), refusal(status), "for " .. ("%q"):format(request))
  end
  self:assert_alive()
end

function TestHttp:test_malformed_requests_get_400_and_close()
  H.run(function()
    local get = "GET / HTTP/1.1\r\nHost: x\r\n"
    self:assert_refused("400 Bad Request", {
      "GARBAGE\r\n\r\n",
      "GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n",
      "GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET / HTTP/1.1\r\n\r\n", -- no Host
      get .. "No colon\r\n\r\n",
      get .. "Space : before colon\r\n\r\n",
      get .. "X: a\r\n folded\r\n\r\n",
      get .. "X: a\0b\r\n\r\n",
      get .. "Content-Length: -1\r\n\r\n",
      get .. "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    })
  end, 30)
end

function TestHttp:test_unsupported_requests_get_501_and_505()
  H.run(function()
    self:assert_refused("501 Not Implemented",
      { "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" })
    self:assert_refused("505 HTTP Version Not Supported", { "GET / HTTP/2.0\r\nHost: x\r\n\r\n" })
  end, 30)
end

-- 8 KiB per line, 100 fields, 32 KiB of headers: at the limits a request passes.
function TestHttp:test_oversized_heads_get_414_and_431()
  H.run(function()
    local get = "GET / HTTP/1.1\r\nHost: x\r\n"
    local function fields(n, size) return ("X: " .. ("b"):rep(size - 3) .. "\r\n"):rep(n) end
    lu.assertEquals(mask_dates(self:raw(get .. fields(1, 8 * 1024) .. "Connection: close\r\n\r\n")),
      response("200 OK", HOME, { "Connection: close" }))
    lu.assertEquals(mask_dates(self:raw(get .. fields(98, 300) .. "Connection: close\r\n\r\n")),
      response("200 OK", HOME, { "Connection: close" }))
    self:assert_refused("414 URI Too Long", {
      "GET /" .. ("a"):rep(8 * 1024) .. " HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /" .. ("a"):rep(BODY_LIMIT + 4096),
    })
    self:assert_refused("431 Request Header Fields Too Large", {
      get .. fields(1, 8 * 1024 + 1) .. "\r\n",
      get .. fields(100, 10) .. "\r\n",
      get .. fields(40, 1000) .. "\r\n",
      get .. "X: " .. ("c"):rep(BODY_LIMIT + 4096),
    })
  end, 30)
end

function TestHttp:test_oversized_body_gets_413()
  H.run(function()
    self:assert_refused("413 Content Too Large", {
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " .. BODY_LIMIT + 1 .. "\r\n\r\n",
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\nhi",
    })
    -- curl asks "Expect: 100-continue" for such a body and sends none of it.
    local file = self.dir .. "/big"
    H.spit(file, H.pattern(BODY_LIMIT + 1))
    lu.assertEquals(mask_dates(self:curl("-i --data-binary @" .. H.q(file) .. " http://x/echo")),
      refusal("413 Content Too Large"))
    self:assert_alive()
  end, 30)
end

TestHttpIdle = H.suite()

-- A silent connection and an idle kept-alive one are both closed by the server.
function TestHttpIdle:test_idle_connections_time_out()
  H.run(function()
    local sock = self.dir .. "/idle.sock"
    start(self.dir, HTTP, "serve " .. H.q(sock), "HTTP_IDLE_TIMEOUT=0.2")
    lu.assertEquals(raw(self.dir, sock, ""), "")
    lu.assertEquals(mask_dates(raw(self.dir, sock, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")),
      response("200 OK", HOME))
  end, 30)
end

TestHttpCli = H.suite()

function TestHttpCli:test_tcp()
  H.run(function()
    local _, addr = start(self.dir, HTTP, "serve tcp 127.0.0.1:0")
    lu.assertStrMatches(addr, "127%.0%.0%.1:%d+")
    lu.assertEquals(mask_dates(curl("-i http://" .. addr .. "/")), response("200 OK", HOME))
    lu.assertStrContains(curl("http://" .. addr .. "/status"), ',"address":"' .. addr .. '",', false)
  end, 30)
end

-- SIGTERM drains (serve_spec has the details): idle, it exits 0 at once.
function TestHttpCli:test_sigterm_removes_the_socket()
  H.run(function()
    local sock = self.dir .. "/http.sock"
    local server = start(self.dir, HTTP, "serve " .. H.q(sock))
    lu.assertEquals(H.stop(server, "TERM"), 0)
    lu.assertFalse(H.exists(sock))
  end, 30)
end

function TestHttpCli:test_bad_arguments()
  H.run(function()
    for _, args in ipairs({ "", "serve", "bogus /x", "serve tcp", "serve udp /x", "serve /x extra" }) do
      local out, err, status = H.exec(("%s %s %s"):format(H.q(H.LUDS), H.q(HTTP), args))
      lu.assertEquals({ out, status }, { "", 2 })
      lu.assertStrContains(err, "usage: ")
    end
    local sock = self.dir .. "/missing/http.sock"
    local out, err, status = H.exec(("%s %s serve %s"):format(H.q(H.LUDS), H.q(HTTP), H.q(sock)))
    lu.assertEquals({ out, err, status },
      { "", "http_unix: listen unix " .. sock .. ": no such file or directory\n", 1 })
  end, 30)
end

TestProxy = H.suite()

function TestProxy:setUp()
  self.dir = T.tempdir()
  self.sock = self.dir .. "/http.sock"
  H.run(function()
    self.server = start(self.dir, HTTP, "serve " .. H.q(self.sock))
    self.proxy, self.addr = start(self.dir, PROXY, "tcp 127.0.0.1:0 unix " .. H.q(self.sock))
  end)
end

-- Keep-alive passes through: one client connection is one upstream connection.
function TestProxy:test_requests_pass_through()
  H.run(function()
    local url = "http://" .. self.addr
    local function status(requests)
      return status_json({ active = 1, address = self.sock, connections = 1,
        pid = self.server.pid, requests = requests })
    end
    lu.assertEquals(mask_uptime(curl(url .. "/status " .. url .. "/status")), status(1) .. status(2))
    lu.assertEquals(mask_dates(curl("-i " .. url .. "/")), response("200 OK", HOME))
    lu.assertEquals(mask_dates(curl("-i " .. url .. "/nope")),
      response("404 Not Found", "404 Not Found\n"))
  end, 30)
end

function TestProxy:test_large_echo_is_byte_exact()
  H.run(function()
    local data = H.pattern(BODY_LIMIT)
    H.spit(self.dir .. "/body", data)
    local out = curl(("--data-binary @%s http://%s/echo"):format(H.q(self.dir .. "/body"), self.addr))
    lu.assertTrue(out == data, "echo through the proxy differs")
  end, 30)
end

-- The server's refusal and its close both reach the client.
function TestProxy:test_refusal_passes_through()
  H.run(function()
    lu.assertEquals(mask_dates(raw(self.dir, self.addr, "GARBAGE\r\n\r\n")), refusal("400 Bad Request"))
  end, 30)
end

-- The echo server answers end of stream with its own: both ends must pass.
function TestProxy:test_half_close_passes_through()
  H.run(function()
    local sock = self.dir .. "/echo.sock"
    H.start_echo(sock)
    local _, addr = start(self.dir, PROXY, "tcp 127.0.0.1:0 unix " .. H.q(sock))
    local data = H.pattern(10000)
    lu.assertTrue(raw(self.dir, addr, data, true) == data, "echo through the proxy differs")
  end, 30)
end

-- With nothing at the target, each client is closed and the error logged; once
-- the server is up, the same proxy serves.
function TestProxy:test_upstream_down()
  H.run(function()
    local sock = self.dir .. "/later.sock"
    local proxy, addr = start(self.dir, PROXY, "tcp 127.0.0.1:0 unix " .. H.q(sock))
    lu.assertEquals(raw(self.dir, addr, ""), "")
    -- 52, empty reply; or 56, reset, if the proxy closed with curl's request unread.
    local out, err, status = H.exec("curl --silent --max-time 10 http://" .. addr .. "/")
    lu.assertEquals({ out, err }, { "", "" })
    lu.assertTrue(status == 52 or status == 56, "curl exit status " .. status)
    lu.assertEquals(proxy:stderr(),
      ("proxy: dial unix %s: no such file or directory\n"):rep(2):format(sock, sock))
    start(self.dir, HTTP, "serve " .. H.q(sock))
    lu.assertEquals(mask_dates(curl("-i http://" .. addr .. "/")), response("200 OK", HOME))
  end, 30)
end

function TestProxy:test_bad_arguments()
  H.run(function()
    for _, args in ipairs({ "", "tcp 127.0.0.1:0 unix", "tcp 127.0.0.1:0 udp /x", "unixgram /x unix /y",
        "tcp 127.0.0.1:0 unix /x extra" }) do
      local out, err, status = H.exec(("%s %s %s"):format(H.q(H.LUDS), H.q(PROXY), args))
      lu.assertEquals({ out, status }, { "", 2 })
      lu.assertStrContains(err, "usage: ")
    end
  end, 30)
end

luds.exit(T.run())
