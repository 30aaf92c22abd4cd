-- The example unixgram and unixpacket echo servers (separate luds processes)
-- against python3's socket module: every message must come back exactly, whole
-- and on its own, empty ones included; SIGTERM stops a server and removes its file.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

local NETWORKS = { "unixgram", "unixpacket" }
local EXAMPLE = {
  unixgram = H.ROOT .. "/examples/echo_unixgram.lua",
  unixpacket = H.ROOT .. "/examples/echo_unixpacket.lua",
}

-- Messages travel framed as "<length>\n<bytes>". The client reads frames from
-- the file argv[3], sends them all to the server argv[2] (a SOCK_DGRAM socket
-- bound to argv[4], or one SOCK_SEQPACKET connection), then receives as many
-- replies, one recv each, and writes every reply framed as
-- "<length> <sender>\n<bytes>". Sending all before receiving shows that each
-- message comes back on its own: merged or split replies change the frames.
local PY_CLIENT = [[
import socket, sys
kind, server, frames = sys.argv[1], sys.argv[2], open(sys.argv[3], "rb").read()
msgs = []
while frames:
    n, _, frames = frames.partition(b"\n")
    msgs.append(frames[:int(n)])
    frames = frames[int(n):]
if kind == "unixgram":
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(sys.argv[4])
else:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(server)
s.settimeout(10)
for m in msgs:
    if kind == "unixgram":
        s.sendto(m, server)
    else:
        s.send(m)
for _ in msgs:
    if kind == "unixgram":
        data, sender = s.recvfrom(1 << 20)
    else:
        data, sender = s.recv(1 << 20), s.getpeername()
    sys.stdout.buffer.write(b"%d %s\n" % (len(data), sender.encode()) + data)
]]

-- n bytes that are not one byte repeated, so a shifted or cut copy differs.
-- Waits until child p, a server of kind `network`, answers a dial at path;
-- fails at once with its stderr if it exits first.
local function wait_server(p, network, path)
  H.wait_for("a " .. network .. " server at " .. path, function()
    local rc = H.exited(p)
    if rc then lu.fail(("server exited (%d): %s"):format(rc, p:stderr())) end
    local c = luds.dial(network, path)
    if c then c:close() end
    return c ~= nil
  end)
end

TestInterop = H.suite()

-- Starts the example echo server of kind `network` at self.dir/echo.sock.
function TestInterop:start(network)
  self.path = self.dir .. "/echo.sock"
  self.server = H.start(("%s %s serve %s"):format(H.q(H.LUDS), H.q(EXAMPLE[network]), H.q(self.path)))
  wait_server(self.server, network, self.path)
end

-- Sends msgs through python3 to the running server; asserts that each came
-- back exactly, separately, in order and from the server's address.
function TestInterop:assert_python_echoes(network, msgs)
  local file, frames, replies = self.dir .. "/frames", {}, {}
  for i, m in ipairs(msgs) do
    frames[i] = ("%d\n"):format(#m) .. m
    replies[i] = ("%d %s\n"):format(#m, self.path) .. m
  end
  H.spit(file, table.concat(frames))
  local out, err, status = H.exec(("python3 -c %s %s %s %s %s"):format(H.q(PY_CLIENT), network,
    H.q(self.path), H.q(file), H.q(self.dir .. "/client.sock")))
  lu.assertEquals({ err, status }, { "", 0 })
  for i, reply in ipairs(replies) do
    local got = out:sub(1, #reply)
    out = out:sub(#reply + 1)
    lu.assertTrue(got == reply, ("reply %d differs: %q..."):format(i, got:sub(1, 40)))
  end
  lu.assertEquals(out, "")
end

function TestInterop:test_python_datagrams()
  H.run(function()
    self:start("unixgram")
    self:assert_python_echoes("unixgram",
      { "ping", "", "ping", "\0\255\n", H.pattern(100 * 1024), "", "end" })
  end, 20)
end

function TestInterop:test_python_seqpacket_messages()
  H.run(function()
    self:start("unixpacket")
    self:assert_python_echoes("unixpacket",
      { "ping", "ping", "ping", "", H.pattern(200 * 1024), "end" })
  end, 20)
end

function TestInterop:test_ping_clients()
  H.run(function()
    for _, network in ipairs(NETWORKS) do
      self:start(network)
      local out, err, status = H.exec(("%s %s ping %s hello 2")
        :format(H.q(H.LUDS), H.q(EXAMPLE[network]), H.q(self.path)))
      lu.assertEquals(out, "sent: hello\nreceived: hello\nsent: hello\nreceived: hello\n")
      lu.assertEquals({ err, status }, { "", 0 })
      lu.assertEquals(H.stop(self.server, "TERM"), 143)
    end
  end, 20)
end

function TestInterop:test_sigterm_stops_servers_and_removes_files()
  H.run(function()
    for _, network in ipairs(NETWORKS) do
      self:start(network)
      lu.assertTrue(H.exists(self.path))
      self:assert_python_echoes(network, { "last words" })
      lu.assertEquals(H.stop(self.server, "TERM"), 143)
      lu.assertFalse(H.exists(self.path))
      lu.assertEquals(self.server:stdout(), "listening on " .. self.path .. "\n")
    end
  end, 20)
end

-- One client that never reads must not stop the server for the others
-- (issue 12, item 16): its full queue costs a reply deadline, then it is
-- left unanswered for a while; a well-behaved python3 client is served.
local PY_SILENT = [[
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[2])
s.settimeout(2)
sent = 0
for i in range(200):
    try:
        s.sendto(b"flood %d" % i, sys.argv[1])
        sent += 1
    except socket.timeout:
        break
print(sent)
]]

local PY_GOOD = [[
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[2])
s.settimeout(2)
for i in range(50):
    msg = b"hello %d" % i
    s.sendto(msg, sys.argv[1])
    assert s.recv(100) == msg, "wrong reply"
print("ok")
]]

function TestInterop:test_silent_client_does_not_stall_others()
  H.run(function()
    self:start("unixgram")
    local out, err, status = H.exec(("python3 -c %s %s %s"):format(H.q(PY_SILENT), H.q(self.path),
      H.q(self.dir .. "/silent.sock")))
    lu.assertEquals({ out, status }, { "200\n", 0 }, err) -- the server kept reading
    out, err, status = H.exec(("python3 -c %s %s %s"):format(H.q(PY_GOOD), H.q(self.path),
      H.q(self.dir .. "/good.sock")))
    lu.assertEquals({ out, status }, { "ok\n", 0 }, err)
  end, 30)
end

TestExample = H.suite()

function TestExample:test_demos_without_arguments()
  H.run(function()
    for _, network in ipairs(NETWORKS) do
      local out, err, status = H.exec(("%s %s"):format(H.q(H.LUDS), H.q(EXAMPLE[network])))
      local path = out:match("^listening on (/%S+/echo%.sock)\n")
      lu.assertNotNil(path, "unexpected output: " .. out)
      lu.assertEquals(out, ("listening on %s\n" .. ("sent: ping\nreceived: ping\n"):rep(3)):format(path))
      lu.assertEquals({ err, status }, { "", 0 })
      lu.assertFalse(H.exists(path))
      lu.assertFalse(H.exists(path:match("^(.*)/")))
    end
  end, 20)
end

luds.exit(T.run())
