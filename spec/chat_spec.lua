-- examples/chat.lua driven by python3 clients: every line reaches every
-- other client, in order per sender, never its sender; a client that never
-- reads is dropped without delaying the others; the server keeps no fd.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local H = require "helper"
local T = require "luds.test"

local EXAMPLE = H.ROOT .. "/examples/chat.lua"

-- Clients connect one by one; each new one is known to be registered once
-- a "probe" line from the first reaches it (probes are left out of what is
-- checked). argv: path, clients, lines per client, line size, silent (0/1).
local PY = [[
import select, socket, sys, time
path, n, lines, size, silent = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
deadline = time.monotonic() + 20
def connect():
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    return s
def registered(first, s):
    for _ in range(400):
        first.sendall(b"probe\n")
        if select.select([s], [], [], 0.05)[0]:
            return
    sys.exit("client never registered")
socks = [connect()]
for k in range(1, n + (1 if silent else 0)):
    s = connect()
    registered(socks[0], s)
    socks.append(s)
mute = socks.pop() if silent else None
pad = b"x" * max(0, size - 8)
for i, s in enumerate(socks):
    s.setblocking(False)
bufs = [b""] * len(socks)
got = [[] for _ in socks]
want = (len(socks) - 1) * lines
sent = [0] * len(socks)
while time.monotonic() < deadline and (any(len(g) < want for g in got) or any(c < lines for c in sent)):
    for i, s in enumerate(socks):
        if sent[i] < lines:
            try:
                s.send(b"%d %05d " % (i, sent[i]) + pad + b"\n")
                sent[i] += 1
            except BlockingIOError:
                pass
    r = select.select(socks, [], [], 0.05)[0]
    for s in r:
        i = socks.index(s)
        bufs[i] += s.recv(1 << 20)
        *done, bufs[i] = bufs[i].split(b"\n")
        got[i] += [l for l in done if l != b"probe"]
for i, g in enumerate(got):
    want_lines = sorted(b"%d %05d " % (j, k) + pad for j in range(len(socks)) if j != i for k in range(lines))
    assert sorted(g) == want_lines, "client %d got %d lines, want %d" % (i, len(g), len(want_lines))
    for j in range(len(socks)):
        mine = [l for l in g if l.startswith(b"%d " % j)]
        assert mine == sorted(mine), "client %d: lines of %d out of order" % (i, j)
if mute is not None:
    mute.settimeout(10)
    while mute.recv(1 << 20):
        pass  # what was queued for it, then the end: it was dropped
print("ok", len(socks), sum(len(g) for g in got))
]]

TestChat = H.suite()

function TestChat:start()
  self.path = self.dir .. "/chat.sock"
  self.server = H.start(("%s %s serve %s"):format(H.q(H.LUDS), H.q(EXAMPLE), H.q(self.path)))
  H.wait_for("the chat server", function()
    return self.server:stdout() == "listening on " .. self.path .. "\n"
  end)
end

function TestChat:clients(n, lines, size, silent)
  local out, err, status = H.exec(("python3 -c %s %s %d %d %d %d"):format(H.q(PY), H.q(self.path),
    n, lines, size, silent and 1 or 0))
  lu.assertEquals({ out, status }, { ("ok %d %d\n"):format(n, n * (n - 1) * lines), 0 }, err)
end

local function proc_fds(pid)
  return tonumber((H.sh(("ls /proc/%d/fd 2>/dev/null | wc -l"):format(pid))))
end

function TestChat:test_every_line_reaches_every_other_client()
  H.run(function()
    self:start()
    local base = H.settled("the server's fds", function() return proc_fds(self.server.pid) end)
    self:clients(4, 50, 40)
    H.wait_for("the server to close every conn", function() return proc_fds(self.server.pid) == base end)
    lu.assertEquals(H.stop(self.server, "TERM"), 143)
    lu.assertFalse(H.exists(self.path))
  end, 30)
end

-- 2,000 lines of 1 KiB each from two clients while a third never reads:
-- its outbox fills, it is dropped, and the two get every line.
function TestChat:test_silent_client_is_dropped_not_waited_for()
  H.run(function()
    self:start()
    local base = H.settled("the server's fds", function() return proc_fds(self.server.pid) end)
    self:clients(2, 2000, 1024, true)
    H.wait_for("the server to close every conn", function() return proc_fds(self.server.pid) == base end)
    lu.assertEquals(H.stop(self.server, "TERM"), 143)
  end, 40)
end

function TestChat:test_usage()
  for _, args in ipairs({ "", "serve", "serve a b", "listen x" }) do
    local out, err, status = H.exec(("%s %s %s"):format(H.q(H.LUDS), H.q(EXAMPLE), args))
    lu.assertEquals({ out, err, status }, { "", "usage: luds chat.lua serve PATH\n", 2 }, args)
  end
end

require("luds").exit(T.run())
