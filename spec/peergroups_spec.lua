-- conn:peer_groups() (SO_PEERGROUPS) and creds.allow deciding from what the
-- kernel recorded at connect: the peer's uid, its gid and the supplementary
-- groups it held, the same facts the socket file's mode was checked against.
-- Clients run under setpriv(1) with the ids and groups given, so the
-- spec runs as root; creds.allow is shown against a group database that says
-- otherwise, bind-mounted in a private mount namespace.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

local ROOT = tonumber((H.sh("id -u"))) == 0
local CAN_UNSHARE = select(2, H.sh("unshare --mount --net true 2>/dev/null")) == 0

-- A client: connects to arg[1], then waits for the server to close.
local CLIENT = [[local c = assert(require("luds").dial("unix", arg[1])) c:read()]]

local function client_cmd(ids, path)
  return ("setpriv %s %s -e %s -e %s"):format(ids, H.q(H.LUDS), H.q(H.arg_chunk(path)), H.q(CLIENT))
end

local function needs_root()
  if not ROOT then lu.skip("needs root: clients run under setpriv with other ids") end
end

-- A listener anyone may connect to, in a directory anyone may search.
local function open_listener(self)
  assert(os.execute("chmod 0755 " .. H.q(self.dir)))
  self.path = self.dir .. "/pg.sock"
  self.ln = assert(luds.listen("unix", self.path, { mode = "0777" }))
end

-- The conn of a client started with setpriv `ids`.
local function accept_from(self, ids)
  local p = H.start(client_cmd(ids, self.path))
  self.ln:set_deadline(luds.now() + 5)
  local conn, err = self.ln:accept()
  lu.assertNotNil(conn, ("accept: %s; client's stderr: %s"):format(err, p:stderr()))
  return conn, p
end

local function groups_of(self, ids)
  local conn, p = accept_from(self, ids)
  local groups = conn:peer_groups()
  local cred = conn:peer_cred()
  conn:close()
  lu.assertEquals(H.wait_exit(p), 0)
  return groups, cred
end

TestPeerGroups = H.suite()

function TestPeerGroups:test_groups_the_client_held()
  needs_root()
  H.run(function()
    open_listener(self)
    local groups, cred = groups_of(self, "--reuid=12345 --regid=12345 --groups=4242,4343")
    lu.assertEquals(groups, { 4242, 4343 })
    lu.assertEquals({ cred.uid, cred.gid }, { 12345, 12345 })
    lu.assertEquals(groups_of(self, "--reuid=12345 --regid=54321 --clear-groups"), {})
    -- more groups than the first try has room for: the kernel says how many
    local many = {}
    for g = 1, 300 do many[g] = 10000 + g end
    lu.assertEquals(groups_of(self, "--reuid=12345 --regid=12345 --groups=" .. table.concat(many, ",")),
      many)
  end, 15)
end

-- A dialed conn sees the groups the listening process held when it listened.
function TestPeerGroups:test_dialed_conn_sees_the_listeners_groups()
  needs_root()
  H.run(function()
    local path = self.dir .. "/srv.sock"
    -- it serves until TERM: H.wait_socket's own probe is a conn too
    local server = [[local ln = assert(require("luds").listen("unix", arg[1]))
      while true do ln:accept():read() end]]
    local p = H.start(("setpriv --reuid=0 --regid=0 --groups=777,778 %s -e %s -e %s")
      :format(H.q(H.LUDS), H.q(H.arg_chunk(path)), H.q(server)))
    H.wait_socket(path)
    local conn = assert(luds.dial("unix", path))
    lu.assertEquals(conn:peer_groups(), { 777, 778 })
    conn:close()
    lu.assertEquals(H.stop(p, "TERM"), 143)
  end)
end

function TestPeerGroups:test_errors()
  H.run(function()
    local client, server, ln, path = H.pair(self.dir)
    lu.assertEquals(server:peer_groups(), client:peer_groups())
    client:close()
    H.assert_fails("CLOSED", "peer_groups unix: use of closed connection", client:peer_groups())
    local gpath = self.dir .. "/g.sock"
    local pc <close> = assert(luds.listen_packet("unixgram", gpath))
    local gram <close> = assert(luds.dial("unixgram", gpath))
    H.assert_fails("EOPNOTSUPP", "peer_groups unixgram " .. gpath .. ": operation not supported",
      gram:peer_groups())
    local tln <close> = assert(luds.listen("tcp", "127.0.0.1:0"))
    local tcp <close> = assert(luds.dial("tcp", tln:addr()))
    H.assert_fails("EOPNOTSUPP", "peer_groups tcp " .. tln:addr() .. ": operation not supported",
      tcp:peer_groups())
    local sp <close> = assert(luds.listen("unixpacket", self.dir .. "/p.sock"))
    local pconn <close> = assert(luds.dial("unixpacket", self.dir .. "/p.sock"))
    lu.assertIsTable(pconn:peer_groups())
    server:close()
    ln:close()
    lu.assertNotNil(path)
  end)
end

-- The group database of the namespace says alice (12345) is in staff
-- (4242) and not in ops (4343). creds.allow goes by what her process held.
local PASSWD = "root:x:0:0:root:/root:/bin/sh\nalice:x:12345:12345::/:/bin/sh\n"
local GROUP = "root:x:0:\nstaff:x:4242:alice\nops:x:4343:\nalice:x:12345:\n"

local SERVER = [[
local luds = require "luds"
local creds = require "luds.creds"
local path, luds_bin, client = arg[1], arg[2], arg[3]
local ln = assert(luds.listen("unix", path, { mode = "0777" }))
local function allow(ids, policy)
  os.execute(("setpriv %s %s -e 'arg = { %q }' -e '%s' &"):format(ids, luds_bin, path, client))
  ln:set_deadline(luds.now() + 5)
  local c = assert(ln:accept())
  local ok, why = creds.allow(c, policy)
  c:close()
  print(tostring(ok) .. (why and " | " .. why or ""))
end
local ALICE = "--reuid=12345 --regid=12345 "
allow(ALICE .. "--clear-groups", { groups = { "staff" } })  -- listed, dropped: refused
allow(ALICE .. "--groups=4242", { groups = { "staff" } })   -- held: admitted
allow(ALICE .. "--groups=4343", { groups = { "ops" } })     -- held, not listed: admitted
allow("--reuid=12345 --regid=4242 --clear-groups", { groups = { 4242 } }) -- the gid counts
allow(ALICE .. "--clear-groups", { users = { "alice" } })
allow(ALICE .. "--clear-groups", { groups = { "ops", 4242 }, users = { "root" } })
local many = {}
for g = 1, 200 do many[g] = 20000 + g end
many[#many + 1] = 4343
allow(ALICE .. "--groups=" .. table.concat(many, ","), { groups = { "ops" } })
]]

TestCredsKernelView = H.suite()

function TestCredsKernelView:test_held_groups_decide()
  needs_root()
  if not CAN_UNSHARE then lu.skip("needs unshare --mount: a group database of its own") end
  assert(os.execute("chmod 0755 " .. H.q(self.dir)))
  H.spit(self.dir .. "/passwd", PASSWD)
  H.spit(self.dir .. "/group", GROUP)
  H.spit(self.dir .. "/server.lua", SERVER)
  local sh = ("mount --bind %s /etc/passwd && mount --bind %s /etc/group && exec %s %s %s %s %s")
    :format(H.q(self.dir .. "/passwd"), H.q(self.dir .. "/group"), H.q(H.LUDS),
      H.q(self.dir .. "/server.lua"), H.q(self.dir .. "/s.sock"), H.q(H.LUDS), H.q(CLIENT))
  local out, err, status = H.exec("unshare --mount sh -c " .. H.q(sh))
  lu.assertEquals(out, table.concat({
    "false | uid 12345 is not in an allowed group", "true", "true", "true", "true",
    "false | uid 12345 is neither an allowed user nor in an allowed group", "true", "" }, "\n"),
    "stderr: " .. err)
  lu.assertEquals(status, 0, "stderr: " .. err)
end

luds.exit(T.run())
