-- Resource hygiene: sockets dropped without close are reclaimed by the GC,
-- every fd is born non-blocking and close-on-exec, and closing an object in
-- any state wakes whoever waits on it (with CLOSED) and leaks nothing.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

local BIG = 8 * 1024 * 1024 -- far more than a socket buffers: a writer parks

local PID = H.pid()

-- Full collections until finalizers have run (one cycle marks, the next frees).
local function collect()
  collectgarbage()
  collectgarbage()
end

local function close_all(list)
  for _, obj in ipairs(list) do obj:close() end
end

-- Asserts that task t ended with the CLOSED triple (plus any extra values,
-- which are returned).
local function assert_woken_closed(t)
  local r = table.pack(t:wait(1))
  lu.assertTrue(r[1], "waiter did not finish: " .. tostring(r[2]) .. " " .. tostring(r[4]))
  lu.assertNil(r[2])
  lu.assertIsString(r[3])
  lu.assertEquals(r[4], "CLOSED")
  return table.unpack(r, 5, r.n)
end

TestGc = H.suite()

-- 100,000 sockets of every kind, none closed: the GC finalizes them all and
-- the fd count returns to where it started. Kinds, by i % 10: abstract stream
-- and seqpacket listeners, dialed unixgram conns (autobound), stream conns
-- with their accepted side, and autobound unixgram sockets. Prints
-- "<fds at start> <fds at the end> <highest fd>" or why it stopped.
local DROPPER = [[
local luds = require "luds"
local dir = ...
local stat <close> = assert(io.open("/proc/self/stat"))
local pid = tonumber(stat:read("a"):match("^(%d+)"))
-- Pipes are left out: popen's own pipe has one or both ends open here
-- depending on how far popen has got when find reads the list.
local function fd_count()
  local ls <close> = assert(io.popen(("find /proc/%d/fd -mindepth 1 -maxdepth 1 -printf '%%l\\n'"
    .. " | grep -vc '^pipe:'"):format(pid)))
  return tonumber(ls:read("a"))
end
local ln_path, gram_path = dir .. "/ln.sock", dir .. "/gram.sock"
local ln <close> = assert(luds.listen("unix", ln_path))
local gram <close> = assert(luds.listen_packet("unixgram", gram_path))
collectgarbage()
collectgarbage()
local start = fd_count()
local tag = ("@luds-hygiene-%d-"):format(pid)
local peak = 0
for i = 1, 100000 do
  local kind, a, b, msg = i % 10
  if kind == 0 then
    a, msg = luds.listen("unix", tag .. i)
  elseif kind == 1 then
    a, msg = luds.listen("unixpacket", tag .. i)
  elseif kind == 2 then
    a, msg = luds.dial("unixgram", gram_path)
  elseif kind == 3 then
    a, msg = luds.dial("unix", ln_path)
    b = a and ln:accept()
  else
    a, msg = luds.listen_packet("unixgram", "")
  end
  if not a then error(("socket %d failed (highest fd so far %d): %s"):format(i, peak, msg)) end
  peak = math.max(peak, a:fd(), b and b:fd() or 0)
end
collectgarbage()
collectgarbage()
local after = fd_count()
-- Nothing was left in the listener's queue: it still works.
local c <close> = assert(luds.dial("unix", ln_path))
local s <close> = assert(ln:accept())
c:write("alive")
assert(s:read() == "alive")
print(start, after, peak)
]]

-- The GC is paced by memory, not by fds: a few thousand dropped sockets are
-- still open at the peak, more than a 1024-fd soft limit allows, so the loop
-- runs in a child with room for them.
function TestGc:test_hundred_thousand_dropped_sockets_are_reclaimed()
  H.run(function()
    local script = self.dir .. "/dropper.lua"
    H.spit(script, DROPPER)
    local p = H.start("sh -c " .. H.q(("ulimit -Sn 16384 && exec %s %s %s")
      :format(H.q(H.LUDS), H.q(script), H.q(self.dir))))
    local status = H.wait_exit(p, 25)
    lu.assertEquals(status, 0, p:stderr())
    local start, after, peak = p:stdout():match("^(%d+)\t(%d+)\t(%d+)\n$")
    lu.assertNotNil(start, p:stdout())
    lu.assertEquals(after, start)
    lu.assertTrue(tonumber(peak) > tonumber(start), "no socket was ever open")
  end, 30)
end

-- Dropped listeners remove their socket files when collected; listen_packet
-- sockets keep theirs unless unlink_on_close, as when closed.
function TestGc:test_dropped_path_sockets_follow_close_rules_for_files()
  H.run(function()
    local held = {} -- until counted: a collection may come at any allocation
    for i = 1, 300 do
      held[#held + 1] = assert(luds.listen("unix", ("%s/s%d.sock"):format(self.dir, i)))
      held[#held + 1] = assert(luds.listen("unixpacket", ("%s/p%d.sock"):format(self.dir, i)))
      held[#held + 1] = assert(luds.listen_packet("unixgram", ("%s/g%d.sock"):format(self.dir, i),
        { unlink_on_close = true }))
    end
    held[#held + 1] = assert(luds.listen_packet("unixgram", self.dir .. "/kept.sock"))
    lu.assertEquals(select(2, H.ls(self.dir):gsub("%S+", "")), 901)
    held = nil
    collect()
    lu.assertEquals(H.ls(self.dir), "kept.sock")
    lu.assertEquals(luds.stat(self.dir .. "/kept.sock").type, "socket")
  end)
end

-- A conn with bytes read ahead (read_line left them buffered) is collected
-- like any other: its fd closes, the peer sees EOF.
function TestGc:test_dropped_conn_with_read_ahead()
  H.run(function()
    local client, server = H.pair(self.dir)
    client:write("line\nmore bytes, read ahead")
    lu.assertEquals(server:read_line(), "line")
    server = nil
    collect()
    client:set_read_deadline(luds.now() + 5)
    lu.assertEquals({ client:read() }, { nil, "EOF", "EOF" })
  end)
end

-- Every fd luds opens is O_NONBLOCK and O_CLOEXEC: check the flags in
-- /proc/self/fdinfo and that a child process inherits none of them.
function TestGc:test_fds_are_nonblocking_and_close_on_exec()
  H.run(function()
    local path, ppath, gpath = self.dir .. "/s.sock", self.dir .. "/p.sock", self.dir .. "/g.sock"
    local ln <close> = assert(luds.listen("unix", path))
    local pln <close> = assert(luds.listen("unixpacket", ppath))
    local gram <close> = assert(luds.listen_packet("unixgram", gpath))
    local objects = { ln, pln, gram,
      assert(luds.dial("unix", path)), assert(ln:accept()),
      assert(luds.dial("unixpacket", ppath)), assert(pln:accept()),
      assert(luds.dial("unixgram", gpath)), assert(luds.listen_packet("unixgram", "")),
      assert(luds.listen("tcp4", "127.0.0.1:0")) }
    local inodes = {}
    for _, obj in ipairs(objects) do
      local info = assert(H.slurp(("/proc/self/fdinfo/%d"):format(obj:fd())))
      local flags = tonumber(info:match("flags:%s*(%d+)"), 8)
      lu.assertEquals(flags & 0x800, 0x800, tostring(obj) .. " is not O_NONBLOCK")
      lu.assertEquals(flags & 0x80000, 0x80000, tostring(obj) .. " is not O_CLOEXEC")
      local link = H.sh(("readlink /proc/%d/fd/%d"):format(PID, obj:fd()))
      inodes[#inodes + 1] = assert(link:match("socket:%[(%d+)%]"), link)
    end
    local child = H.sh("ls -l /proc/self/fd/")
    for _, inode in ipairs(inodes) do
      lu.assertNotStrContains(child, "socket:[" .. inode .. "]")
    end
    lu.assertNotStrContains(child, "eventpoll")
    lu.assertNotStrContains(child, "signalfd")
    close_all({ table.unpack(objects, 4) })
  end)
end

TestCloseWakes = H.suite()

function TestCloseWakes:test_listener_with_blocked_accept()
  H.run(function()
    for _, net in ipairs({ "unix", "unixpacket" }) do
      local path = self.dir .. "/" .. net .. ".sock"
      local ln = assert(luds.listen(net, path))
      local acceptor = luds.spawn(ln.accept, ln)
      H.wait_parked(acceptor)
      lu.assertTrue(ln:close())
      assert_woken_closed(acceptor)
      lu.assertFalse(H.exists(path))
      H.assert_fails("CLOSED", nil, ln:close())
      H.assert_fails("CLOSED", nil, ln:accept())
    end
  end)
end

-- The accept loop of luds.serve ends with true when its listener closes.
function TestCloseWakes:test_serve_returns_when_listener_closes()
  H.run(function()
    local ln = assert(luds.listen("unix", self.dir .. "/s.sock"))
    local server = luds.spawn(luds.serve, ln, H.echo)
    H.wait_parked(server)
    ln:close()
    lu.assertEquals({ server:wait(1) }, { true, true })
  end)
end

function TestCloseWakes:test_conn_with_blocked_readers_of_every_kind()
  H.run(function()
    local reads = {
      function(c) return c:read() end,
      function(c) return c:read_full(10) end,
      function(c) return c:read_line() end,
    }
    for i, read in ipairs(reads) do
      local client, server = H.pair(self.dir, i .. ".sock")
      client:write("partial") -- read_full and read_line park with bytes in hand
      if i == 1 then lu.assertEquals(server:read(), "partial") end
      local reader = luds.spawn(read, server)
      H.wait_parked(reader)
      lu.assertTrue(server:close())
      assert_woken_closed(reader)
      client:set_read_deadline(luds.now() + 5)
      lu.assertEquals({ client:read() }, { nil, "EOF", "EOF" })
    end
  end)
end

-- A writer blocked on a peer that does not read wakes with CLOSED and the
-- count of bytes that went before; the peer receives exactly those bytes.
function TestCloseWakes:test_conn_with_blocked_writer()
  H.run(function()
    local client, server = T.pair()
    local data = ("0123456789abcdef"):rep(BIG // 16)
    local writer = luds.spawn(client.write, client, data)
    H.wait_parked(writer)
    lu.assertTrue(client:close())
    local written = assert_woken_closed(writer)
    lu.assertEquals(math.type(written), "integer")
    lu.assertTrue(written > 0 and written < #data, "written " .. tostring(written))
    server:set_read_deadline(luds.now() + 5)
    local got = {}
    while true do
      local chunk, _, code = server:read()
      if not chunk then lu.assertEquals(code, "EOF") break end
      got[#got + 1] = chunk
    end
    got = table.concat(got)
    lu.assertEquals(#got, written)
    lu.assertTrue(got == data:sub(1, written), "the peer got other bytes than were written")
  end)
end

function TestCloseWakes:test_conn_with_reader_and_writer_blocked_at_once()
  H.run(function()
    local client, server = T.pair()
    local reader = luds.spawn(client.read, client)
    local writer = luds.spawn(client.write, client, ("w"):rep(BIG))
    H.wait_parked(reader)
    H.wait_parked(writer)
    client:close()
    assert_woken_closed(reader)
    assert_woken_closed(writer)
    server:set_read_deadline(luds.now() + 5)
    lu.assertEquals(server:read(1), "w")
  end)
end

function TestCloseWakes:test_packet_conns_with_blocked_reader_and_writer()
  H.run(function()
    local rpath, spath = self.dir .. "/r.sock", self.dir .. "/s.sock"
    local receiver = assert(luds.listen_packet("unixgram", rpath))
    local sink = assert(luds.listen_packet("unixgram", spath)) -- never read
    -- read_from on an idle socket.
    local reader = luds.spawn(receiver.read_from, receiver)
    H.wait_parked(reader)
    receiver:close()
    assert_woken_closed(reader)
    -- write_to a full receiver retries on a timer; close ends it too.
    local sender = assert(luds.listen_packet("unixgram", ""))
    local flooder = luds.spawn(function()
      while true do
        local n, msg, code = sender:write_to(("x"):rep(1024), spath)
        if not n then return nil, msg, code end
      end
    end)
    H.wait_parked(flooder)
    sender:close()
    assert_woken_closed(flooder)
    -- A connected unixgram conn waits for writability instead.
    local dialed = assert(luds.dial("unixgram", spath))
    local writer = luds.spawn(function()
      while true do
        local n, msg, code = dialed:write(("y"):rep(1024))
        if not n then return nil, msg, code end
      end
    end)
    H.wait_parked(writer)
    dialed:close()
    assert_woken_closed(writer)
    sink:close()
  end)
end

function TestCloseWakes:test_unixpacket_conn_with_blocked_reader()
  H.run(function()
    local path = self.dir .. "/p.sock"
    local ln <close> = assert(luds.listen("unixpacket", path))
    local client <close> = assert(luds.dial("unixpacket", path))
    local server = assert(ln:accept())
    local reader = luds.spawn(server.read, server)
    H.wait_parked(reader)
    server:close()
    assert_woken_closed(reader)
    client:set_read_deadline(luds.now() + 5)
    lu.assertEquals({ client:read() }, { nil, "EOF", "EOF" })
  end)
end

-- Fills a listener's backlog (backlog = 1, never accepted) until a dial
-- blocks: luds retries EAGAIN with backoff. Returns the blocked dial's task
-- and the conns that got in.
local function blocked_dial(path, opts)
  local queued = {}
  for _ = 1, 20 do
    local t = luds.spawn(luds.dial, "unix", path, opts)
    local status = H.wait_for("the dial to finish or block", function()
      local s = t:status()
      return (s == "done" or s == "waiting") and s
    end)
    if status == "waiting" then return t, queued end
    local _, conn, msg = t:wait()
    queued[#queued + 1] = assert(conn, msg)
  end
  lu.fail("no dial blocked on a full backlog")
end

function TestCloseWakes:test_dial_in_progress_cancelled_leaks_nothing()
  H.run(function()
    local path = self.dir .. "/full.sock"
    collect()
    local start = H.fd_count()
    local ln = assert(luds.listen("unix", path, { backlog = 1 }))
    local dial, queued = blocked_dial(path)
    lu.assertTrue(dial:cancel())
    lu.assertEquals({ dial:wait(1) }, { false, "cancelled" })
    close_all(queued)
    ln:close()
    collect()
    lu.assertEquals(H.fd_count(), start)
  end)
end

function TestCloseWakes:test_dial_in_progress_times_out()
  H.run(function()
    local path = self.dir .. "/full.sock"
    local ln <close> = assert(luds.listen("unix", path, { backlog = 1 }))
    local dial, queued = blocked_dial(path, { timeout = 0.1 })
    local ok, conn, msg, code = dial:wait(2)
    lu.assertTrue(ok)
    H.assert_fails("TIMEOUT", nil, conn, msg, code)
    close_all(queued)
  end)
end

-- Room in the backlog lets the blocked dial through on a retry.
function TestCloseWakes:test_dial_in_progress_completes_when_backlog_drains()
  H.run(function()
    local path = self.dir .. "/full.sock"
    local ln <close> = assert(luds.listen("unix", path, { backlog = 1 }))
    local dial, queued = blocked_dial(path)
    local accepted = {}
    for i = 1, #queued + 1 do accepted[i] = assert(ln:accept()) end
    local ok, conn = dial:wait(2)
    lu.assertTrue(ok)
    lu.assertNotNil(conn)
    conn:write("through")
    accepted[#accepted]:set_read_deadline(luds.now() + 5)
    lu.assertEquals(accepted[#accepted]:read(), "through")
    close_all(queued)
    close_all(accepted)
    conn:close()
  end)
end

-- The listener closes (its file goes) while a dial waits to retry.
function TestCloseWakes:test_dial_in_progress_when_listener_closes()
  H.run(function()
    local path = self.dir .. "/full.sock"
    local ln = assert(luds.listen("unix", path, { backlog = 1 }))
    local dial, queued = blocked_dial(path)
    ln:close()
    local ok, conn, msg, code = dial:wait(2)
    lu.assertTrue(ok)
    H.assert_fails("ENOENT", nil, conn, msg, code)
    close_all(queued)
  end)
end

function TestCloseWakes:test_sleeping_task_and_its_waiters()
  H.run(function()
    local sleeper = luds.spawn(luds.sleep, 100)
    local waiters = {}
    for i = 1, 3 do waiters[i] = luds.spawn(sleeper.wait, sleeper) end
    H.wait_parked(sleeper)
    for _, w in ipairs(waiters) do H.wait_parked(w) end
    lu.assertTrue(waiters[2]:cancel()) -- a waiter leaves; the others stay
    lu.assertTrue(sleeper:cancel())
    lu.assertEquals({ waiters[1]:wait(1) }, { true, false, "cancelled" })
    lu.assertEquals({ waiters[3]:wait(1) }, { true, false, "cancelled" })
    lu.assertEquals(waiters[2]:status(), "cancelled")
  end)
end

-- Every state at once, closed in one sweep by another task: every waiter
-- wakes, and no fd is left behind.
function TestCloseWakes:test_everything_closed_at_once()
  H.run(function()
    collect()
    local start = H.fd_count()
    local objects, waiters = {}, {}
    local function keep(obj) objects[#objects + 1] = obj return obj end
    local function wait_on(f, ...) waiters[#waiters + 1] = luds.spawn(f, ...) end
    local big = ("z"):rep(BIG)
    for i = 1, 20 do
      local idle = keep(assert(luds.listen("unix", ("%s/idle%d.sock"):format(self.dir, i))))
      wait_on(idle.accept, idle)
      local ln = keep(assert(luds.listen("unixpacket", ("%s/busy%d.sock"):format(self.dir, i))))
      local a = keep(assert(luds.dial("unixpacket", ln:addr())))
      keep(assert(ln:accept()))
      wait_on(a.read, a)
      local client, server = H.pair(self.dir, ("pair%d.sock"):format(i))
      keep(client)
      keep(server)
      wait_on(client.read, client)
      wait_on(client.write, client, big)
      local pc = keep(assert(luds.listen_packet("unixgram", "")))
      wait_on(pc.read_from, pc)
    end
    for _, w in ipairs(waiters) do H.wait_parked(w) end
    local sweeper = luds.spawn(close_all, objects)
    lu.assertEquals({ sweeper:wait(1) }, { true })
    for _, w in ipairs(waiters) do assert_woken_closed(w) end
    objects, waiters = nil, nil
    collect()
    lu.assertEquals(H.fd_count(), start)
    lu.assertEquals(H.ls(self.dir), "")
  end)
end

luds.exit(T.run())
