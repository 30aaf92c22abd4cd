-- Access control for Unix sockets: chmod/chown/stat exactness (checked against
-- stat(1) too), modes and ownership applied at bind under any umask, connect
-- permission for an unprivileged peer, peer credentials, luds.creds and the auth
-- example, stale-socket removal, user/group lookups, every bad input.
-- Runs as root: children drop to nobody/nogroup (or bare ids) with setpriv(1).
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local creds = require "luds.creds"
local H = require "helper"
local T = require "luds.test"

assert(H.sh("id -u") == "0\n", "access_spec must run as root: it chowns and drops to nobody")
assert(H.sh("command -v setpriv"):match("setpriv"), "access_spec needs setpriv(1) from util-linux")

local NOBODY, NOGROUP = 65534, 65534
local NO_USER, NO_GROUP = "no-such-user-luds", "no-such-group-luds"
local AUTH = H.ROOT .. "/examples/auth_server.lua"
local MAX_ID = 4294967294 -- (uid_t)-1 means "keep", so this is the largest id
-- Bound for a test body that runs child processes one after another (each step
-- has its own bound too; this one only has to outlast them on a loaded machine).
local CHILD_LIMIT = 30

-- Every suite gets self.dir (mode 0755, so that nobody can reach the sockets in
-- it).
local function suite()
  local s = H.suite()
  local up = s.setUp
  s.setUp = function(self)
    up(self)
    assert(luds.chmod(self.dir, "0755"))
  end
  return s
end

local STAT1_TYPES = {
  socket = "socket", ["regular file"] = "file", ["regular empty file"] = "file",
  directory = "directory", ["symbolic link"] = "symlink", fifo = "fifo",
  ["character special file"] = "char", ["block special file"] = "block",
}

-- stat(1)'s view of path (lstat, like luds.stat), as an independent witness.
local function stat1(path)
  local out, status = H.sh("stat -c '%a %u %g %F' " .. H.q(path) .. " 2>/dev/null")
  if status ~= 0 then return nil end
  local a, u, g, f = assert(out:match("^(%d+) (%d+) (%d+) (.-)\n$"))
  return { mode = ("%04o"):format(tonumber(a, 8)), uid = tonumber(u), gid = tonumber(g),
           type = STAT1_TYPES[f] or f }
end

-- Asserts that luds.stat and stat(1) both see a `type` with this mode and owner.
local function assert_stat(path, type, mode, uid, gid)
  local st = assert(luds.stat(path))
  lu.assertEquals({ type = st.type, mode = st.mode, uid = st.uid, gid = st.gid },
    { type = type, mode = mode, uid = uid, gid = gid })
  lu.assertEquals(stat1(path), { type = type, mode = mode, uid = uid, gid = gid })
end

local function assert_missing(path)
  H.assert_fails("ENOENT", "stat " .. path .. ": no such file or directory", luds.stat(path))
end

-- This process's umask, from the kernel's point of view.
local function umask() return H.slurp("/proc/self/status"):match("\nUmask:%s*(%d+)\n") end
local START_UMASK = umask()

-- The octal mode string of `bits` (e.g. "666") less this process's umask,
-- and with `acl` (e.g. "750") when given.
local function masked(bits, acl)
  local m = tonumber(bits, 8) & ~tonumber(umask(), 8) & tonumber(acl or "777", 8)
  return ("%04o"):format(m)
end

-- Run by child processes: dials the unix socket arg[1]; if arg[2] is given,
-- writes it and shuts the write side; then writes to stdout everything it reads
-- up to end of stream, followed by "<CODE>" of that end. A failed dial prints
-- "dial CODE" only.
local CLIENT = [[
local luds = require "luds"
local conn, _, code = luds.dial("unix", arg[1])
if not conn then io.write("dial ", code) return end
if arg[2] then
  assert(conn:write(arg[2]))
  assert(conn:close_write())
end
local got = {}
for _ = 1, 1000 do
  local data, _, why = conn:read()
  if not data then got[#got + 1] = "<" .. why .. ">" break end
  got[#got + 1] = data
end
io.write(table.concat(got))
]]

-- setpriv options for a child with this uid and primary gid and either no
-- supplementary groups or exactly `groups` (e.g. "65534").
local function as(uid, gid, groups)
  return ("setpriv --reuid=%d --regid=%d %s"):format(uid, gid,
    groups and "--groups=" .. groups or "--clear-groups")
end
local AS_NOBODY = as(NOBODY, NOGROUP)

local function lua_cmd(ids, code, ...)
  return ("%s %s -e %s -e %s"):format(ids, H.q(H.LUDS), H.q(H.arg_chunk(...)), H.q(code))
end

-- Starts CLIENT as `ids` ("" for root) against path.
local function start_client(self, ids, path, send)
  return H.start(lua_cmd(ids, CLIENT, path, send))
end

-- Runs CLIENT to its end while this process goes on serving (H.exec would
-- block the loop); returns its stdout and pid.
local function run_client(self, ids, path, send)
  local p = start_client(self, ids, path, send)
  lu.assertEquals(H.wait_exit(p), 0, "client failed: " .. (p:stderr() or ""))
  return p:stdout(), p.pid
end

-- Accepts the connection child p makes, failing with the child's stderr if
-- none comes within 5 s.
local function accept_from(ln, p)
  ln:set_deadline(luds.now() + 5)
  local conn, err = ln:accept()
  local why = ("accept: %s; child's stderr: %s"):format(err, p:stderr() or "")
  lu.assertNotNil(conn, why)
  ln:set_deadline(nil)
  return conn
end

-- An in-process echo server at path with these listen options.
local function serve_echo(path, opts)
  local ln = assert(luds.listen("unix", path, opts))
  luds.spawn(luds.serve, ln, H.echo)
  return ln
end

local function echoes(path)
  local c <close> = assert(luds.dial("unix", path))
  c:write("alive")
  return c:read_full(5) == "alive"
end

TestStat = suite()

function TestStat:test_every_type()
  H.run(function()
    local d = self.dir
    local ln = assert(luds.listen("unix", d .. "/s.sock"))
    H.spit(d .. "/file", "hello")
    os.execute(("mkdir %s/dir && ln -s file %s/link && mkfifo %s/fifo"):format(d, d, d))
    local want = {
      ["s.sock"] = "socket", file = "file", dir = "directory", link = "symlink", fifo = "fifo",
    }
    for name, type in pairs(want) do
      lu.assertEquals(luds.stat(d .. "/" .. name).type, type, name)
      lu.assertEquals(stat1(d .. "/" .. name).type, type, name)
    end
    lu.assertEquals(luds.stat("/dev/null").type, "char")
    local block = H.sh("find /dev -maxdepth 1 -type b | head -n 1"):match("^(.-)\n")
    if block then lu.assertEquals(luds.stat(block).type, "block") end
    ln:close()
  end)
end

function TestStat:test_fields_match_stat1()
  H.run(function()
    local path = self.dir .. "/file"
    H.spit(path, "hello")
    assert(luds.chmod(path, "0640"))
    local st = assert(luds.stat(path))
    local out = H.sh("stat -c '%d %i %s %a %u %g %F' " .. H.q(path))
    lu.assertEquals(out, ("%d %d 5 640 0 0 regular file\n"):format(st.dev, st.ino))
    lu.assertEquals(st,
      { type = "file", mode = "0640", uid = 0, gid = 0, dev = st.dev, ino = st.ino, size = 5 })
    for _, k in ipairs({ "dev", "ino", "size", "uid", "gid" }) do
      lu.assertEquals(math.type(st[k]), "integer", k)
    end
  end)
end

-- lstat: a symlink is reported as itself, not as what it points to.
function TestStat:test_symlink_is_itself()
  H.run(function()
    local d = self.dir
    H.spit(d .. "/target", "0123456789")
    assert(luds.chmod(d .. "/target", "0600"))
    os.execute(("ln -s target %s/link"):format(d))
    local st = luds.stat(d .. "/link")
    lu.assertEquals({ st.type, st.mode, st.size }, { "symlink", "0777", 6 })
    lu.assertNotEquals(st.ino, luds.stat(d .. "/target").ino)
  end)
end

-- Bits above 0777 cannot be set with luds.chmod but are reported.
function TestStat:test_special_bits_reported()
  H.run(function()
    local d = self.dir
    H.spit(d .. "/suid", "")
    os.execute(("cd %s && mkdir sticky sgid && chmod 4755 suid && chmod 1777 sticky && chmod 2750 sgid")
      :format(H.q(d)))
    assert_stat(d .. "/suid", "file", "4755", 0, 0)
    assert_stat(d .. "/sticky", "directory", "1777", 0, 0)
    assert_stat(d .. "/sgid", "directory", "2750", 0, 0)
  end)
end

function TestStat:test_missing_path()
  H.run(function()
    assert_missing(self.dir .. "/missing")
    H.assert_fails("ENOTDIR", nil, luds.stat("/dev/null/x"))
  end)
end

TestChmod = suite()

function TestChmod:test_modes_exact()
  H.run(function()
    local path = self.dir .. "/file"
    H.spit(path, "data")
    local cases = {
      { "0660", "0660" }, { "660", "0660" }, { "0600", "0600" }, { "640", "0640" },
      { "0", "0000" }, { "0777", "0777" }, { "7", "0007" }, { "0000", "0000" },
      { tonumber("640", 8), "0640" }, { 0, "0000" }, { 511, "0777" }, { 0x1a4, "0644" },
    }
    for _, c in ipairs(cases) do
      lu.assertTrue(luds.chmod(path, c[1]))
      assert_stat(path, "file", c[2], 0, 0)
    end
    lu.assertEquals(H.slurp(path), "data")
  end)
end

function TestChmod:test_socket_and_directory()
  H.run(function()
    local path = self.dir .. "/s.sock"
    local ln = serve_echo(path)
    lu.assertTrue(luds.chmod(path, "0600"))
    assert_stat(path, "socket", "0600", 0, 0)
    lu.assertTrue(echoes(path))
    os.execute("mkdir " .. H.q(self.dir .. "/sub"))
    lu.assertTrue(luds.chmod(self.dir .. "/sub", "0710"))
    assert_stat(self.dir .. "/sub", "directory", "0710", 0, 0)
    ln:close()
  end)
end

-- Like chmod(2): the target changes, the link itself stays 0777.
function TestChmod:test_follows_symlink()
  H.run(function()
    local d = self.dir
    H.spit(d .. "/target", "t")
    assert(luds.chmod(d .. "/target", "0644"))
    os.execute(("ln -s target %s/link"):format(d))
    lu.assertTrue(luds.chmod(d .. "/link", "0600"))
    assert_stat(d .. "/target", "file", "0600", 0, 0)
    assert_stat(d .. "/link", "symlink", "0777", 0, 0)
  end)
end

function TestChmod:test_bad_modes_raise_and_change_nothing()
  H.run(function()
    local path = self.dir .. "/file"
    H.spit(path, "")
    assert(luds.chmod(path, "0644"))
    local bad = { "0999", "rwx", "07777", "4755", "01000", "", "0o660", " 660", "660 ", "+660",
                  "-660", "0x1a4", "66O", "00660", 4096, 512, -1, 1.5, math.maxinteger, true, {} }
    for _, mode in ipairs(bad) do
      H.assert_raises({ "chmod", "invalid mode" }, luds.chmod, path, mode)
      assert_stat(path, "file", "0644", 0, 0)
    end
    H.assert_raises({ "bad argument #1" }, luds.chmod, nil, "0644")
  end)
end

function TestChmod:test_missing_path()
  H.run(function()
    local path = self.dir .. "/missing"
    H.assert_fails("ENOENT", "chmod " .. path .. ": no such file or directory",
      luds.chmod(path, "0660"))
    assert_missing(path)
  end)
end

TestChown = suite()

function TestChown:test_names_ids_and_keep()
  H.run(function()
    local path = self.dir .. "/file"
    H.spit(path, "data")
    assert(luds.chmod(path, "0640"))
    local cases = {
      { "nobody", "nogroup", NOBODY, NOGROUP },
      { 0, 0, 0, 0 },
      { -1, NOGROUP, 0, NOGROUP },     -- -1 keeps the uid
      { NOBODY, -1, NOBODY, NOGROUP }, -- -1 keeps the gid
      { -1, -1, NOBODY, NOGROUP },
      { "root", "root", 0, 0 },
      { 12345, 54321, 12345, 54321 },  -- ids need no passwd/group entry
      { MAX_ID, MAX_ID, MAX_ID, MAX_ID },
      { "root", -1, 0, MAX_ID },
    }
    for _, c in ipairs(cases) do
      lu.assertTrue(luds.chown(path, c[1], c[2]))
      assert_stat(path, "file", "0640", c[3], c[4])
    end
    lu.assertEquals(H.slurp(path), "data")
  end)
end

-- Like os.Chown: the target changes hands, the link itself stays root's.
function TestChown:test_follows_symlink()
  H.run(function()
    local d = self.dir
    H.spit(d .. "/target", "t")
    assert(luds.chmod(d .. "/target", "0600"))
    os.execute(("ln -s target %s/link"):format(d))
    lu.assertTrue(luds.chown(d .. "/link", "nobody", "nogroup"))
    assert_stat(d .. "/target", "file", "0600", NOBODY, NOGROUP)
    assert_stat(d .. "/link", "symlink", "0777", 0, 0)
  end)
end

function TestChown:test_unknown_names_change_nothing()
  H.run(function()
    local path = self.dir .. "/file"
    H.spit(path, "")
    assert(luds.chmod(path, "0600"))
    local user, group = "chown " .. path .. ": unknown user", "chown " .. path .. ": unknown group"
    H.assert_fails("UNKNOWN_USER", user, luds.chown(path, NO_USER, 0))
    H.assert_fails("UNKNOWN_USER", user, luds.chown(path, NO_USER, "nogroup"))
    H.assert_fails("UNKNOWN_GROUP", group, luds.chown(path, "nobody", NO_GROUP))
    H.assert_fails("UNKNOWN_GROUP", group, luds.chown(path, -1, NO_GROUP))
    assert_stat(path, "file", "0600", 0, 0)
  end)
end

function TestChown:test_ids_out_of_range_raise()
  H.run(function()
    local path = self.dir .. "/file"
    H.spit(path, "")
    assert(luds.chmod(path, "0600"))
    local bad = { -2, MAX_ID + 1, 2 ^ 32, 4294967296, math.maxinteger, math.mininteger, 1.5, -1.5, 0 / 0 }
    for _, id in ipairs(bad) do
      H.assert_raises({ "user id", "out of range" }, luds.chown, path, id, 0)
      H.assert_raises({ "group id", "out of range" }, luds.chown, path, 0, id)
    end
    H.assert_raises({ "bad argument #2" }, luds.chown, path, {}, 0)
    H.assert_raises({ "bad argument #3" }, luds.chown, path, 0, true)
    H.assert_raises({ "bad argument #3" }, luds.chown, path, 0)
    assert_stat(path, "file", "0600", 0, 0)
  end)
end

-- Regression: a misuse used to come back as the triple of an earlier run-time
-- failure (unknown owner name, NUL in the path) instead of raising.
function TestChown:test_misuse_raises_even_after_a_failure()
  H.run(function()
    local path = self.dir .. "/file"
    H.spit(path, "")
    assert(luds.chmod(path, "0600"))
    H.assert_raises({ "group id", "out of range" }, luds.chown, path, NO_USER, 1.5)
    H.assert_raises({ "group id", "out of range" }, luds.chown, path, NO_USER, -2)
    H.assert_raises({ "bad argument #3" }, luds.chown, path, NO_USER, {})
    H.assert_raises({ "user id", "out of range" }, luds.chown, self.dir .. "/a\0b", 1.5, 0)
    H.assert_raises({ "chmod", "invalid mode" }, luds.chmod, self.dir .. "/a\0b", "0999")
    H.assert_raises({ "group id", "out of range" }, luds.listen, "unix", self.dir .. "/x.sock",
      { owner = NO_USER, group = 1.5 })
    assert_stat(path, "file", "0600", 0, 0)
    lu.assertEquals(H.ls(self.dir), "file")
  end)
end

function TestChown:test_missing_path()
  H.run(function()
    local path = self.dir .. "/missing"
    local missing = "chown " .. path .. ": no such file or directory"
    H.assert_fails("ENOENT", missing, luds.chown(path, 0, 0))
    H.assert_fails("ENOENT", missing, luds.chown(path, "nobody", "nogroup"))
    assert_missing(path)
  end)
end

TestListenPerm = suite()

-- Run by a child under a given umask: binds sockets with modes (and without),
-- creates a plain file, prints their modes as luds.stat sees them on one line,
-- then serves until a signal closes the listeners.
local UMASK_CHILD = [[
local luds = require "luds"
local dir, out = arg[1], {}
local function note(path) out[#out + 1] = luds.stat(path).mode end
local function listen(net, name, opts)
  luds.spawn(luds.serve, assert(luds.listen(net, dir .. "/" .. name, opts)), function() end)
  note(dir .. "/" .. name)
end
for _, mode in ipairs({ "0660", "0600", "0640", "0666", "0700", "0000" }) do
  listen("unix", mode .. ".sock", { mode = mode })
end
listen("unix", "num.sock", { mode = tonumber("640", 8) })
listen("unixpacket", "packet.sock", { mode = "0660" })
KEPT = assert(luds.listen_packet("unixgram", dir .. "/gram.sock", -- a global: kept open till the end
  { mode = "0620", unlink_on_close = true }))
note(dir .. "/gram.sock")
listen("unix", "default.sock")
assert(io.open(dir .. "/plain", "w")):close()
note(dir .. "/plain")
print(table.concat(out, " "))
io.stdout:flush()
]]

local function check_umask(self, umask, default, plain)
  local d = self.dir
  local child = ("umask %s; exec %s"):format(umask, lua_cmd("", UMASK_CHILD, d))
  local p = H.start("sh -c " .. H.q(child))
  local line = H.wait_for("the child's report", function()
    return (p:stdout() or ""):match("^(.-)\n")
  end)
  -- The harness itself: the umask really was in force in the child.
  lu.assertEquals(line, "0660 0600 0640 0666 0700 0000 0640 0660 0620 " .. default .. " " .. plain)
  for _, c in ipairs({ { "0660.sock", "0660" }, { "0600.sock", "0600" }, { "0640.sock", "0640" },
      { "0666.sock", "0666" }, { "0700.sock", "0700" }, { "0000.sock", "0000" },
      { "num.sock", "0640" }, { "packet.sock", "0660" }, { "gram.sock", "0620" },
      { "default.sock", default } }) do
    assert_stat(d .. "/" .. c[1], "socket", c[2], 0, 0)
  end
  assert_stat(d .. "/plain", "file", plain, 0, 0)
  lu.assertEquals(H.stop(p, "TERM"), 143)
  lu.assertEquals(H.ls(d), "plain")
end

function TestListenPerm:test_modes_under_umask_022()
  H.run(function() check_umask(self, "022", "0755", "0644") end, CHILD_LIMIT)
end

function TestListenPerm:test_modes_under_umask_077()
  H.run(function() check_umask(self, "077", "0700", "0600") end, CHILD_LIMIT)
end

function TestListenPerm:test_modes_under_umask_000()
  H.run(function() check_umask(self, "000", "0777", "0666") end, CHILD_LIMIT)
end

function TestListenPerm:test_owner_and_group()
  H.run(function()
    local d = self.dir
    local a = serve_echo(d .. "/a.sock", { mode = "0660", owner = "nobody", group = "nogroup" })
    assert_stat(d .. "/a.sock", "socket", "0660", NOBODY, NOGROUP)
    lu.assertEquals(H.sh("stat -c '%U %G' " .. H.q(d .. "/a.sock")), "nobody nogroup\n")
    local b = serve_echo(d .. "/b.sock", { mode = "0640", group = "nogroup" })
    assert_stat(d .. "/b.sock", "socket", "0640", 0, NOGROUP)
    local c = serve_echo(d .. "/c.sock", { mode = "0600", owner = NOBODY, group = 54321 })
    assert_stat(d .. "/c.sock", "socket", "0600", NOBODY, 54321)
    local pkt = assert(luds.listen("unixpacket", d .. "/p.sock", { mode = "0660", group = NOGROUP }))
    assert_stat(d .. "/p.sock", "socket", "0660", 0, NOGROUP)
    local gram = assert(luds.listen_packet("unixgram", d .. "/g.sock", { mode = "0620", owner = "nobody" }))
    assert_stat(d .. "/g.sock", "socket", "0620", NOBODY, 0)
    for _, name in ipairs({ "/a.sock", "/b.sock", "/c.sock" }) do lu.assertTrue(echoes(d .. name)) end
    for _, x in ipairs({ a, b, c, pkt, gram }) do x:close() end
  end)
end

function TestListenPerm:test_unknown_owner_or_group_leaves_no_file()
  H.run(function()
    local path = self.dir .. "/x.sock"
    H.assert_fails("UNKNOWN_USER", "listen unix " .. path .. ": unknown user",
      luds.listen("unix", path, { mode = "0660", owner = NO_USER }))
    H.assert_fails("UNKNOWN_USER", "listen unix " .. path .. ": unknown user",
      luds.listen("unix", path, { owner = NO_USER, group = "nogroup" }))
    H.assert_fails("UNKNOWN_GROUP", "listen unix " .. path .. ": unknown group",
      luds.listen("unix", path, { mode = "0660", owner = "nobody", group = NO_GROUP }))
    H.assert_fails("UNKNOWN_USER", "listen unixpacket " .. path .. ": unknown user",
      luds.listen("unixpacket", path, { owner = NO_USER }))
    H.assert_fails("UNKNOWN_GROUP", "listen unixgram " .. path .. ": unknown group",
      luds.listen_packet("unixgram", path, { group = NO_GROUP }))
    lu.assertEquals(H.ls(self.dir), "")
  end)
end

-- Options are checked before anything is touched: an unknown owner fails the
-- listen before remove_stale removes the stale socket, and nothing is bound.
function TestListenPerm:test_unknown_owner_with_remove_stale()
  H.run(function()
    local path = self.dir .. "/x.sock"
    H.stale_socket(path)
    local before = luds.stat(path)
    H.assert_fails("UNKNOWN_USER", "listen unix " .. path .. ": unknown user",
      luds.listen("unix", path, { owner = NO_USER, remove_stale = true }))
    lu.assertEquals(luds.stat(path), before)
    lu.assertEquals(H.ls(self.dir), "x.sock")
  end)
end

function TestListenPerm:test_bad_options_raise_and_leave_no_file()
  H.run(function()
    local path = self.dir .. "/x.sock"
    for _, mode in ipairs({ "0999", "rwx", "07777", "", 4096, -1, 1.5 }) do
      H.assert_raises({ "invalid mode" }, luds.listen, "unix", path, { mode = mode })
      H.assert_raises({ "invalid mode" }, luds.listen_packet, "unixgram", path, { mode = mode })
    end
    for _, id in ipairs({ -2, MAX_ID + 1, 2 ^ 32, 1.5 }) do
      H.assert_raises({ "user id", "out of range" }, luds.listen, "unix", path, { owner = id })
      H.assert_raises({ "group id", "out of range" }, luds.listen, "unix", path, { group = id })
    end
    H.assert_raises({ "user id or name" }, luds.listen, "unix", path, { owner = {} })
    lu.assertEquals(H.ls(self.dir), "")
  end)
end

-- The umask is swapped only around the bind: whatever happens, this process
-- gets its own back (a file created afterwards shows it too).
function TestListenPerm:test_umask_restored()
  H.run(function()
    local before = assert(umask())
    lu.assertEquals(before, START_UMASK, "an earlier test left the umask changed")
    local d = self.dir
    local ln = assert(luds.listen("unix", d .. "/a.sock", { mode = "0600" }))
    lu.assertEquals(umask(), before)
    H.assert_fails("EADDRINUSE", nil, luds.listen("unix", d .. "/a.sock", { mode = "0600" }))
    lu.assertEquals(umask(), before)
    H.assert_fails("ENOENT", nil,
      luds.listen("unix", d .. "/missing/b.sock", { mode = "0600", owner = "nobody" }))
    lu.assertEquals(umask(), before)
    H.spit(d .. "/after", "")
    local want = tonumber("666", 8) & ~tonumber(before, 8)
    lu.assertEquals(luds.stat(d .. "/after").mode, ("%04o"):format(want))
    ln:close()
  end)
end

-- Gives dir the default ACL u::rwx g::r-x o::--- (as setfacl -d would);
-- exits 3 where the file system has no ACLs.
local PY_DEFAULT_ACL = [[
import errno, os, struct, sys
acl = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", tag, perm, 0xffffffff)
                                      for tag, perm in ((0x01, 7), (0x04, 5), (0x20, 0)))
try:
    os.setxattr(sys.argv[1], "system.posix_acl_default", acl)
except OSError as e:
    sys.exit(3 if e.errno in (errno.EOPNOTSUPP, errno.ENOTSUP) else 1)
]]

-- A default ACL narrows what bind creates: a listen without a mode gets 0777
-- less the umask (unix_bind applies it itself) and less 0027, while a plain
-- file gets 0640 (with a default ACL, open ignores the umask). A mode asked is
-- still exact: luds finishes it through its checked handle.
function TestListenPerm:test_default_acl_does_not_narrow_a_mode_asked()
  local d = self.dir .. "/acl"
  os.execute("mkdir " .. H.q(d))
  local _, err, status = H.exec(("python3 -c %s %s"):format(H.q(PY_DEFAULT_ACL), H.q(d)))
  lu.skipIf(status == 3, "the file system has no ACLs")
  lu.assertEquals(status, 0, err)
  H.run(function()
    H.spit(d .. "/plain", "")
    assert_stat(d .. "/plain", "file", "0640", 0, 0)
    local cases = {
      { "unix", { mode = "0666" }, "0666", 0 },
      { "unix", { mode = "0660" }, "0660", 0 },
      { "unix", { mode = "0000" }, "0000", 0 },
      { "unixgram", { mode = "0622" }, "0622", 0 },
      { "unix", { mode = "0666", group = "nogroup" }, "0666", NOGROUP },
    }
    for i, c in ipairs(cases) do
      local path = ("%s/%d.sock"):format(d, i)
      local listen = c[1] == "unixgram" and luds.listen_packet or luds.listen
      local obj = assert(listen(c[1], path, c[2]))
      assert_stat(path, "socket", c[3], 0, c[4])
      obj:close()
    end
    local ln = assert(luds.listen("unix", d .. "/none.sock"))
    assert_stat(d .. "/none.sock", "socket", masked("777", "750"), 0, 0)
    ln:close()
  end)
end

-- sun_path holds 108 bytes with the terminating NUL: a path of 107 bytes
-- gets its mode and owner; 108 is ENAMETOOLONG and creates nothing.
function TestListenPerm:test_path_limit_is_107_bytes()
  H.run(function()
    local function path_of(len) return self.dir .. "/" .. ("p"):rep(len - #self.dir - 1) end
    local fits, long = path_of(107), path_of(108)
    lu.assertEquals({ #fits, #long }, { 107, 108 })
    local ln = assert(luds.listen("unix", fits, { mode = "0660", group = "nogroup" }))
    assert_stat(fits, "socket", "0660", 0, NOGROUP)
    lu.assertEquals(ln:addr(), fits)
    ln:close()
    local pc = assert(luds.listen_packet("unixgram", fits,
      { mode = "0620", unlink_on_close = true }))
    assert_stat(fits, "socket", "0620", 0, 0)
    pc:close()
    H.assert_fails("ENAMETOOLONG", "listen unix " .. long .. ": file name too long",
      luds.listen("unix", long, { mode = "0660" }))
    H.assert_fails("ENAMETOOLONG", "listen unixgram " .. long .. ": file name too long",
      luds.listen_packet("unixgram", long, { mode = "0660" }))
    lu.assertEquals(H.ls(self.dir), "")
  end)
end

-- An abstract address has no file to chmod or chown: asking is an error that
-- says so, and remove_stale has nothing to do. The same for an unnamed
-- (autobound) packet socket and for IP.
function TestListenPerm:test_abstract_address_options()
  H.run(function()
    local name = "@luds-access-spec-" .. H.pid()
    local why = ": mode, owner and group need a socket file:"
      .. " abstract, unnamed and IP addresses have none"
    for _, opts in ipairs({ { mode = "0660" }, { owner = "nobody" }, { group = 0 },
        { mode = "0600", owner = 0, group = "nogroup" } }) do
      H.assert_fails("EINVAL", "listen unix " .. name .. why, luds.listen("unix", name, opts))
      H.assert_fails("EINVAL", "listen unixpacket " .. name .. why,
        luds.listen("unixpacket", name, opts))
      H.assert_fails("EINVAL", "listen unixgram " .. name .. why,
        luds.listen_packet("unixgram", name, opts))
      H.assert_fails("EINVAL", "listen unixgram" .. why, luds.listen_packet("unixgram", "", opts))
      H.assert_fails("EINVAL", "listen tcp 127.0.0.1:0" .. why,
        luds.listen("tcp", "127.0.0.1:0", opts))
      H.assert_fails("EINVAL", "listen udp 127.0.0.1:0" .. why,
        luds.listen_packet("udp", "127.0.0.1:0", opts))
    end
    local ln = assert(luds.listen("unix", name, { remove_stale = true }))
    lu.assertEquals(ln:addr(), name)
    ln:close()
  end)
end

-- A chown that fails after the bind (nobody may not give a file to root, nor to
-- a group it is not in) fails the listen and removes the file it bound.
function TestListenPerm:test_failed_chown_after_bind_removes_file()
  H.run(function()
    local d = self.dir .. "/nobodys"
    os.execute("mkdir " .. H.q(d))
    assert(luds.chown(d, "nobody", "nogroup"))
    local code = [[
local luds = require "luds"
local function try(name, opts)
  local path = arg[1] .. "/" .. name
  local ln, _, code = luds.listen("unix", path, opts)
  if not ln then return code end
  local st = luds.stat(path)
  ln:close()
  return ("%s:%d:%d"):format(st.mode, st.uid, st.gid)
end
print(try("a.sock", { mode = "0660", owner = "root" }),
  try("b.sock", { mode = "0660", group = "root" }),
  try("c.sock", { group = "root" }),
  try("d.sock", { mode = "0640", group = "nogroup" }),
  try("e.sock", { mode = "0600", owner = "nobody" }))
]]
    local out, err, status = H.exec(lua_cmd(AS_NOBODY, code, d))
    lu.assertEquals({ out, err, status },
      { "EPERM\tEPERM\tEPERM\t0640:65534:65534\t0600:65534:65534\n", "", 0 })
    lu.assertEquals(H.ls(d), "")
  end, CHILD_LIMIT)
end

-- The order inside a listen with mode/owner/group, made visible by stopping the
-- child in the middle with strace's fault injection: with an owner or group the
-- file is born 0000 (bound under umask 0777, here with the child's umask 000),
-- chowned, and only then chmodded; a failing chown or chmod leaves no file
-- behind. strace's log shows that neither goes by path: fchownat on a handle,
-- chmod of /proc/self/fd/N; a mode alone needs neither.
TestBindOrder = suite()

-- strace must be installed and allowed to ptrace (some containers forbid it).
local HAVE_STRACE = select(2, H.sh("strace -o /dev/null true >/dev/null 2>&1")) == 0

local BIND_CHILD = [[
local luds = require "luds"
local opts = { mode = "0660", owner = "nobody", group = "nogroup" }
local ln, _, code = luds.listen("unix", arg[1], opts)
io.write(ln and "listening" or code)
]]

-- Runs BIND_CHILD on path under umask 000 while strace injects `fault` on
-- entry to the given syscalls (glibc may use either name); returns its stdout.
local function listen_with_fault(path, syscalls, fault)
  local strace = ("strace -f -o /dev/null -e trace=%s -e inject=%s:%s"):format(syscalls, syscalls, fault)
  -- LeakSanitizer refuses to run under ptrace and would end a sanitizer
  -- build before its output is flushed: leaks are checked by the other runs.
  local child = ("umask 000; ASAN_OPTIONS=detect_leaks=0 exec %s %s"):format(strace,
    lua_cmd("", BIND_CHILD, path))
  return (H.exec("sh -c " .. H.q(child)))
end

local CHOWN, CHMOD = "lchown,fchownat,chown", "chmod,fchmodat"

function TestBindOrder:test_born_with_no_permissions()
  lu.skipIf(not HAVE_STRACE, "needs a working strace")
  H.run(function()
    local path = self.dir .. "/s.sock"
    lu.assertEquals(listen_with_fault(path, CHOWN, "error=EIO:signal=SIGKILL"), "")
    assert_stat(path, "socket", "0000", 0, 0)
  end, CHILD_LIMIT)
end

function TestBindOrder:test_owned_before_chmod()
  lu.skipIf(not HAVE_STRACE, "needs a working strace")
  H.run(function()
    local path = self.dir .. "/s.sock"
    lu.assertEquals(listen_with_fault(path, CHMOD, "error=EIO:signal=SIGKILL"), "")
    assert_stat(path, "socket", "0000", NOBODY, NOGROUP)
  end, CHILD_LIMIT)
end

function TestBindOrder:test_failed_chown_removes_file()
  lu.skipIf(not HAVE_STRACE, "needs a working strace")
  H.run(function()
    lu.assertEquals(listen_with_fault(self.dir .. "/s.sock", CHOWN, "error=EIO"), "EIO")
    lu.assertEquals(H.ls(self.dir), "")
  end, CHILD_LIMIT)
end

function TestBindOrder:test_failed_chmod_removes_file()
  lu.skipIf(not HAVE_STRACE, "needs a working strace")
  H.run(function()
    lu.assertEquals(listen_with_fault(self.dir .. "/s.sock", CHMOD, "error=EPERM"), "EPERM")
    lu.assertEquals(H.ls(self.dir), "")
  end, CHILD_LIMIT)
end

-- Runs a child that listens at dir/s.sock on net with the options `opts` (Lua
-- source) under strace logging every chown and chmod call; returns its stdout
-- (the file's mode, or the error code) and those calls, descriptors shown as N.
local TRACE_CHILD = [[
local luds = require "luds"
local listen = arg[2] == "unixgram" and luds.listen_packet or luds.listen
local ln, _, code = listen(arg[2], arg[1], load("return " .. arg[3])())
io.write(ln and luds.stat(arg[1]).mode or code)
]]

local function traced_listen(dir, net, opts)
  local log = dir .. "/strace.log"
  local strace = ("strace -f -o %s -e trace=chown,lchown,fchown,fchownat,chmod,fchmod,fchmodat")
    :format(H.q(log))
  local child = ("ASAN_OPTIONS=detect_leaks=0 exec %s %s"):format(strace,
    lua_cmd("", TRACE_CHILD, dir .. "/s.sock", net, opts))
  local out = H.exec("sh -c " .. H.q(child))
  local calls = {}
  for line in H.slurp(log):gmatch("[^\n]+") do
    local call = line:match("^%d+%s+(%l*ch[mo][ow][dn]%l*%(.*)$")
    if call then
      call = call:gsub("^fchownat%(%d+,", "fchownat(N,")
      call = call:gsub("/proc/self/fd/%d+", "/proc/self/fd/N")
      calls[#calls + 1] = (call:gsub("%s+=%s+", " = "))
    end
  end
  os.remove(log)
  return out, calls
end

function TestBindOrder:test_no_chown_or_chmod_by_path()
  lu.skipIf(not HAVE_STRACE, "needs a working strace")
  H.run(function()
    local function chmod_fd(mode) return ('chmod("/proc/self/fd/N", %s) = 0'):format(mode) end
    local cases = {
      { "unix", '{ mode = "0660" }', "0660", {} },
      { "unixgram", '{ mode = "0620" }', "0620", {} },
      { "unix", '{ mode = "0660", owner = "nobody", group = "nogroup" }', "0660",
        { 'fchownat(N, "", 65534, 65534, AT_EMPTY_PATH) = 0', chmod_fd("0660") } },
      { "unix", '{ owner = "nobody" }', masked("777"),
        { 'fchownat(N, "", 65534, -1, AT_EMPTY_PATH) = 0' } },
      { "unixgram", '{ mode = "0600", group = 0 }', "0600",
        { 'fchownat(N, "", -1, 0, AT_EMPTY_PATH) = 0', chmod_fd("0600") } },
      { "unix", '{ mode = "0000", owner = 0 }', "0000",
        { 'fchownat(N, "", 0, -1, AT_EMPTY_PATH) = 0' } },
    }
    for _, c in ipairs(cases) do
      local out, calls = traced_listen(self.dir, c[1], c[2])
      lu.assertEquals(out, c[3], c[2])
      lu.assertEquals(calls, c[4], c[2])
      os.remove(self.dir .. "/s.sock")
    end
  end, CHILD_LIMIT)
end

TestConnectPerm = suite()

-- Connecting needs write permission on the socket file.
function TestConnectPerm:test_0600_refuses_nobody()
  H.run(function()
    local path = self.dir .. "/s.sock"
    local ln = serve_echo(path, { mode = "0600" })
    lu.assertEquals(run_client(self, AS_NOBODY, path, "hi"), "dial EACCES")
    lu.assertEquals(run_client(self, "", path, "hi"), "hi<EOF>") -- root still gets in
    ln:close()
  end, CHILD_LIMIT)
end

function TestConnectPerm:test_0660_group_admits_member_only()
  H.run(function()
    local path = self.dir .. "/s.sock"
    local ln = serve_echo(path, { mode = "0660", group = "nogroup" })
    assert_stat(path, "socket", "0660", 0, NOGROUP)
    lu.assertEquals(run_client(self, AS_NOBODY, path, "hello\n"), "hello\n<EOF>")
    lu.assertEquals(run_client(self, as(NOBODY, 12345), path, "x"), "dial EACCES")
    -- A supplementary group counts as much as the primary one.
    lu.assertEquals(run_client(self, as(NOBODY, 12345, "65534"), path, "sup"), "sup<EOF>")
    lu.assertEquals(run_client(self, as(12345, 12345), path, "x"), "dial EACCES")
    ln:close()
  end, CHILD_LIMIT)
end

-- Read permission alone does not let a peer connect.
function TestConnectPerm:test_0640_group_cannot_connect()
  H.run(function()
    local path = self.dir .. "/s.sock"
    local ln = serve_echo(path, { mode = "0640", group = "nogroup" })
    lu.assertEquals(run_client(self, AS_NOBODY, path, "x"), "dial EACCES")
    lu.assertTrue(luds.chmod(path, "0620"))
    lu.assertEquals(run_client(self, AS_NOBODY, path, "w"), "w<EOF>")
    ln:close()
  end, CHILD_LIMIT)
end

-- Without search permission on the directory the socket's own mode is moot.
function TestConnectPerm:test_closed_directory_refuses()
  H.run(function()
    local path = self.dir .. "/s.sock"
    local ln = serve_echo(path, { mode = "0666" })
    lu.assertEquals(run_client(self, AS_NOBODY, path, "ok"), "ok<EOF>")
    assert(luds.chmod(self.dir, "0700"))
    lu.assertEquals(run_client(self, AS_NOBODY, path, "x"), "dial EACCES")
    ln:close()
  end, CHILD_LIMIT)
end

TestPeerCred = suite()

function TestPeerCred:test_in_process_pair()
  H.run(function()
    local client, server = T.pair()
    local me = { pid = H.pid(), uid = 0, gid = 0 }
    lu.assertEquals(server:peer_cred(), me)
    lu.assertEquals(client:peer_cred(), me)
  end)
end

-- The exact pid, uid and gid of a child process that connects.
function TestPeerCred:test_connecting_child()
  H.run(function()
    local path = self.dir .. "/s.sock"
    local ln = assert(luds.listen("unix", path, { mode = "0666" }))
    local cases = { { AS_NOBODY, NOBODY, NOGROUP }, { as(12345, 54321), 12345, 54321 }, { "", 0, 0 } }
    for _, c in ipairs(cases) do
      local p = start_client(self, c[1], path)
      local conn = accept_from(ln, p)
      lu.assertEquals(conn:peer_cred(), { pid = p.pid, uid = c[2], gid = c[3] })
      lu.assertNotEquals(p.pid, H.pid())
      conn:close()
      lu.assertEquals(H.wait_exit(p), 0)
      lu.assertEquals(p:stdout(), "<EOF>")
    end
    ln:close()
  end, CHILD_LIMIT)
end

-- The dialing side sees the listener's process.
function TestPeerCred:test_dialer_sees_server_process()
  H.run(function()
    local d = self.dir .. "/nobodys"
    os.execute("mkdir " .. H.q(d))
    assert(luds.chown(d, "nobody", "nogroup"))
    local path = d .. "/s.sock"
    local code = [[
local luds = require "luds"
local ln = assert(luds.listen("unix", arg[1], { mode = "0666" }))
local c = assert(ln:accept())
c:read()
]]
    local p = H.start(lua_cmd(AS_NOBODY, code, path))
    local conn = H.wait_for("the child to listen", function() return luds.dial("unix", path) end)
    lu.assertEquals(conn:peer_cred(), { pid = p.pid, uid = NOBODY, gid = NOGROUP })
    conn:close()
    lu.assertEquals(H.wait_exit(p), 0)
  end, CHILD_LIMIT)
end

function TestPeerCred:test_unixpacket()
  H.run(function()
    local path = self.dir .. "/p.sock"
    local ln = assert(luds.listen("unixpacket", path))
    local client = assert(luds.dial("unixpacket", path))
    local server = assert(ln:accept())
    local me = { pid = H.pid(), uid = 0, gid = 0 }
    lu.assertEquals(server:peer_cred(), me)
    lu.assertEquals(client:peer_cred(), me)
    ln:close()
  end)
end

function TestPeerCred:test_unixgram_not_supported()
  H.run(function()
    local path = self.dir .. "/g.sock"
    local pc = assert(luds.listen_packet("unixgram", path))
    local conn = assert(luds.dial("unixgram", path))
    H.assert_fails("EOPNOTSUPP", "peer_cred unixgram " .. path .. ": operation not supported",
      conn:peer_cred())
    conn:close()
    pc:close()
  end)
end

function TestPeerCred:test_closed_conn()
  H.run(function()
    local client, server = T.pair()
    client:close()
    server:close()
    H.assert_fails("CLOSED", nil, client:peer_cred())
    H.assert_fails("CLOSED", nil, server:peer_cred())
  end)
end

TestCreds = suite()

-- Has a child running as `ids` connect to self.ln and returns what
-- creds.allow(conn, policy) said of it, as a list.
local function allow_as(self, ids, policy)
  local p = start_client(self, ids, self.path)
  local conn = accept_from(self.ln, p)
  local got = { creds.allow(conn, policy) }
  lu.assertEquals(conn:peer_cred().pid, p.pid)
  conn:close()
  lu.assertEquals(H.wait_exit(p), 0)
  return got
end

local function listen_for_creds(self)
  self.path = self.dir .. "/creds.sock"
  self.ln = assert(luds.listen("unix", self.path, { mode = "0666" }))
end

local REFUSED_NOBODY = "uid 65534 is not in an allowed group"

function TestCreds:test_groups_by_name_and_gid()
  H.run(function()
    listen_for_creds(self)
    lu.assertEquals(allow_as(self, AS_NOBODY, { groups = { "nogroup" } }), { true })
    lu.assertEquals(allow_as(self, AS_NOBODY, { groups = { NOGROUP } }), { true })
    lu.assertEquals(allow_as(self, AS_NOBODY, { groups = { "root", "nogroup" } }), { true })
    lu.assertEquals(allow_as(self, AS_NOBODY, { groups = { "root" } }), { false, REFUSED_NOBODY })
    lu.assertEquals(allow_as(self, AS_NOBODY, { groups = { 0, 12345 } }), { false, REFUSED_NOBODY })
  end, CHILD_LIMIT)
end

-- Group membership is what the peer process held when it connected, as the
-- kernel recorded it: the gid it ran with (here root's, which nobody's passwd
-- entry does not name) and its supplementary groups. nogroup, nobody's group
-- in the database, counts only if the process held it.
function TestCreds:test_primary_gid_and_held_groups()
  H.run(function()
    listen_for_creds(self)
    local nobody_as_root_group = as(NOBODY, 0)
    lu.assertEquals(allow_as(self, nobody_as_root_group, { groups = { "root" } }), { true })
    lu.assertEquals(allow_as(self, nobody_as_root_group, { groups = { "nogroup" } }),
      { false, REFUSED_NOBODY })
    lu.assertEquals(allow_as(self, as(NOBODY, 0, NOGROUP), { groups = { "nogroup" } }), { true })
    lu.assertEquals(allow_as(self, nobody_as_root_group, { groups = { 12345 } }),
      { false, REFUSED_NOBODY })
  end, CHILD_LIMIT)
end

-- A uid with no passwd entry has only the gid it connected with.
function TestCreds:test_uid_without_passwd_entry()
  H.run(function()
    listen_for_creds(self)
    H.assert_fails("UNKNOWN_USER", nil, luds.user_groups(12345))
    lu.assertEquals(allow_as(self, as(12345, 54321), { groups = { 54321 } }), { true })
    lu.assertEquals(allow_as(self, as(12345, 54321), { groups = { "nogroup", 0 } }),
      { false, "uid 12345 is not in an allowed group" })
    lu.assertEquals(allow_as(self, as(12345, 54321), { users = { 12345 } }), { true })
  end, CHILD_LIMIT)
end

function TestCreds:test_users()
  H.run(function()
    listen_for_creds(self)
    lu.assertEquals(allow_as(self, AS_NOBODY, { users = { "nobody" } }), { true })
    lu.assertEquals(allow_as(self, AS_NOBODY, { users = { NOBODY } }), { true })
    lu.assertEquals(allow_as(self, AS_NOBODY, { users = { "root", 0 } }),
      { false, "uid 65534 is not an allowed user" })
    lu.assertEquals(allow_as(self, AS_NOBODY, { users = { "root" }, groups = { "root" } }),
      { false, "uid 65534 is neither an allowed user nor in an allowed group" })
    lu.assertEquals(allow_as(self, AS_NOBODY, { users = { "root" }, groups = { "nogroup" } }),
      { true })
    lu.assertEquals(allow_as(self, AS_NOBODY, { users = { "nobody" }, groups = { "root" } }),
      { true })
  end, CHILD_LIMIT)
end

function TestCreds:test_unknown_names_match_nothing()
  H.run(function()
    listen_for_creds(self)
    lu.assertEquals(allow_as(self, AS_NOBODY, { groups = { NO_GROUP } }), { false, REFUSED_NOBODY })
    lu.assertEquals(allow_as(self, AS_NOBODY, { groups = { NO_GROUP, "nogroup" } }), { true })
    lu.assertEquals(allow_as(self, AS_NOBODY, { users = { NO_USER, "nobody" } }), { true })
    -- A name is a name: "65534" is not gid 65534.
    lu.assertEquals(allow_as(self, AS_NOBODY, { groups = { "65534" } }), { false, REFUSED_NOBODY })
    lu.assertEquals(allow_as(self, AS_NOBODY, {}), { false, REFUSED_NOBODY })
    lu.assertEquals(allow_as(self, AS_NOBODY, { groups = {}, users = {} }),
      { false, "uid 65534 is neither an allowed user nor in an allowed group" })
  end, CHILD_LIMIT)
end

function TestCreds:test_root_in_process()
  H.run(function()
    local _, server = T.pair()
    lu.assertEquals({ creds.allow(server, { groups = { "root" } }) }, { true })
    lu.assertEquals({ creds.allow(server, { users = { 0 } }) }, { true })
    lu.assertEquals({ creds.allow(server, { groups = { "nogroup" } }) },
      { false, "uid 0 is not in an allowed group" })
  end, CHILD_LIMIT)
end

-- A conn whose credentials cannot be read is refused with peer_cred's message.
function TestCreds:test_peer_cred_failure_refuses()
  H.run(function()
    local client, server = T.pair()
    server:close()
    local _, msg = server:peer_cred()
    lu.assertEquals({ creds.allow(server, { groups = { "root" } }) }, { false, msg })
    lu.assertStrContains(msg, "use of closed connection")
    local path = self.dir .. "/g.sock"
    local pc = assert(luds.listen_packet("unixgram", path))
    local gram = assert(luds.dial("unixgram", path))
    lu.assertEquals({ creds.allow(gram, { users = { 0 } }) },
      { false, "peer_cred unixgram " .. path .. ": operation not supported" })
    gram:close()
    pc:close()
    client:close()
  end, CHILD_LIMIT)
end

function TestCreds:test_misuse_raises()
  H.run(function()
    local _, server = T.pair()
    H.assert_raises({ "creds.allow", "policy must be a table" }, creds.allow, server)
    H.assert_raises({ "creds.allow", "policy must be a table" }, creds.allow, server, "root")
    H.assert_raises({ "groups[2]", "must be a name or an integer id", "table" },
      creds.allow, server, { groups = { "root", {} } })
    H.assert_raises({ "users[1]", "must be a name or an integer id", "number" },
      creds.allow, server, { users = { 1.5 } })
  end, CHILD_LIMIT)
end

TestAuthExample = suite()

-- Starts the auth example at self.dir/auth.sock and waits for its first line.
local function start_auth(self, ...)
  self.path = self.dir .. "/auth.sock"
  local groups = {}
  for i, g in ipairs({ ... }) do groups[i] = H.q(g) end
  local p = H.start(
    ("%s %s %s %s"):format(H.q(H.LUDS), H.q(AUTH), H.q(self.path), table.concat(groups, " ")))
  local first = H.wait_for("the auth server to listen", function()
    return (p:stdout() or ""):match("^(.-\n)")
  end)
  lu.assertEquals(first, ("listening on %s (mode 0666), allowed groups: %s\n")
    :format(self.path, table.concat({ ... }, " ")))
  -- World-connectable on purpose: the credential check is the guard.
  assert_stat(self.path, "socket", "0666", 0, 0)
  return p
end

-- The server's log after its first line, once it holds n lines.
local function log_lines(p, n)
  return H.wait_for(n .. " log lines", function()
    local out = p:stdout() or ""
    local _, count = out:gsub("\n", "")
    return count >= n and out:match("^.-\n(.*)$")
  end)
end

function TestAuthExample:test_refuses_nobody()
  H.run(function()
    local p = start_auth(self, "root")
    local out, pid = run_client(self, AS_NOBODY, self.path)
    lu.assertEquals(out, "refused: uid 65534 is not in an allowed group\n<EOF>")
    lu.assertEquals(log_lines(p, 2),
      ("refused pid %d uid 65534 gid 65534: uid 65534 is not in an allowed group\n"):format(pid))
    lu.assertEquals(H.stop(p, "TERM"), 143)
    assert_missing(self.path)
    lu.assertEquals(p:stderr(), "")
  end, CHILD_LIMIT)
end

function TestAuthExample:test_admits_group_members()
  H.run(function()
    local p = start_auth(self, "nogroup", "root")
    local out1, pid1 = run_client(self, AS_NOBODY, self.path, "hello\n")
    lu.assertEquals(out1, "hello\n<EOF>")
    local out2, pid2 = run_client(self, "", self.path, "from root")
    lu.assertEquals(out2, "from root<EOF>")
    local out3, pid3 = run_client(self, as(12345, 54321), self.path)
    lu.assertEquals(out3, "refused: uid 12345 is not in an allowed group\n<EOF>")
    lu.assertEquals(log_lines(p, 4), table.concat({
      ("admitted pid %d uid 65534 gid 65534\n"):format(pid1),
      ("admitted pid %d uid 0 gid 0\n"):format(pid2),
      ("refused pid %d uid 12345 gid 54321: uid 12345 is not in an allowed group\n"):format(pid3),
    }))
    lu.assertEquals(H.stop(p, "INT"), 130)
    assert_missing(self.path)
    lu.assertEquals(p:stderr(), "")
  end, CHILD_LIMIT)
end

function TestAuthExample:test_bad_arguments()
  H.run(function()
    local usage = "usage: luds auth_server.lua PATH GROUP [GROUP...]\n"
    local path = self.dir .. "/auth.sock"
    local cmd = ("%s %s"):format(H.q(H.LUDS), H.q(AUTH))
    lu.assertEquals({ H.exec(cmd) }, { "", usage, 2 })
    lu.assertEquals({ H.exec(cmd .. " " .. H.q(path)) }, { "", usage, 2 })
    lu.assertEquals({ H.exec(("%s %s root %s"):format(cmd, H.q(path), NO_GROUP)) },
      { "", "auth_server: unknown group " .. NO_GROUP .. "\n", 2 })
    lu.assertEquals(H.ls(self.dir), "")
  end, CHILD_LIMIT)
end

function TestAuthExample:test_live_path_is_an_error()
  H.run(function()
    local path = self.dir .. "/auth.sock"
    local ln = serve_echo(path)
    lu.assertEquals({ H.exec(("%s %s %s root"):format(H.q(H.LUDS), H.q(AUTH), H.q(path))) },
      { "", "auth_server: listen unix " .. path .. ": address already in use\n", 1 })
    ln:close()
  end, CHILD_LIMIT)
end

TestRemoveStale = suite()

function TestRemoveStale:test_refused_socket_is_removed()
  H.run(function()
    local path = self.dir .. "/stale.sock"
    H.stale_socket(path)
    lu.assertEquals(luds.stat(path).type, "socket")
    H.assert_fails("ECONNREFUSED", nil, luds.dial("unix", path))
    lu.assertTrue(luds.remove_stale(path))
    assert_missing(path)
    H.assert_fails("ENOENT", "remove_stale " .. path .. ": no such file or directory",
      luds.remove_stale(path))
  end)
end

-- A datagram socket left behind (listen_packet does not unlink) is stale too.
function TestRemoveStale:test_left_unixgram_socket_is_removed()
  H.run(function()
    local path = self.dir .. "/gram.sock"
    assert(luds.listen_packet("unixgram", path)):close()
    lu.assertEquals(luds.stat(path).type, "socket")
    lu.assertTrue(luds.remove_stale(path))
    assert_missing(path)
  end)
end

function TestRemoveStale:test_live_sockets_are_kept()
  H.run(function()
    local d = self.dir
    local objs = {
      serve_echo(d .. "/stream.sock"),
      assert(luds.listen("unixpacket", d .. "/packet.sock")),
      assert(luds.listen_packet("unixgram", d .. "/gram.sock")),
    }
    for _, name in ipairs({ "stream.sock", "packet.sock", "gram.sock" }) do
      local path = d .. "/" .. name
      local before = luds.stat(path)
      H.assert_fails("EADDRINUSE", "remove_stale " .. path .. ": address already in use",
        luds.remove_stale(path))
      lu.assertEquals(luds.stat(path), before)
    end
    lu.assertTrue(echoes(d .. "/stream.sock"))
    for _, o in ipairs(objs) do o:close() end
  end)
end

-- Files that are not sockets are never touched, symlinks to sockets included.
function TestRemoveStale:test_non_sockets_untouched()
  H.run(function()
    local d = self.dir
    local ln = serve_echo(d .. "/live.sock")
    H.stale_socket(d .. "/stale.sock")
    H.spit(d .. "/file", "precious\n")
    os.execute(("mkdir %s/dir && echo inside > %s/dir/f && mkfifo %s/fifo"):format(d, d, d))
    os.execute(("cd %s && ln -s live.sock to_live && ln -s stale.sock to_stale && ln -s gone dangling")
      :format(H.q(d)))
    local names = { "file", "dir", "fifo", "to_live", "to_stale", "dangling" }
    local before = {}
    for _, n in ipairs(names) do before[n] = assert(luds.stat(d .. "/" .. n)) end
    for _, n in ipairs(names) do
      local path = d .. "/" .. n
      H.assert_fails("ENOTSOCK", "remove_stale " .. path .. ": socket operation on non-socket",
        luds.remove_stale(path))
      lu.assertEquals(luds.stat(path), before[n], n)
    end
    lu.assertEquals(H.slurp(d .. "/file"), "precious\n")
    lu.assertEquals(H.slurp(d .. "/dir/f"), "inside\n")
    lu.assertEquals(H.sh("readlink " .. H.q(d .. "/to_stale")), "stale.sock\n")
    lu.assertEquals(luds.stat(d .. "/stale.sock").type, "socket")
    lu.assertTrue(echoes(d .. "/to_live"))
    lu.assertEquals(H.ls(d), "dangling dir fifo file live.sock stale.sock to_live to_stale")
    ln:close()
  end)
end

function TestRemoveStale:test_listen_over_stale_socket()
  H.run(function()
    local path = self.dir .. "/s.sock"
    H.stale_socket(path)
    H.assert_fails("EADDRINUSE", "listen unix " .. path .. ": address already in use",
      luds.listen("unix", path))
    local ln = serve_echo(path, { remove_stale = true, mode = "0660", group = "nogroup" })
    assert_stat(path, "socket", "0660", 0, NOGROUP)
    lu.assertTrue(echoes(path))
    ln:close()
    assert_missing(path)
  end)
end

function TestRemoveStale:test_listen_packet_over_stale_socket()
  H.run(function()
    local path = self.dir .. "/g.sock"
    H.stale_socket(path)
    local pc = assert(luds.listen_packet("unixgram", path, { remove_stale = true, mode = "0620" }))
    assert_stat(path, "socket", "0620", 0, 0)
    pc:close()
  end)
end

function TestRemoveStale:test_listen_over_live_socket_fails()
  H.run(function()
    local path = self.dir .. "/s.sock"
    local ln = serve_echo(path)
    local before = luds.stat(path)
    H.assert_fails("EADDRINUSE", "listen unix " .. path .. ": address already in use",
      luds.listen("unix", path, { remove_stale = true }))
    H.assert_fails("EADDRINUSE", "listen unixpacket " .. path .. ": address already in use",
      luds.listen("unixpacket", path, { remove_stale = true }))
    lu.assertEquals(luds.stat(path), before)
    lu.assertTrue(echoes(path))
    ln:close()
  end)
end

-- remove_stale never turns a listen into the removal of something else.
function TestRemoveStale:test_listen_over_non_socket_fails()
  H.run(function()
    local d = self.dir
    H.spit(d .. "/file", "keep")
    H.stale_socket(d .. "/stale.sock")
    os.execute(("ln -s stale.sock %s/link"):format(d))
    H.assert_fails("EEXIST", "listen unix " .. d .. "/file: file exists",
      luds.listen("unix", d .. "/file"))
    for _, n in ipairs({ "file", "link" }) do
      local path = d .. "/" .. n
      local before = luds.stat(path)
      H.assert_fails("ENOTSOCK", "listen unix " .. path .. ": socket operation on non-socket",
        luds.listen("unix", path, { remove_stale = true }))
      H.assert_fails("ENOTSOCK", "listen unixgram " .. path .. ": socket operation on non-socket",
        luds.listen_packet("unixgram", path, { remove_stale = true, mode = "0660" }))
      lu.assertEquals(luds.stat(path), before)
    end
    lu.assertEquals(H.slurp(d .. "/file"), "keep")
    lu.assertEquals(luds.stat(d .. "/stale.sock").type, "socket")
  end)
end

-- A path with a NUL byte would be cut short by the C calls: refused instead.
function TestRemoveStale:test_nul_byte_and_long_paths()
  H.run(function()
    local path = self.dir .. "/a\0b"
    H.spit(self.dir .. "/a", "cut")
    assert(luds.chmod(self.dir .. "/a", "0640"))
    H.assert_fails("EINVAL", "remove_stale: invalid argument", luds.remove_stale(path))
    H.assert_fails("EINVAL", "chmod: invalid argument", luds.chmod(path, "0600"))
    H.assert_fails("EINVAL", "chown: invalid argument", luds.chown(path, "nobody", "nogroup"))
    H.assert_fails("EINVAL", "stat: invalid argument", luds.stat(path))
    assert_stat(self.dir .. "/a", "file", "0640", 0, 0)
    lu.assertEquals(H.slurp(self.dir .. "/a"), "cut")
    local long = self.dir .. "/" .. ("s"):rep(108 - #self.dir)
    H.assert_fails("ENAMETOOLONG", "remove_stale " .. long .. ": file name too long",
      luds.remove_stale(long))
  end)
end

TestListenerUnlink = suite()

function TestListenerUnlink:test_close_removes_own_file()
  H.run(function()
    local path = self.dir .. "/own.sock"
    local ln = assert(luds.listen("unix", path, { mode = "0600" }))
    lu.assertEquals(luds.stat(path).type, "socket")
    ln:close()
    assert_missing(path)
  end)
end

-- Replace the socket file behind the listener's back with another socket: the
-- listener's close must leave the newcomer alone.
function TestListenerUnlink:test_never_unlinks_a_replacement_socket()
  H.run(function()
    local path, other_path = self.dir .. "/s.sock", self.dir .. "/other.sock"
    local ln = assert(luds.listen("unix", path))
    local other = assert(luds.listen("unix", other_path))
    lu.assertTrue(os.rename(other_path, path))
    local replaced = luds.stat(path)
    lu.assertTrue(ln:close())
    lu.assertEquals(luds.stat(path), replaced)
    local c <close> = assert(luds.dial("unix", path))
    local s <close> = assert(other:accept())
    c:write("other")
    lu.assertEquals(s:read(), "other")
    -- The other listener's own path is gone; it removes nothing either.
    lu.assertTrue(other:close())
    lu.assertEquals(luds.stat(path), replaced)
  end)
end

function TestListenerUnlink:test_never_unlinks_a_replacement_file()
  H.run(function()
    local path = self.dir .. "/s.sock"
    local ln = assert(luds.listen("unix", path))
    assert(os.remove(path))
    H.spit(path, "not yours")
    lu.assertTrue(ln:close())
    lu.assertEquals(H.slurp(path), "not yours")
  end)
end

-- The signal path closes listeners the same way.
function TestListenerUnlink:test_signal_leaves_a_replacement()
  H.run(function()
    local path = self.dir .. "/s.sock"
    local p = H.start(lua_cmd("", [[
local luds = require "luds"
local ln = assert(luds.listen("unix", arg[1]))
print("up") io.stdout:flush()
ln:accept()
]], path))
    H.wait_for("the child to listen", function() return p:stdout() == "up\n" end)
    assert(os.remove(path))
    H.stale_socket(path)
    local replaced = luds.stat(path)
    lu.assertEquals(H.stop(p, "TERM"), 143)
    lu.assertEquals(luds.stat(path), replaced)
  end, CHILD_LIMIT)
end

TestLookup = suite()

local function getent(db, key)
  local out, status = H.sh(("getent %s %s"):format(db, H.q(key)))
  lu.assertEquals(status, 0, "getent " .. db .. " " .. key)
  local f = {}
  for field in (out:match("^(.-)\n") .. ":"):gmatch("([^:]*):") do f[#f + 1] = field end
  return f
end

local function id_groups(user)
  local gids = {}
  for g in H.sh("id -G " .. H.q(user)):gmatch("%d+") do gids[#gids + 1] = tonumber(g) end
  return gids
end

function TestLookup:test_users()
  H.run(function()
    for _, u in ipairs({ { "root", 0, 0 }, { "nobody", NOBODY, NOGROUP } }) do
      local pw = getent("passwd", u[1])
      local want = { uid = u[2], gid = u[3], name = u[1], home = pw[6], shell = pw[7] }
      lu.assertEquals(luds.lookup_user(u[1]), want)
      lu.assertEquals(luds.lookup_user(u[2]), want)
    end
    lu.assertEquals(luds.lookup_user("nobody").home, "/nonexistent")
    lu.assertEquals(luds.lookup_user(0).home, "/root")
  end)
end

function TestLookup:test_groups()
  H.run(function()
    for _, g in ipairs({ { "root", 0 }, { "nogroup", NOGROUP } }) do
      local gr = getent("group", g[1])
      local members = {}
      for m in gr[4]:gmatch("[^,]+") do members[#members + 1] = m end
      local want = { gid = g[2], name = g[1], members = members }
      lu.assertEquals(luds.lookup_group(g[1]), want)
      lu.assertEquals(luds.lookup_group(g[2]), want)
    end
    -- A group with members, when the system has one.
    local line = H.sh("getent group | awk -F: '$4 != \"\"' | head -n 1"):match("^(.-)\n")
    if line then
      local name, gid, list = line:match("^([^:]*):[^:]*:(%d+):(.*)$")
      local members = {}
      for m in list:gmatch("[^,]+") do members[#members + 1] = m end
      lu.assertEquals(luds.lookup_group(name),
        { gid = tonumber(gid), name = name, members = members })
    end
  end)
end

function TestLookup:test_user_groups()
  H.run(function()
    lu.assertEquals(luds.user_groups("root"), id_groups("root"))
    lu.assertEquals(luds.user_groups(0)[1], 0)
    lu.assertEquals(luds.user_groups(0), id_groups("root"))
    lu.assertEquals(luds.user_groups("nobody"), { NOGROUP })
    lu.assertEquals(luds.user_groups(NOBODY), { NOGROUP })
    -- A user with a supplementary group, when the system has one.
    local awk = [[awk -F: '$4 != "" { split($4, m, ","); print m[1]; exit }']]
    local member = H.sh("getent group | " .. awk):match("^(.-)\n")
    if member and member ~= "" then
      local gids = luds.user_groups(member)
      lu.assertEquals(gids[1], luds.lookup_user(member).gid)
      table.sort(gids)
      local want = id_groups(member)
      table.sort(want)
      lu.assertEquals(gids, want)
      lu.assertTrue(#gids >= 2)
    end
  end)
end

function TestLookup:test_unknown()
  H.run(function()
    lu.assertNotEquals(select(2, H.sh("getent passwd 4000000")), 0)
    H.assert_fails("UNKNOWN_USER", "lookup_user " .. NO_USER .. ": unknown user",
      luds.lookup_user(NO_USER))
    H.assert_fails("UNKNOWN_USER", "lookup_user 4000000: unknown user", luds.lookup_user(4000000))
    H.assert_fails("UNKNOWN_USER", "lookup_user: unknown user", luds.lookup_user(""))
    H.assert_fails("UNKNOWN_GROUP", "lookup_group " .. NO_GROUP .. ": unknown group",
      luds.lookup_group(NO_GROUP))
    H.assert_fails("UNKNOWN_GROUP", "lookup_group 4000000: unknown group",
      luds.lookup_group(4000000))
    H.assert_fails("UNKNOWN_USER", "user_groups " .. NO_USER .. ": unknown user",
      luds.user_groups(NO_USER))
    H.assert_fails("UNKNOWN_USER", "user_groups 4000000: unknown user", luds.user_groups(4000000))
    -- A name is looked up as a name, even when it reads as a number.
    H.assert_fails("UNKNOWN_USER", "lookup_user 0: unknown user", luds.lookup_user("0"))
  end)
end

-- The C lookups would cut "root\0junk" at the NUL and find root: refused.
function TestLookup:test_names_with_nul_are_einval()
  H.run(function()
    H.assert_fails("EINVAL", nil, luds.lookup_user("root\0junk"))
    H.assert_fails("EINVAL", nil, luds.lookup_group("root\0junk"))
    H.assert_fails("EINVAL", nil, luds.user_groups("root\0junk"))
    local path = self.dir .. "/f"
    H.spit(path, "x")
    H.assert_fails("EINVAL", nil, luds.chown(path, "root\0junk", -1))
    H.assert_fails("EINVAL", nil, luds.listen("unix", self.dir .. "/s.sock", { group = "root\0x" }))
    lu.assertEquals(H.ls(self.dir), "f")
  end)
end

function TestLookup:test_ids_out_of_range_raise()
  H.run(function()
    for _, f in ipairs({ luds.lookup_user, luds.lookup_group, luds.user_groups }) do
      for _, id in ipairs({ -1, -2, MAX_ID + 1, 2 ^ 32, math.maxinteger, 1.5 }) do
        H.assert_raises({ "bad argument #1" }, f, id)
      end
      H.assert_raises({ "bad argument #1" }, f)
      H.assert_raises({ "bad argument #1" }, f, {})
    end
  end)
end

luds.exit(T.run())
