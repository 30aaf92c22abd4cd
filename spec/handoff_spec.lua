-- Handing connections to other processes (issue 8): examples/handoff.lua
-- passes accepted conns to worker processes, which adopt them with luds.wrap;
-- recv_fds's max_fds bound (extra descriptors are closed, never leaked) and
-- send_fds's limits, counted in /proc.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

local HANDOFF = H.ROOT .. "/examples/handoff.lua"

-- Whether descriptor fd of this process is open.
local function is_open(fd)
  return H.slurp("/proc/self/fdinfo/" .. fd) ~= nil
end

-- A connected unixpacket pair under dir.
local function packet_pair(dir)
  local ln <close> = assert(luds.listen("unixpacket", dir .. "/p.sock"))
  local a = assert(luds.dial("unixpacket", dir .. "/p.sock"))
  return a, assert(ln:accept())
end

TestHandoff = H.suite()

-- Starts the parent and two workers; waits until both have joined, in order.
function TestHandoff:setUp()
  self.dir = T.tempdir()
  self.addr, self.control = self.dir .. "/clients.sock", self.dir .. "/control.sock"
  H.run(function()
    local parent = H.start(("%s %s serve %s %s"):format(H.q(H.LUDS), H.q(HANDOFF),
      H.q(self.addr), H.q(self.control)))
    self.parent = parent
    self.log = { ("listening on %s, workers on %s"):format(self.addr, self.control) }
    self:expect_log()
    self.workers = {}
    self.workers[1] = self:start_worker(1)
    self.workers[2] = self:start_worker(2)
  end, 10)
end

-- Waits until the parent's log is exactly self.log.
function TestHandoff:expect_log()
  local want = table.concat(self.log, "\n") .. "\n"
  local out = H.wait_for("the parent's log", function()
    local out = self.parent:stdout() or ""
    local _, n = out:gsub("\n", "")
    return n >= #self.log and out
  end)
  lu.assertEquals(out, want)
end

-- Starts a worker and waits until the parent logs it as the `nth` connected.
function TestHandoff:start_worker(nth)
  local w = H.start(("%s %s worker %s"):format(H.q(H.LUDS), H.q(HANDOFF), H.q(self.control)))
  self.log[#self.log + 1] = ("worker %d joined (%d connected)"):format(w.pid, nth)
  self:expect_log()
  local ready = ("worker %d ready\n"):format(w.pid)
  H.wait_for(ready, function() return w:stdout() == ready end)
  return w
end

-- One round trip on a new client conn; returns the pid in the reply.
function TestHandoff:ask(text)
  local c <close> = assert(luds.dial("unix", self.addr))
  lu.assertEquals(c:write(text .. "\n"), #text + 1)
  local reply = assert(c:read_line())
  local pid = tonumber(reply:match("^%[(%d+)%] "))
  lu.assertEquals(reply, ("[%s] %s"):format(pid, text))
  return pid
end

-- Round-robin over the workers in the order they joined; never the parent.
function TestHandoff:test_workers_answer_round_robin()
  H.run(function()
    local a, b = self.workers[1].pid, self.workers[2].pid
    local got = {}
    for i = 1, 6 do got[i] = self:ask("hello " .. i) end
    lu.assertEquals(got, { a, b, a, b, a, b })
    for _, pid in ipairs(got) do lu.assertNotEquals(pid, self.parent.pid) end
  end, 10)
end

-- Many clients at once, each conversing several lines with its worker while
-- the others are open: the handed-off conns are fully served concurrently.
function TestHandoff:test_concurrent_clients()
  H.run(function()
    local conns = {}
    for i = 1, 20 do conns[i] = assert(luds.dial("unix", self.addr)) end
    local tasks = {}
    for i, c in ipairs(conns) do
      tasks[i] = luds.spawn(function()
        local pids = {}
        for round = 1, 5 do
          assert(c:write(("client %d round %d\n"):format(i, round)))
          local line = assert(c:read_line())
          pids[round] = tonumber(line:match("^%[(%d+)%] client " .. i .. " round " .. round .. "$"))
        end
        c:close()
        return pids
      end)
    end
    local a, b = self.workers[1].pid, self.workers[2].pid
    for i, t in ipairs(tasks) do
      local ok, pids = t:wait(5)
      lu.assertTrue(ok, tostring(pids))
      local w = i % 2 == 1 and a or b -- the connects were accepted in order
      lu.assertEquals(pids, { w, w, w, w, w })
    end
  end, 15)
end

-- 100 handoffs leave the parent with exactly the descriptors it had, and the
-- workers too once the clients have closed.
function TestHandoff:test_no_descriptor_grows()
  H.run(function()
    self:ask("warm up")
    self:ask("warm up")
    local pids = { self.parent.pid, self.workers[1].pid, self.workers[2].pid }
    local before = {}
    for i, pid in ipairs(pids) do
      before[i] = H.settled("fds of " .. pid, function() return H.fd_count(pid) end)
    end
    for i = 1, 100 do self:ask("n" .. i) end
    -- a client's conn is closed by the parent right after the handoff and by
    -- the worker at end of stream: wait for both, then compare exactly
    local after
    H.wait_for("descriptors back to where they were", function()
      after = {}
      for i, pid in ipairs(pids) do after[i] = H.fd_count(pid) end
      return after[1] == before[1] and after[2] == before[2] and after[3] == before[3]
    end)
    lu.assertEquals(after, before)
  end, 30)
end

-- A worker that goes away is dropped; with none left, clients hear so.
function TestHandoff:test_workers_leaving()
  H.run(function()
    local a, b = self.workers[1], self.workers[2]
    lu.assertEquals(H.stop(a, "TERM"), 143)
    self.log[#self.log + 1] = ("worker %d left (1 connected)"):format(a.pid)
    self:expect_log()
    lu.assertEquals({ self:ask("x"), self:ask("y") }, { b.pid, b.pid })
    lu.assertEquals(H.stop(b, "KILL"), 137)
    self.log[#self.log + 1] = ("worker %d left (0 connected)"):format(b.pid)
    self:expect_log()
    local c <close> = assert(luds.dial("unix", self.addr))
    lu.assertEquals(c:read_line(), "no worker")
    H.assert_fails("EOF", "EOF", c:read_line())
    local w = self:start_worker(1)
    lu.assertEquals(self:ask("back"), w.pid)
  end, 15)
end

-- The parent's end of the control socket going away ends an idle worker.
function TestHandoff:test_worker_ends_with_the_parent()
  H.run(function()
    lu.assertEquals(H.stop(self.parent, "TERM"), 143)
    lu.assertEquals(H.wait_exit(self.workers[1]), 0)
    lu.assertEquals(H.wait_exit(self.workers[2]), 0)
    lu.assertFalse(H.exists(self.addr))
    lu.assertFalse(H.exists(self.control))
    lu.assertEquals(self.workers[1]:stderr(), "")
  end, 10)
end

function TestHandoff:test_usage()
  H.run(function()
    for _, args in ipairs({ "", "serve", "serve a", "serve a b c", "worker", "worker a b", "bogus" }) do
      local out, err, status = H.exec(("%s %s %s"):format(H.q(H.LUDS), H.q(HANDOFF), args))
      lu.assertEquals({ out, err, status },
        { "", "usage: luds handoff.lua [serve ADDRESS CONTROL | worker CONTROL]\n", 2 }, args)
    end
    local out, err, status = H.exec(("%s %s worker %s"):format(H.q(H.LUDS), H.q(HANDOFF),
      H.q(self.dir .. "/none.sock")))
    lu.assertEquals({ out, err, status },
      { "", "handoff: dial unixpacket " .. self.dir .. "/none.sock: no such file or directory\n", 1 })
  end, 15)
end

TestMaxFds = H.suite()

-- Three descriptors arrive where max_fds allows fewer: the rest are closed
-- (by the kernel), so exactly the returned ones are new here, and a third
-- value true says so; with room for all there is no third value.
function TestMaxFds:check(a, b, max_fds, want_n, want_dropped)
  local before = H.fd_count()
  lu.assertEquals(a:send_fds("three", { a, a:fd(), a }), 5)
  local got = table.pack(b:recv_fds(nil, max_fds))
  lu.assertEquals(got.n, want_dropped and 3 or 2)
  local data, fds, dropped = table.unpack(got, 1, got.n)
  lu.assertEquals(data, "three")
  lu.assertEquals(#fds, want_n)
  lu.assertEquals(dropped, want_dropped)
  lu.assertEquals(H.fd_count(), before + want_n)
  for _, fd in ipairs(fds) do lu.assertTrue(luds.close_fd(fd)) end
  lu.assertEquals(H.fd_count(), before)
end

function TestMaxFds:test_seqpacket()
  H.run(function()
    local a, b = packet_pair(self.dir)
    self:check(a, b, 0, 0, true)
    self:check(a, b, 1, 1, true)
    self:check(a, b, 2, 2, true)
    self:check(a, b, 3, 3, nil)
    self:check(a, b, nil, 3, nil)
    lu.assertEquals(a:write("after"), 5) -- the conn goes on
    lu.assertEquals(b:read(), "after")
  end)
end

function TestMaxFds:test_stream()
  H.run(function()
    local a, b, ln = H.pair(self.dir)
    self:check(a, b, 0, 0, true)
    self:check(a, b, 1, 1, true)
    self:check(a, b, 2, 2, true)
    self:check(a, b, 3, 3, nil)
    lu.assertEquals(a:write("after"), 5)
    lu.assertEquals(b:read(), "after")
    ln:close()
  end)
end

-- 253 descriptors (one fd sent 253 times: the receiver gets 253 new ones)
-- is the most one message carries; 254 is a misuse.
function TestMaxFds:test_253_works_254_raises()
  H.run(function()
    local a, b = packet_pair(self.dir)
    local many = {}
    for i = 1, 253 do many[i] = a:fd() end
    local before = H.fd_count()
    lu.assertEquals(a:send_fds("many", many), 4)
    local got = table.pack(b:recv_fds())
    lu.assertEquals({ got.n, got[1], #got[2] }, { 2, "many", 253 })
    local fds = got[2]
    lu.assertEquals(H.fd_count(), before + 253)
    for _, fd in ipairs(fds) do lu.assertTrue(luds.close_fd(fd)) end
    lu.assertEquals(H.fd_count(), before)
    many[254] = a:fd()
    H.assert_raises({ "too many descriptors" }, a.send_fds, a, "many", many)
    lu.assertEquals(H.fd_count(), before)
  end)
end

-- Bad entries: a string or a negative number is a misuse (raises, nothing
-- sent); a number that is no open descriptor is a run-time failure (EBADF),
-- the message is not sent and the conn goes on.
function TestMaxFds:test_bad_descriptors()
  H.run(function()
    local a, b = packet_pair(self.dir)
    H.assert_raises({ "bad descriptor #2" }, a.send_fds, a, "x", { a:fd(), "three" })
    H.assert_raises({ "bad descriptor #1" }, a.send_fds, a, "x", { -1 })
    H.assert_raises({ "bad descriptor #1" }, a.send_fds, a, "x", { 1.5 })
    lu.assertFalse(is_open(999999))
    H.assert_fails("EBADF", nil, a:send_fds("x", { 999999 }))
    H.assert_fails("EBADF", nil, a:send_fds("x", { a:fd(), 999999 }))
    lu.assertEquals(a:write("only this"), 9)
    lu.assertEquals(table.pack(b:recv_fds()), { n = 2, "only this", {} })
  end)
end

TestWrap = H.suite()

-- Each kind of received descriptor becomes the matching object.
function TestWrap:test_received_kinds()
  H.run(function()
    local d = self.dir
    local client, server = H.pair(d)
    local ln <close> = assert(luds.listen("unixpacket", d .. "/wrap-p.sock"))
    local g <close> = assert(luds.listen_packet("unixgram", d .. "/wrap-g.sock"))
    local tcp <close> = assert(luds.listen("tcp", "127.0.0.1:0"))
    lu.assertEquals(client:send_fds("k", { server, ln, g, tcp }), 1)
    local _, fds = server:recv_fds()
    local got = {}
    for i, fd in ipairs(fds) do
      local obj = assert(luds.wrap(fd))
      lu.assertEquals(obj:fd(), fd)
      got[i] = getmetatable(obj).kind .. ": " .. tostring(obj)
      obj:close()
    end
    lu.assertEquals(got, {
      "conn: unix conn " .. d .. "/pair.sock",
      "listener: unixpacket listener " .. d .. "/wrap-p.sock",
      "packet conn: unixgram packet conn " .. d .. "/wrap-g.sock",
      "listener: tcp listener " .. tcp:addr(),
    })
    -- the originals are untouched by closing the adopted copies
    lu.assertEquals(client:write("still"), 5)
    lu.assertEquals(server:read(), "still")
  end)
end

-- Failures leave the descriptor with the caller: one that cannot be polled
-- (standard input is /dev/null in the child) stays open; a closed one is
-- EBADF.
function TestWrap:test_failures()
  H.run(function()
    H.assert_fails("EBADF", nil, luds.wrap(999999))
    local code = [[
local luds = require "luds"
local obj, msg, code = luds.wrap(0)
print(obj, type(msg), code, io.open("/proc/self/fdinfo/0") ~= nil, io.read("a"))
]]
    local out, err, status = H.exec(("%s -e %s"):format(H.q(H.LUDS), H.q(code)))
    lu.assertEquals({ out, err, status }, { "nil\tstring\tEPERM\ttrue\t\n", "", 0 })
  end)
end

luds.exit(T.run())
