-- Sender credentials on unixgram sockets (issue 8): listen_packet with
-- passcred = true makes read_from return the sender's { pid, uid, gid } as
-- the kernel reports it, and examples/notify.lua builds the sd_notify protocol
-- on it. Senders here: this process, luds and python3 children, and a child
-- running as nobody.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

assert(H.sh("id -u") == "0\n", "notify_spec must run as root: it sends as nobody too")
assert(H.sh("command -v setpriv"):match("setpriv"), "notify_spec needs setpriv(1) from util-linux")

local NOTIFY = H.ROOT .. "/examples/notify.lua"
local NOBODY, NOGROUP = 65534, 65534
local USAGE = "usage: luds notify.lua [send [MESSAGE...] | listen ADDRESS]\n"

-- Sends one datagram from python3 to path (or "@name"); returns its pid.
local PY_SEND = [[
import os, socket, sys
where = sys.argv[1]
if where.startswith("@"):
    where = "\0" + where[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(sys.argv[2].encode(), where)
print(os.getpid())
]]

-- `luds notify.lua send ARGS...` with NOTIFY_SOCKET=where (unset when nil),
-- under the setpriv options `ids` when given. The shell prints its pid and
-- execs (setpriv execs too), so that pid is the sender's. Returns the pid,
-- stderr and exit status.
local function send(where, args, ids)
  local words = {}
  for i, a in ipairs(args or {}) do words[i] = H.q(a) end
  local cmd = ("echo $$; exec %s %s %s send %s"):format(ids or "", H.q(H.LUDS), H.q(NOTIFY),
    table.concat(words, " "))
  local env = where and "env NOTIFY_SOCKET=" .. H.q(where) or "env -u NOTIFY_SOCKET"
  local out, err, status = H.exec(env .. " sh -c " .. H.q(cmd))
  return tonumber(out:match("^(%d+)\n$")), err, status
end

TestPasscred = H.suite()

-- To itself: the kernel names this very process, and root.
function TestPasscred:test_own_datagram_carries_own_credentials()
  H.run(function()
    local path = self.dir .. "/n.sock"
    local pc <close> = assert(luds.listen_packet("unixgram", path, { passcred = true }))
    local c <close> = assert(luds.dial("unixgram", path))
    lu.assertEquals(c:write("hello"), 5)
    local data, from, cred = pc:read_from()
    lu.assertEquals(data, "hello")
    lu.assertEquals(from, c:local_addr())
    lu.assertEquals(cred, { pid = H.pid(), uid = 0, gid = 0 })
    -- an empty datagram carries them too
    lu.assertEquals(c:write(""), 0)
    lu.assertEquals(table.pack(pc:read_from(10)),
      { n = 3, "", c:local_addr(), { pid = H.pid(), uid = 0, gid = 0 } })
  end)
end

-- Without passcred there is no third value at all, and an abstract socket
-- with it works like a path.
function TestPasscred:test_without_passcred_two_values()
  H.run(function()
    local path = self.dir .. "/plain.sock"
    local pc <close> = assert(luds.listen_packet("unixgram", path))
    local c <close> = assert(luds.dial("unixgram", path))
    c:write("x")
    lu.assertEquals(table.pack(pc:read_from()), { n = 2, "x", c:local_addr() })
    local abstract = "@luds-notify-" .. self.dir:match("[^/]+$")
    local apc <close> = assert(luds.listen_packet("unixgram", abstract, { passcred = true }))
    lu.assertEquals(apc:local_addr(), abstract)
    local c2 <close> = assert(luds.dial("unixgram", abstract))
    c2:write("y")
    lu.assertEquals(table.pack(apc:read_from()),
      { n = 3, "y", c2:local_addr(), { pid = H.pid(), uid = 0, gid = 0 } })
  end)
end

function TestPasscred:test_misuse()
  H.run(function()
    H.assert_raises({ "passcred", "unix network" },
      luds.listen_packet, "udp", "127.0.0.1:0", { passcred = true })
  end)
end

-- The notify example, listening as a child process on a path and on an
-- abstract name; every sender's own pid shows in the line.
TestNotify = H.suite()

-- Starts `notify.lua listen where` and waits for its first line.
function TestNotify:listen(where)
  local p = H.start(("%s %s listen %s"):format(H.q(H.LUDS), H.q(NOTIFY), H.q(where)))
  local first = "listening on " .. where .. "\n"
  H.wait_for("the listener", function() return p:stdout() == first end)
  p.lines = { "listening on " .. where }
  return p
end

-- Waits until the listener has printed one more line, and asserts that it
-- is `line`.
local function expect(p, line)
  p.lines[#p.lines + 1] = line
  local out = H.wait_for(line, function()
    local out = p:stdout()
    local _, n = out:gsub("\n", "")
    return n >= #p.lines and out
  end)
  lu.assertEquals(out, table.concat(p.lines, "\n") .. "\n")
end

function TestNotify:check_senders(where)
  local p = self:listen(where)
  local pid, err, status = send(where)
  lu.assertEquals({ err, status }, { "", 0 })
  expect(p, ("pid=%d uid=0 gid=0: READY=1"):format(pid))
  pid, err, status = send(where, { "STATUS=half way", "READY=1" })
  lu.assertEquals({ err, status }, { "", 0 })
  expect(p, ("pid=%d uid=0 gid=0: STATUS=half way\\nREADY=1"):format(pid))
  local out
  out, err, status = H.exec(("python3 -c %s %s %s"):format(H.q(PY_SEND), H.q(where), H.q("WATCHDOG=1")))
  lu.assertEquals({ err, status }, { "", 0 })
  expect(p, ("pid=%d uid=0 gid=0: WATCHDOG=1"):format(assert(tonumber(out:match("^(%d+)\n$")))))
  return p
end

function TestNotify:test_path()
  H.run(function()
    local path = self.dir .. "/notify.sock"
    local p = self:check_senders(path)
    lu.assertEquals(H.stop(p, "TERM"), 143)
    lu.assertEquals(p:stderr(), "")
    lu.assertFalse(H.exists(path))
  end, 20)
end

-- Abstract: no file, so nobody can send too (a file under the 0700 temp dir
-- would be out of nobody's reach), and shows as 65534/65534.
function TestNotify:test_abstract_and_nobody()
  H.run(function()
    local name = "@luds-notify-" .. self.dir:match("[^/]+$")
    local p = self:check_senders(name)
    local pid, err, status = send(name, { "READY=1" },
      ("setpriv --reuid=%d --regid=%d --clear-groups"):format(NOBODY, NOGROUP))
    lu.assertEquals({ err, status }, { "", 0 })
    expect(p, ("pid=%d uid=%d gid=%d: READY=1"):format(pid, NOBODY, NOGROUP))
    lu.assertEquals(H.stop(p, "TERM"), 143)
    lu.assertEquals(p:stderr(), "")
  end, 20)
end

function TestNotify:test_send_failures()
  H.run(function()
    local _, err, status = send(nil)
    lu.assertEquals({ err, status }, { "notify: NOTIFY_SOCKET is not set\n", 1 })
    _, err, status = send("")
    lu.assertEquals({ err, status }, { "notify: NOTIFY_SOCKET is not set\n", 1 })
    local missing = self.dir .. "/missing.sock"
    _, err, status = send(missing)
    lu.assertEquals({ err, status },
      { "notify: dial unixgram " .. missing .. ": no such file or directory\n", 1 })
    for _, args in ipairs({ "", "bogus", "listen", "listen a b" }) do
      local out
      out, err, status = H.exec(("%s %s %s"):format(H.q(H.LUDS), H.q(NOTIFY), args))
      lu.assertEquals({ out, err, status }, { "", USAGE, 2 }, args)
    end
    local busy = self.dir .. "/busy.sock"
    local pc <close> = assert(luds.listen_packet("unixgram", busy))
    local out
    out, err, status = H.exec(("%s %s listen %s"):format(H.q(H.LUDS), H.q(NOTIFY), H.q(busy)))
    lu.assertEquals({ out, err, status },
      { "", "notify: listen unixgram " .. busy .. ": address already in use\n", 1 })
  end, 20)
end

luds.exit(T.run())
