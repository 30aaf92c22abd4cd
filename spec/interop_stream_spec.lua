-- The example echo server (a separate luds process) against clients that are not
-- luds: python3's socket module and socat. Bytes must come back exactly.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

-- Sends the file argv[2] on each of int(argv[3]) connections to argv[1], all
-- connections open at once, and writes the replies back to back. A thread per
-- connection sends while the main thread reads, so no buffer size can deadlock.
local PY_CLIENT = [[
import socket, sys, threading
path, data, n = sys.argv[1], open(sys.argv[2], "rb").read(), int(sys.argv[3])
socks = []
for _ in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    socks.append(s)
def send(s):
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
threads = [threading.Thread(target=send, args=(s,)) for s in socks]
for t in threads: t.start()
for s in socks:
    while True:
        b = s.recv(65536)
        if not b: break
        sys.stdout.buffer.write(b)
for t in threads: t.join()
]]

TestInterop = H.suite()

function TestInterop:setUp()
  self.dir = T.tempdir()
  self.path = self.dir .. "/echo.sock"
  H.run(function() self.server = H.start_echo(self.path) end)
end

-- Echoes data through python3 on `conns` simultaneous connections.
function TestInterop:python_echo(data, conns)
  local file = self.dir .. "/payload"
  H.spit(file, data)
  local out, err, status = H.exec(("python3 -c %s %s %s %d")
    :format(H.q(PY_CLIENT), H.q(self.path), H.q(file), conns or 1))
  lu.assertEquals(err, "")
  lu.assertEquals(status, 0)
  return out
end

function TestInterop:test_python_short_message()
  H.run(function()
    lu.assertEquals(self:python_echo("hello, luds\n"), "hello, luds\n")
  end)
end

function TestInterop:test_python_all_byte_values()
  H.run(function()
    local bytes = {}
    for b = 0, 255 do bytes[#bytes + 1] = string.char(b) end
    local data = table.concat(bytes)
    lu.assertEquals(self:python_echo(data), data)
  end)
end

function TestInterop:test_python_100k_payload()
  H.run(function()
    local parts = {}
    for i = 1, 100 * 1024 do parts[i] = string.char((i * 7) % 256) end
    local data = table.concat(parts)
    lu.assertTrue(self:python_echo(data) == data, "100 KiB echo differs")
  end)
end

-- Three connections open at once: a server that served one at a time would hang.
function TestInterop:test_python_concurrent_clients()
  H.run(function()
    lu.assertEquals(self:python_echo("abc", 3), "abcabcabc")
  end)
end

function TestInterop:test_socat()
  H.run(function()
    local _, status = H.sh("command -v socat")
    if status ~= 0 then lu.skip("socat is not installed") end
    local file = self.dir .. "/socat-in"
    H.spit(file, "via socat\n\0\255\n")
    local out, err, rc = H.exec("socat -t 5 - UNIX-CONNECT:" .. H.q(self.path), file)
    lu.assertEquals({ out, err, rc }, { "via socat\n\0\255\n", "", 0 })
  end)
end

function TestInterop:test_ping_client()
  H.run(function()
    local out, err, status = H.exec(("%s %s ping %s hello 2")
      :format(H.q(H.LUDS), H.q(H.ECHO), H.q(self.path)))
    lu.assertEquals(out, "sent: hello\nreceived: hello\nsent: hello\nreceived: hello\n")
    lu.assertEquals({ err, status }, { "", 0 })
  end)
end

function TestInterop:test_sigterm_stops_server_and_removes_file()
  H.run(function()
    lu.assertTrue(H.exists(self.path))
    lu.assertEquals(self:python_echo("last words"), "last words")
    lu.assertEquals(H.stop(self.server, "TERM"), 143)
    lu.assertFalse(H.exists(self.path))
  end)
end

TestExample = H.suite()

function TestExample:test_demo_without_arguments()
  H.run(function()
    local out, err, status = H.exec(("%s %s"):format(H.q(H.LUDS), H.q(H.ECHO)))
    local path = out:match("^listening on (/%S+/echo%.sock)\n")
    lu.assertNotNil(path, "unexpected output: " .. out)
    lu.assertEquals(out, ("listening on %s\n" .. ("sent: ping\nreceived: ping\n"):rep(3)):format(path))
    lu.assertEquals({ err, status }, { "", 0 })
    lu.assertFalse(H.exists(path))
    lu.assertFalse(H.exists(path:match("^(.*)/")))
  end)
end

function TestExample:test_bad_arguments_print_usage()
  H.run(function()
    for _, args in ipairs({ "bogus", "serve", "ping", "ping /x m zero" }) do
      local out, err, status = H.exec(("%s %s %s"):format(H.q(H.LUDS), H.q(H.ECHO), args))
      lu.assertEquals({ out, status }, { "", 2 })
      lu.assertStrContains(err, "usage: ")
    end
  end)
end

function TestExample:test_ping_without_server()
  H.run(function()
    local path = self.dir .. "/nobody.sock"
    local out, err, status = H.exec(("%s %s ping %s"):format(H.q(H.LUDS), H.q(H.ECHO), H.q(path)))
    lu.assertEquals({ out, err, status },
      { "", "dial unix " .. path .. ": no such file or directory\n", 1 })
  end)
end

luds.exit(T.run())
