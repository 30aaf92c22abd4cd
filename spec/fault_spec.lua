-- Faults around a server: clients that die, half-close, stay silent or never
-- read; servers that are killed or run out of fds; a thousand clients at once;
-- tasks that raise or block forever. Whatever happens, the server keeps serving
-- and every byte it acknowledged arrives once, in order.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

-- Readings of another process (a child server) from /proc.
local function proc_fds(pid)
  return tonumber((H.sh(("ls /proc/%d/fd 2>/dev/null | wc -l"):format(pid))))
end

-- Whether every fd number below limit is open in process pid (fds inherited
-- from outside may sit above it).
local function proc_fds_full(pid, limit)
  local open = {}
  for fd in H.sh(("ls /proc/%d/fd 2>/dev/null"):format(pid)):gmatch("%d+") do
    open[tonumber(fd)] = true
  end
  for fd = 0, limit - 1 do
    if not open[fd] then return false end
  end
  return true
end

local function proc_rss_kib(pid)
  return tonumber((H.slurp(("/proc/%d/status"):format(pid)) or ""):match("VmRSS:%s*(%d+) kB"))
end

-- utime + stime in clock ticks: fields 14 and 15 of /proc/PID/stat, counted
-- after the ")" that ends the command name (which may hold spaces).
local function proc_cpu_ticks(pid)
  local rest = assert((H.slurp(("/proc/%d/stat"):format(pid)) or ""):match("%) (.*)$"))
  local fields = {}
  for f in rest:gmatch("%S+") do fields[#fields + 1] = f end
  return tonumber(fields[12]) + tonumber(fields[13])
end

local CLK_TCK = tonumber((H.sh("getconf CLK_TCK"))) or 100

-- Whether child p is still running.
local function alive(p)
  return H.exited(p) == nil
end

-- The exit status of child p, waiting up to `seconds`.
local function wait_exit(p, seconds)
  return H.wait_exit(p, seconds)
end

-- n bytes in which every 4-byte word holds its own offset, so that a lost,
-- repeated or reordered chunk never compares equal.
local pattern_bytes = ""
local function pattern(n)
  if #pattern_bytes < n then
    local t = {}
    for i = 0, (n + 3) // 4 - 1 do t[#t + 1] = string.pack("<I4", i * 4) end
    pattern_bytes = table.concat(t)
  end
  return pattern_bytes:sub(1, n)
end

-- Compares without printing megabytes when they differ.
local function assert_bytes(got, want, what)
  if got == want then return end
  local i = 1
  while i <= #got and i <= #want and got:byte(i) == want:byte(i) do i = i + 1 end
  lu.fail(("%s: got %d bytes, want %d; first difference at byte %d")
    :format(what or "data", #got, #want, i))
end

local function round_trip(conn, message)
  lu.assertEquals(conn:write(message), #message)
  lu.assertEquals(conn:read_full(#message), message)
end

local function dial_round_trip(path, message)
  local c <close> = assert(luds.dial("unix", path))
  c:set_deadline(luds.now() + 5)
  round_trip(c, message)
end

-- Writes `source` to dir/name and returns a shell command running it on luds
-- with the given arguments.
local function script(dir, name, source, ...)
  local file = dir .. "/" .. name
  H.spit(file, source)
  local cmd = H.q(H.LUDS) .. " " .. H.q(file)
  for _, a in ipairs({ ... }) do cmd = cmd .. " " .. H.q(a) end
  return cmd
end

-- A client process streaming into the echo server on two conns: one does
-- round trips (it prints "streaming" after ten), the other writes and never
-- reads (it prints "flooded" once a write stalls, i.e. the server's echo of it
-- is blocked too). Killed mid-stream, it leaves the server a conn in read and
-- a conn in a blocked write.
local STREAMER = [[
local luds = require "luds"
local path = ...
local talker = assert(luds.dial("unix", path))
local flooder = assert(luds.dial("unix", path))
luds.spawn(function()
  local chunk = ("f"):rep(65536)
  flooder:set_write_deadline(luds.now() + 0.05)
  while true do
    local n, _, code = flooder:write(chunk)
    if code == "TIMEOUT" then
      io.stdout:write("flooded\n"); io.stdout:flush()
      flooder:set_write_deadline(nil)
    elseif not n then
      error(code)
    end
  end
end)
local block = ("0123456789abcdef"):rep(4096)
for i = 1, math.huge do
  assert(talker:write(block))
  assert(talker:read_full(#block) == block)
  if i == 10 then io.stdout:write("streaming\n"); io.stdout:flush() end
end
]]

TestClientFaults = H.suite()

function TestClientFaults:test_client_killed_mid_stream_server_keeps_serving()
  H.run(function()
    local path = self.dir .. "/echo.sock"
    local server = H.start_echo(path)
    local other <close> = assert(luds.dial("unix", path))
    other:set_deadline(luds.now() + 10)
    round_trip(other, "before the kill")
    local base = H.settled("the server's fds", function() return proc_fds(server.pid) end)
    local client = H.start(script(self.dir, "streamer.lua", STREAMER, path))
    H.wait_for("the client to stream and flood", function()
      local out = client:stdout() or ""
      return out:find("streaming\n", 1, true) and out:find("flooded\n", 1, true)
    end)
    lu.assertEquals(proc_fds(server.pid), base + 2)
    lu.assertEquals(H.stop(client, "KILL"), 128 + 9)
    -- The server sees the dead peer on both conns and closes them.
    H.wait_for("the server to close the dead client's conns",
      function() return proc_fds(server.pid) == base end)
    round_trip(other, "after the kill")
    dial_round_trip(path, "a new client")
    lu.assertTrue(alive(server))
    lu.assertEquals(server:stderr(), "")
    lu.assertEquals(H.stop(server, "TERM"), 143)
  end, 15)
end

-- The client writes 3 MiB (while reading, so no buffer can deadlock), then
-- closes its write side: it gets every byte back, then EOF.
function TestClientFaults:test_half_closed_client_gets_all_its_echo_then_eof()
  H.run(function()
    local path = self.dir .. "/echo.sock"
    local server = H.start_echo(path)
    local data = pattern(3 * 1024 * 1024 + 17)
    local c <close> = assert(luds.dial("unix", path))
    c:set_deadline(luds.now() + 20)
    local writer = luds.spawn(function() return c:write(data), c:close_write() end)
    local got, ending = H.read_all(c)
    assert_bytes(got, data, "echo after close_write")
    lu.assertEquals(ending, { nil, "EOF", "EOF" })
    lu.assertEquals({ writer:wait(1) }, { true, #data, true })
    dial_round_trip(path, "still serving")
    lu.assertEquals(H.stop(server, "TERM"), 143)
  end, 25)
end

-- An idle-timeout echo handler: each read gets IDLE seconds.
local IDLE = 0.2

function TestClientFaults:test_silent_client_is_freed_by_read_deadline()
  H.run(function()
    local path = self.dir .. "/idle.sock"
    local ln = assert(luds.listen("unix", path))
    local endings = {}
    local server = luds.spawn(luds.serve, ln, function(conn)
      while true do
        conn:set_read_deadline(luds.now() + IDLE)
        local data, _, code = conn:read()
        if not data then endings[#endings + 1] = code return end
        if not conn:write(data) then return end
      end
    end)
    local start = luds.now()
    local silent <close> = assert(luds.dial("unix", path))
    local talker <close> = assert(luds.dial("unix", path))
    silent:set_read_deadline(luds.now() + 5)
    talker:set_deadline(luds.now() + 5)
    local reader = luds.spawn(silent.read, silent)
    -- The talker keeps its conn busy for longer than IDLE: only silence counts.
    local trips = 0
    while reader:status() ~= "done" do
      trips = trips + 1
      round_trip(talker, "keepalive " .. trips)
      luds.sleep(IDLE / 20)
    end
    lu.assertEquals({ reader:wait(1) }, { true, nil, "EOF", "EOF" })
    lu.assertTrue(luds.now() - start >= IDLE, "freed before its deadline")
    lu.assertEquals(endings, { "TIMEOUT" })
    round_trip(talker, "still here")
    talker:close()
    H.wait_for("the talker's handler to end", function() return #endings == 2 end)
    lu.assertEquals(endings, { "TIMEOUT", "EOF" })
    ln:close()
    lu.assertEquals({ server:wait(1) }, { true, true })
  end)
end

-- A server whose handler echoes with a write deadline and prints how its conn
-- ended: "<code> <bytes echoed before>".
local DEADLINE_ECHO = [[
local luds = require "luds"
local path = ...
luds.serve(assert(luds.listen("unix", path)), function(conn)
  local echoed = 0
  while true do
    local data = conn:read()
    if not data then return end
    conn:set_write_deadline(luds.now() + 0.3)
    local n, _, code, written = conn:write(data)
    if not n then
      io.stdout:write(("%s %d\n"):format(code, echoed + written)); io.stdout:flush()
      return
    end
    echoed = echoed + n
  end
end)
]]

-- The client floods 256 MiB and never reads. The server does not buffer it:
-- its write blocks, it stops reading, the client's write stalls; the server's
-- write deadline then ends the conn. What the server echoed arrives exactly.
function TestClientFaults:test_slow_reader_is_bounded_and_timed_out()
  H.run(function()
    local path = self.dir .. "/echo.sock"
    local server = H.start(script(self.dir, "server.lua", DEADLINE_ECHO, path))
    H.wait_socket(path)
    local rss_before = proc_rss_kib(server.pid)
    local chunk = pattern(1024 * 1024)
    local c <close> = assert(luds.dial("unix", path))
    c:set_read_deadline(luds.now() + 10)
    local writer = luds.spawn(function()
      local sent = 0
      for _ = 1, 256 do
        local n, _, code, written = c:write(chunk)
        if not n then return sent + written, code end
        sent = sent + n
      end
      return sent
    end)
    local rss_max = rss_before
    local line = H.wait_for("the server's write deadline", function()
      rss_max = math.max(rss_max, proc_rss_kib(server.pid) or 0)
      return (server:stdout() or ""):match("^(%u+ %d+)\n$")
    end)
    local code, echoed = line:match("^(%u+) (%d+)$")
    lu.assertEquals(code, "TIMEOUT")
    echoed = tonumber(echoed)
    local ok, sent, wcode = writer:wait(5)
    lu.assertTrue(ok)
    lu.assertTrue(wcode == "EPIPE" or wcode == "ECONNRESET", "write ended with " .. tostring(wcode))
    lu.assertTrue(sent < 16 * 1024 * 1024,
      ("the kernel took %d bytes: unbounded buffering"):format(sent))
    lu.assertTrue(echoed > 0 and echoed <= sent, ("echoed %d of %d"):format(echoed, sent))
    lu.assertTrue(rss_max < 64 * 1024 and rss_max - rss_before < 16 * 1024,
      ("server RSS %d KiB, %d KiB before"):format(rss_max, rss_before))
    -- Everything echoed arrives once, in order; the server closed with the
    -- flood unread, so the stream ends in a reset.
    local got, ending = H.read_all(c)
    lu.assertEquals(#got, echoed)
    assert_bytes(got, chunk:rep(echoed // #chunk + 1):sub(1, echoed), "echo of a slow reader")
    H.assert_fails("ECONNRESET", nil, table.unpack(ending, 1, 3))
    dial_round_trip(path, "next client")
    lu.assertEquals(H.stop(server, "TERM"), 143)
  end, 15)
end

TestServerFaults = H.suite()
TestServerFaults.timeout = 120 -- luds.test's bound per test; H.run bounds each body below it

local STALE_SAFE_ECHO = [[
local luds = require "luds"
local path = ...
luds.serve(assert(luds.listen("unix", path, { remove_stale = true })), function(conn)
  repeat local data = conn:read() until not data or not conn:write(data)
end)
]]

function TestServerFaults:test_sigkill_leaves_stale_file_remove_stale_restarts()
  H.run(function()
    local path = self.dir .. "/echo.sock"
    local killed = H.start_echo(path)
    dial_round_trip(path, "first life")
    lu.assertEquals(H.stop(killed, "KILL"), 128 + 9)
    lu.assertEquals(luds.stat(path).type, "socket")
    H.assert_fails("ECONNREFUSED", nil, luds.dial("unix", path))
    H.assert_fails("EADDRINUSE", nil, luds.listen("unix", path))
    lu.assertEquals(luds.stat(path).type, "socket")
    local cmd = script(self.dir, "server.lua", STALE_SAFE_ECHO, path)
    -- remove_stale removes the dead socket; SIGTERM and SIGINT leave no file.
    for _, sig in ipairs({ { "TERM", 143 }, { "INT", 130 } }) do
      local p = H.start(cmd)
      H.wait_socket(path)
      local open <close> = assert(luds.dial("unix", path))
      open:set_deadline(luds.now() + 5)
      round_trip(open, "restarted")
      lu.assertEquals(H.stop(p, sig[1]), sig[2])
      lu.assertFalse(H.exists(path))
      lu.assertEquals({ open:read() }, { nil, "EOF", "EOF" })
      lu.assertEquals(p:stderr(), "")
    end
    lu.assertEquals((H.ls(self.dir):gsub(" ?tmp%.%w+", "")), "server.lua")
  end, 15)
end

function TestServerFaults:test_remove_stale_never_removes_a_live_socket()
  H.run(function()
    local path = self.dir .. "/echo.sock"
    local live = H.start_echo(path)
    local before = luds.stat(path)
    H.assert_fails("EADDRINUSE", nil, luds.listen("unix", path, { remove_stale = true }))
    H.assert_fails("EADDRINUSE", nil, luds.remove_stale(path))
    lu.assertEquals(luds.stat(path).ino, before.ino)
    dial_round_trip(path, "still the first server")
    lu.assertEquals(H.stop(live, "KILL"), 128 + 9)
    local ln = assert(luds.listen("unix", path, { remove_stale = true }))
    local c <close> = assert(luds.dial("unix", path))
    local s <close> = assert(ln:accept())
    ln:close()
    lu.assertFalse(H.exists(path))
  end, 10)
end

-- The server may hold 64 fds; 200 clients connect at once. accept fails with
-- EMFILE; luds.serve backs off (5 ms doubling to 1 s) instead of spinning.
function TestServerFaults:test_fd_exhaustion_backs_off_and_recovers()
  H.run(function()
    local path = self.dir .. "/echo.sock"
    local p = H.start(("sh -c %s"):format(H.q(("ulimit -n 64 && exec %s %s serve %s")
      :format(H.q(H.LUDS), H.q(H.ECHO), H.q(path)))))
    H.wait_socket(path)
    local base = H.settled("the server's fds", function() return proc_fds(p.pid) end)
    local clients = {}
    for i = 1, 200 do clients[i] = assert(luds.dial("unix", path)) end
    H.wait_for("the server to run out of fds", function() return proc_fds_full(p.pid, 64) end)
    -- Accepted clients are served; the first was accepted first.
    clients[1]:set_deadline(luds.now() + 5)
    round_trip(clients[1], "served while saturated")
    -- The last one waits in the backlog: no fd to accept it with.
    lu.assertEquals(clients[200]:write("queued"), 6)
    clients[200]:set_read_deadline(luds.now() + 0.2)
    H.assert_fails("TIMEOUT", nil, clients[200]:read())
    -- A measuring window, not a synchronisation: CPU spent while saturated.
    local ticks, t0 = proc_cpu_ticks(p.pid), luds.now()
    luds.sleep(1)
    local cpu = (proc_cpu_ticks(p.pid) - ticks) / CLK_TCK
    local wall = luds.now() - t0
    lu.assertTrue(cpu < 0.3,
      ("server used %.2f s of CPU in %.2f s while saturated"):format(cpu, wall))
    lu.assertTrue(alive(p))
    for _, c in ipairs(clients) do c:close() end
    -- Service resumes within the longest backoff (1 s) after fds free up.
    local fresh <close> = assert(luds.dial("unix", path))
    fresh:set_deadline(luds.now() + 5)
    round_trip(fresh, "service resumed")
    fresh:close()
    H.wait_for("the server to free every conn", function() return proc_fds(p.pid) == base end)
    lu.assertEquals(p:stderr(), "")
    lu.assertEquals(H.stop(p, "TERM"), 143)
  end, 20)
end

-- CLIENTS clients at once, each ROUNDS round trips on its own conn. Sizes
-- come from a seeded PRNG: 90% of messages 8 B..1 KiB, 9% up to 64 KiB, 1%
-- up to 256 KiB, and every hundredth client sends one of exactly 256 KiB.
-- Each message is a slice of a random block behind a header naming its
-- client and round, so a byte from any other message or position shows up.
-- Messages over 64 KiB are written by a second task while the first reads.
-- Prints "ok <messages> <bytes> <largest>" or the first mismatch.
local HERD = [[
local luds = require "luds"
local path, clients, rounds = arg[1], tonumber(arg[2]), tonumber(arg[3])
math.randomseed(42)
local words = {}
for i = 1, 512 * 1024 / 8 do
  words[i] = string.pack("<i8", math.random(math.mininteger, math.maxinteger))
end
local block = table.concat(words)
local function size_of(c, r)
  if r == 50 and c % 100 == 0 then return 256 * 1024 end
  local roll = math.random(100)
  if roll == 1 then return math.random(64 * 1024 + 1, 256 * 1024) end
  if roll <= 10 then return math.random(1025, 64 * 1024) end
  return math.random(8, 1024)
end
local plan = {}
for c = 1, clients do
  plan[c] = {}
  for r = 1, rounds do
    local n = size_of(c, r)
    plan[c][r] = { n, math.random(1, #block - n + 9) }
  end
end
local done, bytes, largest, failure = 0, 0, 0, nil
local function client(c)
  local conn <close>, err = luds.dial("unix", path)
  if not conn then failure = failure or err return end
  conn:set_deadline(luds.now() + 50)
  for r = 1, rounds do
    local n, off = plan[c][r][1], plan[c][r][2]
    local msg = string.pack("<I4I4", c, r) .. block:sub(off, off + n - 9)
    local writer, ok, werr
    if n > 64 * 1024 then writer = luds.spawn(conn.write, conn, msg)
    else ok, werr = conn:write(msg) if not ok then failure = failure or werr return end end
    local reply, rerr = conn:read_full(n)
    if reply ~= msg then
      failure = failure or ("client %d round %d: %d bytes sent, got %s"):format(c, r, n,
        reply and #reply .. " different bytes" or rerr)
      return
    end
    if writer then
      local _, wn, wrerr = writer:wait()
      if wn ~= n then failure = failure or tostring(wrerr) return end
    end
    done, bytes, largest = done + 1, bytes + n, math.max(largest, n)
  end
end
local tasks = {}
for c = 1, clients do tasks[c] = luds.spawn(client, c) end
for _, t in ipairs(tasks) do t:wait() end
print(failure or ("ok %d %d %d"):format(done, bytes, largest))
]]

function TestServerFaults:test_thousand_clients_hundred_round_trips()
  H.run(function()
    local path = self.dir .. "/echo.sock"
    local function raised(cmd) return "sh -c " .. H.q("ulimit -Sn 4096 && exec " .. cmd) end
    local server = H.start(
      raised(("%s %s serve %s"):format(H.q(H.LUDS), H.q(H.ECHO), H.q(path))))
    H.wait_socket(path)
    local base = H.settled("the server's fds", function() return proc_fds(server.pid) end)
    local herd = H.start(raised(script(self.dir, "herd.lua", HERD, path, 1000, 100)))
    lu.assertEquals(wait_exit(herd, 60), 0, herd:stderr())
    local out = herd:stdout()
    local messages, bytes, largest = out:match("^ok (%d+) (%d+) (%d+)\n$")
    lu.assertEquals({ messages, largest }, { "100000", tostring(256 * 1024) }, out)
    -- About 480 MiB each way with this seed.
    lu.assertTrue(tonumber(bytes) > 400 * 1024 * 1024, "only " .. bytes .. " bytes")
    lu.assertEquals(herd:stderr(), "")
    H.wait_for("the server to close every conn", function() return proc_fds(server.pid) == base end)
    dial_round_trip(path, "after the herd")
    lu.assertEquals(H.stop(server, "TERM"), 143)
  end, 70)
end

TestTaskFaults = H.suite()

-- A handler that raises on "boom": its task ends (traceback on stderr), its
-- conn is closed, and every other conn carries on.
local RAISING_ECHO = [[
local luds = require "luds"
local path = ...
luds.serve(assert(luds.listen("unix", path)), function(conn)
  while true do
    local data = conn:read()
    if not data then return end
    if data:find("boom", 1, true) then error("boom from a handler") end
    if not conn:write(data) then return end
  end
end)
]]

function TestTaskFaults:test_raising_handler_does_not_disturb_others()
  H.run(function()
    local path = self.dir .. "/echo.sock"
    local server = H.start(script(self.dir, "server.lua", RAISING_ECHO, path))
    H.wait_socket(path)
    local steady <close> = assert(luds.dial("unix", path))
    steady:set_deadline(luds.now() + 5)
    local data = pattern(200000)
    local writer = luds.spawn(steady.write, steady, data)
    lu.assertEquals(steady:read_full(100000), data:sub(1, 100000))
    local bomber <close> = assert(luds.dial("unix", path))
    bomber:set_deadline(luds.now() + 5)
    bomber:write("boom")
    lu.assertEquals({ bomber:read() }, { nil, "EOF", "EOF" })
    lu.assertEquals(steady:read_full(100000), data:sub(100001))
    lu.assertEquals({ writer:wait(1) }, { true, #data })
    round_trip(steady, "after the blast")
    dial_round_trip(path, "a new client")
    lu.assertEquals(H.stop(server, "TERM"), 143) -- its output is read to the end
    local err = server:stderr()
    lu.assertStrContains(err, "boom from a handler")
    lu.assertStrContains(err, "stack traceback")
  end, 10)
end

-- A handler blocked forever in read (its client never writes) is cancelled
-- from outside: its <close> conn closes, so the client sees EOF; the other
-- handler is untouched.
function TestTaskFaults:test_handler_blocked_forever_is_cancelled()
  H.run(function()
    local path = self.dir .. "/echo.sock"
    local ln = assert(luds.listen("unix", path))
    local handlers = {}
    local acceptor = luds.spawn(function()
      while true do
        local conn = ln:accept()
        if not conn then return end
        handlers[#handlers + 1] = luds.spawn(function()
          local c <close> = conn
          H.echo(c)
        end)
      end
    end)
    local stuck <close> = assert(luds.dial("unix", path))
    H.wait_for("the stuck client's handler", function() return handlers[1] end)
    local busy <close> = assert(luds.dial("unix", path))
    H.wait_for("the busy client's handler", function() return handlers[2] end)
    busy:set_deadline(luds.now() + 5)
    stuck:set_deadline(luds.now() + 5)
    round_trip(busy, "before")
    H.wait_parked(handlers[1])
    lu.assertTrue(handlers[1]:cancel())
    lu.assertEquals(handlers[1]:status(), "cancelled")
    lu.assertEquals({ handlers[1]:wait(1) }, { false, "cancelled" })
    lu.assertEquals({ stuck:read() }, { nil, "EOF", "EOF" })
    round_trip(busy, "after")
    lu.assertEquals(handlers[2]:status(), "waiting")
    ln:close()
    lu.assertEquals({ acceptor:wait(1) }, { true })
  end)
end

-- Cancelling a task blocked in read_full keeps what it had read: the next
-- reader gets those bytes first, then the rest, none lost or repeated.
function TestTaskFaults:test_cancelled_read_full_loses_no_bytes()
  H.run(function()
    local client, server = T.pair()
    client:write("abc")
    local reader = luds.spawn(server.read_full, server, 10)
    H.wait_parked(reader)
    lu.assertTrue(reader:cancel())
    -- Its wait slot is free again: no BUSY for the next reader.
    client:write("defgh")
    lu.assertEquals(server:read_full(8), "abcdefgh")
    client:write("ij\n")
    lu.assertEquals(server:read_line(), "ij")
  end)
end

luds.exit(T.run())
