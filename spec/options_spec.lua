-- Options tables (issue 13 item 10): an unknown key raises, naming it and the
-- keys the function accepts, so that a typo such as `mdoe` never leaves a
-- socket with the default mode; keys that are not strings raise too.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local creds = require "luds.creds"
local H = require "helper"
local T = require "luds.test"

local ACCEPTED = {
  listen = "backlog, group, mode, owner, proxy, proxy_timeout, remove_stale, reuseport",
  listen_packet = "group, mode, owner, passcred, remove_stale, reuseport, unlink_on_close",
  dial = "local_address, timeout",
}

-- Asserts that f(...) raises exactly the message of fname's argument 3.
local function assert_rejects(fname, what, f, ...)
  local ok, err = pcall(f, ...)
  lu.assertFalse(ok, fname .. " accepted an options table with " .. what)
  lu.assertEquals(err, ("bad argument #3 to '%s' (%s; accepted: %s)")
    :format(fname, what, ACCEPTED[fname]))
end

local function unknown(key) return ("unknown option '%s'"):format(key) end

TestUnknownOptions = H.suite()

-- The defect itself: the typo made a 0755 socket (umask 022); now there is
-- none at all.
function TestUnknownOptions:test_mdoe_never_creates_a_socket_file()
  for _, net in ipairs({ "unix", "unixpacket" }) do
    local path = self.dir .. "/" .. net .. ".sock"
    assert_rejects("listen", unknown("mdoe"), luds.listen, net, path, { mdoe = "0600" })
    lu.assertFalse(H.exists(path))
  end
  local path = self.dir .. "/gram.sock"
  assert_rejects("listen_packet", unknown("mdoe"), luds.listen_packet, "unixgram", path,
    { mdoe = "0600" })
  lu.assertFalse(H.exists(path))
end

-- A typo among valid options raises just the same, and nothing is created.
function TestUnknownOptions:test_one_typo_among_valid_options()
  local path = self.dir .. "/x.sock"
  assert_rejects("listen", unknown("remove_stal"), luds.listen, "unix", path,
    { mode = "0600", remove_stal = true })
  lu.assertFalse(H.exists(path))
end

-- Options of other functions are unknown to this one.
function TestUnknownOptions:test_options_of_other_functions()
  local path = self.dir .. "/x.sock"
  for _, key in ipairs({ "passcred", "unlink_on_close", "timeout", "local_address" }) do
    assert_rejects("listen", unknown(key), luds.listen, "unix", path, { [key] = true })
    assert_rejects("listen", unknown(key), luds.listen, "tcp", "127.0.0.1:0", { [key] = true })
  end
  for _, key in ipairs({ "backlog", "timeout", "local_address" }) do
    assert_rejects("listen_packet", unknown(key), luds.listen_packet, "unixgram", path,
      { [key] = 1 })
    assert_rejects("listen_packet", unknown(key), luds.listen_packet, "udp", "127.0.0.1:0",
      { [key] = 1 })
  end
  lu.assertFalse(H.exists(path))
  for _, key in ipairs({ "mode", "owner", "group", "backlog", "remove_stale", "passcred",
    "unlink_on_close", "timout" }) do
    assert_rejects("dial", unknown(key), luds.dial, "unix", path, { [key] = 1 })
    assert_rejects("dial", unknown(key), luds.dial, "unixgram", path, { [key] = 1 })
  end
end

function TestUnknownOptions:test_keys_that_are_not_strings()
  local path = self.dir .. "/x.sock"
  local cases = {
    { { 1 }, "number" }, { { [true] = 1 }, "boolean" }, { { [1.5] = true }, "number" },
    { { [{}] = 1 }, "table" }, { { [print] = 1 }, "function" },
  }
  for _, c in ipairs(cases) do
    local what = "option names must be strings, not " .. c[2]
    assert_rejects("listen", what, luds.listen, "unix", path, c[1])
    assert_rejects("listen_packet", what, luds.listen_packet, "unixgram", path, c[1])
    assert_rejects("dial", what, luds.dial, "unix", path, c[1])
  end
  lu.assertFalse(H.exists(path))
end

-- A key with a NUL byte is not the option it starts with; the message shows
-- the NUL as \0.
function TestUnknownOptions:test_key_with_a_nul_byte()
  local path = self.dir .. "/x.sock"
  assert_rejects("listen", [[unknown option 'mode\0x']], luds.listen, "unix", path,
    { ["mode\0x"] = "0600" })
  lu.assertFalse(H.exists(path))
end

-- Before the socket exists, as for every other misuse: no fd is left behind.
function TestUnknownOptions:test_raises_before_any_descriptor()
  local before = H.fd_count()
  for _ = 1, 20 do
    pcall(luds.listen, "unix", self.dir .. "/x.sock", { mdoe = 1 })
    pcall(luds.dial, "tcp", "127.0.0.1:1", { mdoe = 1 })
  end
  lu.assertEquals(H.fd_count(), before)
end

-- luds.select's options are checked the same way: a misspelt `timout`
-- used to leave a select waiting forever instead of for its timeout.
function TestUnknownOptions:test_select_options()
  local ch = luds.channel(1)
  for _, c in ipairs({
    { { timout = 0.01 }, unknown("timout") },
    { { default = true, defualt = true }, unknown("defualt") },
    { { true }, "option names must be strings, not number" },
  }) do
    local ok, err = pcall(luds.select, { { "recv", ch } }, c[1])
    lu.assertFalse(ok)
    lu.assertEquals(err,
      ("bad argument #2 to 'select' (%s; accepted: default, timeout)"):format(c[2]))
  end
  lu.assertEquals({ luds.select({ { "recv", ch } }, { default = true, timeout = 1 }) }, { 0 })
end

TestValidOptions = H.suite()

-- Every accepted option together still works.
function TestValidOptions:test_listen()
  local uid = tonumber((H.sh("id -u")))
  local gid = tonumber((H.sh("id -g")))
  local path = self.dir .. "/ln.sock"
  local ln <close> = assert(luds.listen("unix", path,
    { backlog = 8, group = gid, mode = "0600", owner = uid, remove_stale = true }))
  lu.assertEquals(luds.stat(path).mode, "0600")
  local tcp <close> = assert(luds.listen("tcp", "127.0.0.1:0", { backlog = 8 }))
end

function TestValidOptions:test_listen_packet()
  local path = self.dir .. "/pc.sock"
  local pc = assert(luds.listen_packet("unixgram", path,
    { mode = "0640", passcred = true, remove_stale = true, unlink_on_close = true }))
  lu.assertEquals(luds.stat(path).mode, "0640")
  pc:close()
  lu.assertFalse(H.exists(path))
end

function TestValidOptions:test_dial()
  H.run(function()
    local ln <close> = assert(luds.listen("unix", self.dir .. "/ln.sock"))
    local c <close> = assert(luds.dial("unix", ln:addr(), { timeout = 1 }))
    local gram <close> = assert(luds.listen_packet("unixgram", self.dir .. "/g.sock"))
    local d <close> = assert(luds.dial("unixgram", gram:local_addr(),
      { local_address = self.dir .. "/me.sock", timeout = 0 }))
    lu.assertEquals(d:local_addr(), self.dir .. "/me.sock")
  end)
end

-- Only the table's own keys count: values an __index supplies are read as
-- before (the fuzzer's hostile tables rely on it).
function TestValidOptions:test_inherited_options_are_read()
  local path = self.dir .. "/ln.sock"
  local opts = setmetatable({}, { __index = { mode = "0600" } })
  local ln <close> = assert(luds.listen("unix", path, opts))
  lu.assertEquals(luds.stat(path).mode, "0600")
end

TestCredsPolicy = H.suite()

-- A misspelt policy key used to admit or refuse by a policy nobody wrote.
function TestCredsPolicy:test_unknown_policy_key_raises()
  local client, server, ln = H.pair(self.dir)
  for _, c in ipairs({
    { { group = { "root" } }, "unknown policy key 'group'" },
    { { users = { 0 }, gropus = { 0 } }, "unknown policy key 'gropus'" },
    { { "root" }, "policy keys must be strings, not number" },
  }) do
    local ok, err = pcall(creds.allow, server, c[1])
    lu.assertFalse(ok)
    lu.assertStrContains(err, "creds.allow: " .. c[2] .. "; accepted: groups, users")
  end
  lu.assertEquals({ creds.allow(server, { users = { tonumber((H.sh("id -u"))) } }) }, { true })
  client:close()
  server:close()
  ln:close()
end

luds.exit(T.run())
