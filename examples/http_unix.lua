-- A small HTTP/1.1 server, on a Unix socket by default.
--
--   luds examples/http_unix.lua serve [NETWORK] ADDRESS
--   luds examples/http_unix.lua serve /tmp/http.sock
--   curl --unix-socket /tmp/http.sock http://x/status
--
-- NETWORK is unix (the default), tcp, tcp4 or tcp6; with tcp 127.0.0.1:0 the
-- kernel picks the port and the "listening on" line tells which.
--
-- Routes: GET / (a text page), GET /status (JSON: uptime, requests, connections,
-- active, pid, address), POST /echo (the request body back); HEAD wherever GET
-- goes; other paths get 404, other methods 405 with Allow. Request targets are
-- paths (origin form) only.
--
-- Connections: HTTP/1.1 keeps the connection open unless the request says
-- "Connection: close"; HTTP/1.0 closes it unless the request says
-- "Connection: keep-alive". Pipelined requests are answered in order. A client
-- has HTTP_IDLE_TIMEOUT seconds (environment, default 30) to send each request
-- and take its response; then the connection is closed without a word.
--
-- SIGTERM drains: the listener closes at once (its socket file goes, new
-- connections are refused), idle connections are closed, requests in flight
-- are answered (with "Connection: close") for up to HTTP_DRAIN_TIMEOUT seconds
-- (environment, default 10); then the rest are cancelled and the process
-- exits 0. SIGINT stops at once (exit 130).
--
-- Bodies: by Content-Length only, at most 1 MiB ("Expect: 100-continue" is
-- answered); Transfer-Encoding (chunked) is refused with 501. Responses always
-- carry Content-Length.
--
-- Bad input is refused and the connection closed: 400 for a malformed request
-- line or header (or an HTTP/1.1 request without Host), 414 for a request line
-- over 8 KiB, 431 for a header line over 8 KiB, headers over 32 KiB in all or
-- more than 100 of them, 413 for a body over 1 MiB, 505 for HTTP/2 and later.
-- Lines are read with conn:read_line, whose 1 MiB bound is the memory bound; the
-- smaller limits are checked on what it returns.
local luds = require "luds"

local LIMITS = { line = 8 * 1024, headers = 32 * 1024, header_count = 100, body = 1024 * 1024 }
local IDLE = tonumber(os.getenv("HTTP_IDLE_TIMEOUT") or "") or 30
local DRAIN = tonumber(os.getenv("HTTP_DRAIN_TIMEOUT") or "") or 10
local draining = false
local idle = {} -- conns waiting for their next request line: closed at a drain
-- After a refusal: how long, and how much, to drain before closing (see linger);
-- the bytes include up to 1 MiB of a refused line still in the conn's buffer.
local LINGER = { seconds = 2, bytes = 2 * 1024 * 1024 }
local NETWORKS = { unix = true, tcp = true, tcp4 = true, tcp6 = true }
local LUDS_NETWORKS = {
  unix = true, unixpacket = true, unixgram = true,
  tcp = true, tcp4 = true, tcp6 = true, udp = true, udp4 = true, udp6 = true,
}
local TOKEN = "[%w!#$%%&'*+.^_`|~-]+"

local REASONS = {
  [200] = "OK", [400] = "Bad Request", [404] = "Not Found", [405] = "Method Not Allowed",
  [413] = "Content Too Large", [414] = "URI Too Long", [431] = "Request Header Fields Too Large",
  [501] = "Not Implemented", [505] = "HTTP Version Not Supported",
}

local stats = { started = luds.now(), requests = 0, connections = 0, active = 0 }

local function usage()
  io.stderr:write("usage: luds http_unix.lua serve [NETWORK] ADDRESS\n",
    "NETWORK: unix (the default), tcp, tcp4 or tcp6\n")
  luds.exit(2)
end

local function die(err)
  io.stderr:write("http_unix: ", err, "\n")
  luds.exit(1)
end

-- s with every byte that is not part of valid UTF-8 replaced by U+FFFD.
local function to_utf8(s)
  local ok, bad = utf8.len(s)
  if ok then return s end
  return s:sub(1, bad - 1) .. "\u{FFFD}" .. to_utf8(s:sub(bad + 1))
end

local function json_string(s)
  return '"' .. to_utf8(s):gsub('[%c"\\]', function(c)
    return c == '"' and '\\"' or c == "\\" and "\\\\" or ("\\u%04x"):format(c:byte())
  end) .. '"'
end

local function json_value(v)
  if type(v) == "string" then return json_string(v) end
  if math.type(v) == "integer" then return tostring(v) end
  assert(math.type(v) == "float" and v == v and math.abs(v) ~= math.huge,
    "json: cannot encode " .. tostring(v))
  return ("%.14g"):format(v)
end

-- JSON text for a flat object of strings and numbers, keys sorted.
local function json_object(t)
  local fields = {}
  for k in pairs(t) do fields[#fields + 1] = k end
  table.sort(fields)
  for i, k in ipairs(fields) do fields[i] = json_string(k) .. ":" .. json_value(t[k]) end
  return "{" .. table.concat(fields, ",") .. "}"
end

local function getpid()
  local f <close> = assert(io.open("/proc/self/stat"))
  return f:read("n")
end
local PID = getpid()

local function text(status, body)
  return { status = status, type = "text/plain; charset=utf-8", body = body }
end

local function failure(status)
  return text(status, ("%d %s\n"):format(status, REASONS[status]))
end

local function status_page()
  return { status = 200, type = "application/json", body = json_object({
    uptime = math.floor((luds.now() - stats.started) * 1000) / 1000,
    requests = stats.requests, connections = stats.connections, active = stats.active,
    pid = PID, address = stats.address,
  }) .. "\n" }
end

local ROUTES = {
  ["/"] = { GET = function() return text(200, "Hello from luds.\n") end },
  ["/status"] = { GET = status_page },
  ["/echo"] = { POST = function(req)
    return { status = 200, type = "application/octet-stream", body = req.body }
  end },
}

-- HEAD is answered as GET is (respond leaves the body out).
local function route(req)
  local methods = ROUTES[req.target:match("^[^?]*")]
  if not methods then return failure(404) end
  local handler = methods[req.method == "HEAD" and "GET" or req.method]
  if handler then return handler(req) end
  local res, allow = failure(405), {}
  for method in pairs(methods) do
    allow[#allow + 1] = method
    if method == "GET" then allow[#allow + 1] = "HEAD" end
  end
  table.sort(allow)
  res.allow = table.concat(allow, ", ")
  return res
end

-- The next line without its CRLF (or bare LF); nil, too_long for a line over
-- the limit; nil when the client left or its deadline passed.
local function read_line(conn, too_long)
  local line, _, code = conn:read_line()
  if code == "EMSGSIZE" then return nil, too_long end
  if not line then return nil end
  if line:sub(-1) == "\r" then line = line:sub(1, -2) end
  if #line > LIMITS.line then return nil, too_long end
  return line
end

-- Header fields up to the empty line, keyed by lowercase name (a repeated field
-- joined with ", "); nil, status for bad or too much input.
local function read_headers(conn)
  local headers, size = {}, 0
  for _ = 1, LIMITS.header_count + 1 do -- the fields and the empty line
    local line, status = read_line(conn, 431)
    if not line then return nil, status end
    if line == "" then return headers end
    size = size + #line
    if size > LIMITS.headers then return nil, 431 end
    local name, value = line:match("^(" .. TOKEN .. "):[ \t]*(.-)[ \t]*$")
    if not name or value:find("[\0-\8\10-\31\127]") then return nil, 400 end
    name = name:lower()
    headers[name] = headers[name] and headers[name] .. ", " .. value or value
  end
  return nil, 431
end

-- The body's length; nil, status for a body this server will not read.
local function body_length(headers)
  if headers["transfer-encoding"] then return nil, 501 end
  local length = headers["content-length"] or "0"
  if not length:match("^%d+$") then return nil, 400 end
  local n = tonumber(length) -- a float when too long for an integer
  if n > LIMITS.body then return nil, 413 end
  return n
end

local function read_body(conn, req)
  local length, status = body_length(req.headers)
  if not length then return nil, status end
  if length == 0 then return "" end
  if req.minor ~= "0" and (req.headers.expect or ""):lower() == "100-continue"
      and not conn:write("HTTP/1.1 100 Continue\r\n\r\n") then
    return nil
  end
  return (conn:read_full(length))
end

-- One request { method, target, minor, headers, body }; nil, status for input
-- the server refuses; nil alone when the client left or its deadline passed.
local function read_request(conn)
  idle[conn] = true
  local line, status = read_line(conn, 414)
  idle[conn] = nil
  if not line then return nil, status end
  stats.requests = stats.requests + 1
  local method, target, major, minor = line:match("^(" .. TOKEN .. ") (/[!-~]*) HTTP/(%d)%.(%d)$")
  if not method then return nil, 400 end
  if major ~= "1" then return nil, 505 end
  local req = { method = method, target = target, minor = minor }
  req.headers, status = read_headers(conn)
  if not req.headers then return nil, status end
  if minor ~= "0" and not req.headers.host then return nil, 400 end
  req.body, status = read_body(conn, req)
  if not req.body then return nil, status end
  return req
end

-- The response's Connection field: "close", "keep-alive" (for HTTP/1.0) or
-- nil (HTTP/1.1 keeps the connection by default).
local function connection(req)
  local tokens = {}
  for t in (req.headers.connection or ""):lower():gmatch("[^,%s]+") do tokens[t] = true end
  if tokens.close or (req.minor == "0" and not tokens["keep-alive"]) then return "close" end
  return req.minor == "0" and "keep-alive" or nil
end

-- Writes res in one write (the head and body together, so TCP sends no short
-- segment to wait on a delayed ACK), the body left out for a HEAD request;
-- true on success.
local function respond(conn, res, conn_field, head_only)
  local head = {
    ("HTTP/1.1 %d %s"):format(res.status, REASONS[res.status]),
    "Date: " .. os.date("!%a, %d %b %Y %H:%M:%S GMT"),
    "Content-Type: " .. res.type,
    "Content-Length: " .. #res.body,
  }
  if res.allow then head[#head + 1] = "Allow: " .. res.allow end
  if conn_field then head[#head + 1] = "Connection: " .. conn_field end
  head[#head + 1] = "\r\n"
  return conn:write(table.concat(head, "\r\n") .. (head_only and "" or res.body)) ~= nil
end

-- Ends our side and drains the client's (bounded in time and bytes) before the
-- close: closing with unread input would reset the connection, and a client
-- still sending could lose the response (RFC 9112, section 9.6).
local function linger(conn)
  conn:close_write()
  conn:set_read_deadline(luds.now() + LINGER.seconds)
  local drained = 0
  while drained < LINGER.bytes do
    local data = conn:read()
    if not data then return end
    drained = drained + #data
  end
end

-- Answers requests until the client leaves, asks to close, idles or misbehaves.
-- luds.serve closes conn when this returns.
local function serve_conn(conn)
  while not draining do
    conn:set_deadline(luds.now() + IDLE)
    local req, status = read_request(conn)
    if not req then
      if status and respond(conn, failure(status), "close") then linger(conn) end
      return
    end
    local conn_field = draining and "close" or connection(req)
    if not respond(conn, route(req), conn_field, req.method == "HEAD") or conn_field == "close" then
      return
    end
  end
end

local function handle(conn)
  stats.connections = stats.connections + 1
  stats.active = stats.active + 1
  serve_conn(conn)
  stats.active = stats.active - 1
end

-- A first argument that names a luds network is the network, as in
-- echo_unix.lua: a socket file called "tcp" is given as ./tcp.
local network, address, extra = table.unpack(arg, 2)
if not LUDS_NETWORKS[network] then network, address, extra = "unix", network, address end
if arg[1] ~= "serve" or not address or extra or not NETWORKS[network] then usage() end
local ln, err = luds.listen(network, address)
if not ln then die(err) end
stats.address = ln:addr()
print("listening on " .. ln:addr())
io.stdout:flush()
local server = luds.server(ln, handle)
luds.on_signal("TERM", function()
  draining = true
  for conn in pairs(idle) do conn:close() end
  server:shutdown(DRAIN)
  luds.exit(0)
end)
-- Returns once the listener is closed (by the drain, or SIGINT).
server:serve()
