-- Security of socket files and peers: a mode is in force from the moment the
-- file exists, a racing renamer in the socket's directory cannot turn the
-- mode or owner onto another file, a listener removes only the file it bound,
-- and abstract sockets, which have no file and so no permissions, are guarded
-- by peer credentials.
--
-- Abstract sockets ("@name") live in the network namespace, not the file
-- system: no mode, owner or group applies, and any process in the namespace
-- (any user) may connect. A server on an abstract address must check
-- conn:peer_cred() and refuse peers it does not trust; TestAbstract shows a
-- connection from "nobody" arriving and being identified by its uid.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

local PID = H.pid()
local STATUS = H.slurp("/proc/self/status")
local UID = tonumber(STATUS:match("\nUid:%s*(%d+)"))
local GID = tonumber(STATUS:match("\nGid:%s*(%d+)"))

-- Running a client as nobody (setpriv) and giving a socket to a group we
-- are not in take root.
local function needs_root()
  if UID ~= 0 then lu.skip("needs root (setpriv to nobody, chown to another group)") end
end

-- Polls lstat(path) as fast as it can until the file `stop` exists (at most
-- 30 s). Prints "ready", then each mode the first time it sees it, as soon as
-- it sees it, then "count N": how many times it found a file there.
local PY_POLLER = [[
import os, sys, time
path, stop = sys.argv[1], sys.argv[2]
seen, count = set(), 0
print("ready", flush=True)
deadline = time.monotonic() + 30
while not os.path.exists(stop) and time.monotonic() < deadline:
    for _ in range(2000):
        try:
            mode = os.lstat(path).st_mode & 0o7777
        except FileNotFoundError:
            continue
        count += 1
        if mode not in seen:
            seen.add(mode)
            print("%04o" % mode, flush=True)
print("count", count, flush=True)
]]

-- A unix stream server that answers every conn with "python:" and what it
-- first read, then closes it.
local PY_SERVER = [[
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(8)
while True:
    c, _ = s.accept()
    try:
        c.sendall(b"python:" + c.recv(65536))
    except OSError:
        pass  # a probe that hung up at once
    c.close()
]]

-- Runs as nobody: dials arg[1] (network arg[2], default unix) and prints what
-- happened: the error code, or "connected" and then how the conn ended.
local NOBODY_CLIENT = [[
local luds = require "luds"
local c, _, code = luds.dial(arg[2] or "unix", arg[1])
if not c then print(code) return end
print("connected")
c:set_deadline(luds.now() + 5)
local data, _, rcode = c:read()
print(data or rcode)
]]

local function poller_saw(p, line)
  return ("\n" .. (p:stdout() or "")):find("\n" .. line .. "\n", 1, true) ~= nil
end

local function start_poller(dir, path)
  local stop = dir .. "/stop-" .. math.random(1 << 30)
  local p = H.start(("python3 -c %s %s %s"):format(H.q(PY_POLLER), H.q(path), H.q(stop)))
  p.stop_file = stop
  H.wait_for("the poller to start", function() return poller_saw(p, "ready") end, 10)
  return p
end

-- Stops the poller; returns the set of modes it saw and its count.
local function stop_poller(p)
  H.spit(p.stop_file, "")
  lu.assertEquals(H.wait_exit(p, 35), 0, p:stderr())
  local out = p:stdout()
  local modes = {}
  for line in out:gmatch("[^\n]+") do
    if line:match("^[0-7][0-7][0-7][0-7]$") then modes[#modes + 1] = line end
  end
  return modes, tonumber(out:match("count (%d+)\n$"))
end

-- Runs NOBODY_CLIENT as uid nobody, gid nogroup, no supplementary groups.
local function start_as_nobody(dir, address, net)
  return H.start(("setpriv --reuid=nobody --regid=nogroup --clear-groups %s -e %s -e %s")
    :format(H.q(H.LUDS), H.q(H.arg_chunk(address, net or "unix")), H.q(NOBODY_CLIENT)))
end

local function run_as_nobody(dir, address, net)
  local p = start_as_nobody(dir, address, net)
  lu.assertEquals(H.wait_exit(p), 0, p:stderr())
  return p:stdout()
end

TestModeWindow = H.suite()

-- The poller can see a window: chmod after bind leaves the file at the
-- umask's mode first. (Held open until the poller reports it, so this control
-- always sees it.)
function TestModeWindow:test_poller_sees_a_chmod_after_bind()
  H.run(function()
    local path = self.dir .. "/wide.sock"
    local p = start_poller(self.dir, path)
    local ln = assert(luds.listen("unix", path))
    lu.assertTrue(luds.chmod(path, "0666"))
    H.wait_for("the poller to see mode 0666", function() return poller_saw(p, "0666") end, 10)
    ln:close()
    local modes, count = stop_poller(p)
    lu.assertTrue(count > 0)
    lu.assertTrue(#modes >= 1)
  end, 15)
end

-- listen/listen_packet with mode = "0600", over and over, with a process
-- polling the path: no mode wider than 0600 is ever seen (the file is born
-- 0600 under a bind-time umask of 0177). It runs at least 200 rounds and
-- goes on (up to 5,000) until the poller has caught the file at least once.
function TestModeWindow:test_mode_0600_is_never_wider_while_polled()
  H.run(function()
    local path = self.dir .. "/tight.sock"
    local p = start_poller(self.dir, path)
    local rounds = 0
    for i = 1, 5000 do
      local kind = i % 3
      local obj
      if kind == 0 then
        obj = assert(luds.listen("unix", path, { mode = "0600" }))
      elseif kind == 1 then
        obj = assert(luds.listen("unixpacket", path, { mode = tonumber("600", 8) }))
      else
        obj = assert(luds.listen_packet("unixgram", path,
          { mode = "0600", unlink_on_close = true }))
      end
      lu.assertEquals(luds.stat(path).mode, "0600")
      obj:close()
      lu.assertFalse(H.exists(path))
      rounds = i
      if i >= 200 and poller_saw(p, "0600") then break end
    end
    local modes, count = stop_poller(p)
    lu.assertTrue(count > 0, "the poller never found the file")
    for _, m in ipairs(modes) do
      lu.assertEquals(tonumber(m, 8) & ~tonumber("600", 8), 0,
        ("the poller saw mode %s (after %d rounds)"):format(m, rounds))
    end
    lu.assertTrue(rounds >= 200)
  end, 40)
end

-- Swaps links to a target file over the socket path as fast as it can, as
-- someone who may write the socket's directory could: a symlink, then a hard
-- link, each made at `link` and renamed over `sock` (rename replaces whatever
-- is there, our fresh socket included). Prints "ready", then "swaps N" when
-- `seconds` have passed or `cap` swaps were made.
local PY_RENAMER = [[
import os, sys, time
target, link, sock = sys.argv[1], sys.argv[2], sys.argv[3]
seconds, cap = float(sys.argv[4]), int(sys.argv[5])
swaps = 0
print("ready", flush=True)
deadline = time.monotonic() + seconds
while swaps < cap and time.monotonic() < deadline:
    for i in range(200):
        try:
            if i % 2:
                os.link(target, link)
            else:
                os.symlink(target, link)
            os.rename(link, sock)
            swaps += 1
        except OSError:
            try:
                os.unlink(link)
            except OSError:
                pass
print("swaps", swaps, flush=True)
]]

local RACE_SECONDS, RACE_SWAPS, RACE_LISTENS = 2, 2000000, 200000

TestModeRace = H.suite()

-- What a listen may answer while the renamer runs: the socket, or one of
-- these (a link already stood at the path when bind ran; or one was swapped
-- in between the bind and the chown/chmod, which luds then refuses to touch).
local function race_outcome(sock, net, obj, msg, code)
  if obj then return "served" end
  local known = {
    ["address already in use"] = "EADDRINUSE",
    ["file exists"] = "EEXIST",
    ["socket file was replaced before its mode and owner were set"] = "EEXIST",
  }
  local text = msg:match("^listen " .. net .. " " .. sock:gsub("%p", "%%%0") .. ": (.*)$")
  lu.assertEquals(code, known[text], msg)
  if text == "address already in use" then return "in use" end
  return text == "file exists" and "link" or "refused"
end

-- Listens at dir/sock.sock and closes again, over and over (cases in turn),
-- while the renamer swaps links to dir/target over that path, until the
-- renamer is done (RACE_SECONDS). The target (mode 0600) must be exactly as
-- it was (mode, owner, group, inode, size) after every listen.
local function race(dir, cases)
  local target, sock = dir .. "/target", dir .. "/sock.sock"
  H.spit(target, "secret\n")
  assert(luds.chmod(target, "0600"))
  local before = assert(luds.stat(target))
  local p = H.start(("python3 -c %s %s %s %s %d %d"):format(H.q(PY_RENAMER), H.q(target),
    H.q(dir .. "/link"), H.q(sock), RACE_SECONDS, RACE_SWAPS))
  H.wait_for("the renamer to start", function()
    return (p:stdout() or ""):find("ready\n", 1, true)
  end, 10)
  local seen, listens, start = {}, 0, luds.now()
  for i = 1, RACE_LISTENS do
    if i % 64 == 0 and (H.exited(p) or luds.now() - start > RACE_SECONDS + 2) then
      break
    end
    os.remove(sock)
    local case = cases[i % #cases + 1]
    local listen = case.net == "unixgram" and luds.listen_packet or luds.listen
    local obj, msg, code = listen(case.net, sock, case.opts)
    local outcome = race_outcome(sock, case.net, obj, msg, code)
    seen[outcome] = (seen[outcome] or 0) + 1
    if obj then obj:close() end
    lu.assertEquals(luds.stat(target), before, ("after %d listens (%s)"):format(i, outcome))
    listens = i
  end
  lu.assertEquals(H.wait_exit(p), 0, p:stderr())
  local swaps = tonumber(p:stdout():match("\nswaps (%d+)\n$"))
  lu.assertEquals(luds.stat(target), before)
  lu.assertEquals(H.slurp(target), "secret\n")
  lu.assertTrue(swaps >= 100 and listens >= 100, ("%s swaps, %d listens"):format(swaps, listens))
  -- The renamer got in the way at least once (in practice hundreds of times).
  lu.assertTrue((seen.link or 0) + (seen.refused or 0) > 0, "the renamer never interfered")
end

-- Before the fix, chmod by path after the bind followed a swapped-in
-- symlink (or changed a hard-linked file) and opened the target to 0666.
function TestModeRace:test_racing_renamer_never_changes_another_files_mode()
  H.run(function()
    race(self.dir, {
      { net = "unix", opts = { mode = "0666" } },
      { net = "unixgram", opts = { mode = "0666", unlink_on_close = true } },
      { net = "unix", opts = { mode = "0660" } },
    })
  end, 20)
end

-- Before the fix, lchown by path changed the owner of a hard-linked file.
function TestModeRace:test_racing_renamer_never_changes_another_files_owner()
  needs_root()
  H.run(function()
    race(self.dir, {
      { net = "unix", opts = { owner = "nobody", group = "nogroup" } },
      { net = "unixgram", opts = { owner = "nobody", unlink_on_close = true } },
      { net = "unix", opts = { group = "nogroup" } },
    })
  end, 20)
end

-- Owner and mode together: chown, then chmod, neither by path.
function TestModeRace:test_racing_renamer_never_changes_another_files_owner_and_mode()
  needs_root()
  H.run(function()
    race(self.dir, {
      { net = "unix", opts = { mode = "0666", owner = "nobody", group = "nogroup" } },
      { net = "unixgram", opts = { mode = "0660", group = "nogroup", unlink_on_close = true } },
    })
  end, 20)
end

TestOwnFileOnly = H.suite()

-- Replaces the socket file at path behind its listener's back.
local function replace_with(path, how)
  lu.assertTrue(os.remove(path))
  how()
end

function TestOwnFileOnly:test_close_leaves_another_listeners_socket()
  H.run(function()
    local path = self.dir .. "/s.sock"
    local first = assert(luds.listen("unix", path))
    local second
    replace_with(path, function() second = assert(luds.listen("unix", path)) end)
    local ino = luds.stat(path).ino
    lu.assertTrue(first:close())
    lu.assertEquals(luds.stat(path).ino, ino)
    local c <close> = assert(luds.dial("unix", path))
    local s <close> = assert(second:accept())
    c:write("second")
    lu.assertEquals(s:read(), "second")
    lu.assertTrue(second:close())
    lu.assertFalse(H.exists(path))
  end)
end

function TestOwnFileOnly:test_close_leaves_a_python_socket_that_took_the_path()
  H.run(function()
    local path = self.dir .. "/s.sock"
    local ln = assert(luds.listen("unix", path))
    local py
    replace_with(path, function()
      py = H.start(("python3 -c %s %s"):format(H.q(PY_SERVER), H.q(path)))
    end)
    H.wait_socket(path)
    lu.assertTrue(ln:close())
    lu.assertEquals(luds.stat(path).type, "socket")
    local c <close> = assert(luds.dial("unix", path))
    c:set_deadline(luds.now() + 5)
    c:write("hello")
    lu.assertEquals(c:read_full(12), "python:hello")
    H.stop(py, "KILL")
  end, 10)
end

function TestOwnFileOnly:test_close_and_gc_leave_a_regular_file()
  H.run(function()
    for _, drop in ipairs({ "close", "gc" }) do
      local path = self.dir .. "/" .. drop .. ".sock"
      local ln = assert(luds.listen("unixpacket", path))
      replace_with(path, function() H.spit(path, "not yours\n") end)
      if drop == "close" then
        ln:close()
      else
        ln = nil
        collectgarbage()
        collectgarbage()
      end
      lu.assertEquals(H.slurp(path), "not yours\n")
    end
  end)
end

function TestOwnFileOnly:test_unlink_on_close_leaves_a_replacement()
  H.run(function()
    local path = self.dir .. "/g.sock"
    local pc = assert(luds.listen_packet("unixgram", path, { unlink_on_close = true }))
    local other
    replace_with(path, function() other = assert(luds.listen_packet("unixgram", path)) end)
    pc:close()
    local sender <close> = assert(luds.listen_packet("unixgram", ""))
    lu.assertEquals(sender:write_to("still here", path), 10)
    other:set_read_deadline(luds.now() + 5)
    lu.assertEquals(other:read(), "still here")
    other:close()
    lu.assertTrue(H.exists(path)) -- listen_packet keeps its file by default
  end)
end

-- SIGTERM closes every listener; a server whose path was taken over leaves it.
function TestOwnFileOnly:test_sigterm_leaves_a_replacement()
  H.run(function()
    local path = self.dir .. "/s.sock"
    local server = H.start_echo(path)
    local py
    replace_with(path, function()
      py = H.start(("python3 -c %s %s"):format(H.q(PY_SERVER), H.q(path)))
    end)
    H.wait_socket(path)
    lu.assertEquals(H.stop(server, "TERM"), 143)
    local c <close> = assert(luds.dial("unix", path))
    c:set_deadline(luds.now() + 5)
    c:write("after")
    lu.assertEquals(c:read_full(12), "python:after")
    H.stop(py, "KILL")
  end, 10)
end

TestAbstract = H.suite()

-- The file-system guard, for contrast: on a path, the mode and group decide
-- who may connect (the directory is opened to others first).
function TestAbstract:test_path_socket_mode_and_group_keep_nobody_out()
  needs_root()
  H.run(function()
    lu.assertTrue(luds.chmod(self.dir, "0755"))
    local cases = {
      { "0600", nil, "EACCES\n" },
      { "0660", "root", "EACCES\n" },
      { "0660", "nogroup", "connected\nEOF\n" },
      { "0666", nil, "connected\nEOF\n" },
    }
    for i, case in ipairs(cases) do
      local path = ("%s/%d.sock"):format(self.dir, i)
      local ln <close> = assert(luds.listen("unix", path, { mode = case[1], group = case[2] }))
      lu.assertEquals(luds.stat(path).mode, case[1])
      local p = start_as_nobody(self.dir, path)
      if case[3] ~= "EACCES\n" then
        ln:set_deadline(luds.now() + 5)
        local conn = assert(ln:accept())
        conn:close()
      end
      lu.assertEquals(H.wait_exit(p), 0, p:stderr())
      lu.assertEquals(p:stdout(), case[3], "mode " .. case[1])
    end
  end, 15)
end

-- An abstract listener has no file to protect it: nobody connects. peer_cred
-- tells the server who it is (uid 65534), so the server can refuse it, while
-- a peer it trusts (its own uid) is served.
function TestAbstract:test_abstract_listener_identifies_and_refuses_nobody()
  needs_root()
  H.run(function()
    local nobody = assert(luds.lookup_user("nobody"))
    lu.assertEquals(nobody.uid, 65534)
    local nogroup = assert(luds.lookup_group("nogroup"))
    for _, net in ipairs({ "unix", "unixpacket" }) do
      local name = ("@luds-sec-%d-%d"):format(PID, math.random(1 << 30))
      local ln <close> = assert(luds.listen(net, name))
      lu.assertEquals(ln:addr(), name)
      ln:set_deadline(luds.now() + 5)
      local p = start_as_nobody(self.dir, name, net)
      local conn = assert(ln:accept())
      local cred = conn:peer_cred()
      lu.assertEquals(cred, { pid = p.pid, uid = nobody.uid, gid = nogroup.gid })
      -- The server's policy: only its own user. nobody is refused.
      lu.assertNotEquals(cred.uid, UID)
      conn:close()
      lu.assertEquals(H.wait_exit(p), 0, p:stderr())
      lu.assertEquals(p:stdout(), "connected\nEOF\n")
      -- A trusted peer on the same address: this process.
      local mine <close> = assert(luds.dial(net, name))
      local served <close> = assert(ln:accept())
      lu.assertEquals(served:peer_cred(), { pid = PID, uid = UID, gid = GID })
      mine:write("trusted")
      served:set_read_deadline(luds.now() + 5)
      lu.assertEquals(served:read(), "trusted")
    end
  end, 15)
end

-- An abstract name is not a path: no file appears anywhere, and closing the
-- listener frees the name at once.
function TestAbstract:test_abstract_name_has_no_file_and_frees_on_close()
  H.run(function()
    local name = ("@luds-sec-%d-%d"):format(PID, math.random(1 << 30))
    local ln = assert(luds.listen("unix", name))
    H.assert_fails("EADDRINUSE", nil, luds.listen("unix", name))
    lu.assertFalse(H.exists(name))
    lu.assertFalse(H.exists(name:sub(2)))
    ln:close()
    -- A mode cannot apply to an abstract socket: asking for one is an error,
    -- not a silent no-op.
    H.assert_fails("EINVAL", nil, luds.listen("unix", name, { mode = "0600" }))
    local again <close> = assert(luds.listen("unix", name))
    lu.assertEquals(again:addr(), name)
  end)
end

luds.exit(T.run())
