-- Host and service names: luds.resolve, dial, listen and listen_packet with
-- names, looked up on the worker pool (getaddrinfo, so nsswitch.conf decides).
-- Every name this spec looks up is looked up in a child running in a private
-- mount and network namespace (unshare, as root): /etc/hosts, nsswitch.conf,
-- services and resolv.conf are this test's files bind-mounted over the
-- machine's, and only lo exists, so no query can leave the machine and the
-- answers are exact. Numeric addresses and localhost need no lookup at all and
-- are checked in this process.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

local CAN_UNSHARE = select(2, H.sh("unshare --mount --net true 2>/dev/null")) == 0

local HOSTS = [[
127.0.0.9 localhost
::1 ip6-localhost ip6-loopback
127.0.0.2 multi.test
127.0.0.3 multi.test
127.0.0.3 one.test
2001:db8::6 six.test
127.0.0.3 dual.test
2001:db8::3 dual.test
127.0.0.3 both.test
::1 both.test
]]
local SERVICES = "luds-echo 4242/tcp\nluds-gram 4343/udp\n"
local NSS_FILES = "hosts: files\nservices: files\npasswd: files\ngroup: files\n"
-- DNS at 127.0.0.1 (in the namespace): a child that binds udp 127.0.0.1:53
-- decides when, and whether, an answer comes.
local NSS_DNS = "hosts: files dns\nservices: files\npasswd: files\ngroup: files\n"
local RESOLV = "nameserver 127.0.0.1\noptions timeout:5 attempts:1\n"

-- What every child script starts with: luds, and show(...), which prints
-- its values on one line (a list as {a,b}).
local PRELUDE = [[
local luds = require "luds"
local function fmt(v)
  if type(v) == "table" then return "{" .. table.concat(v, ",") .. "}" end
  return tostring(v)
end
function show(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = fmt(t[i]) end
  print(table.concat(t, " | "))
end
]]

-- Runs source (after PRELUDE) with `cmd` (default: this luds) in a fresh
-- namespace with these files as /etc's; returns stdout, stderr, status.
local function in_namespace(self, source, opts)
  if not CAN_UNSHARE then lu.skip("needs unshare --mount --net (root): names are looked up in a private namespace") end
  opts = opts or {}
  local files = { hosts = opts.hosts or HOSTS, ["nsswitch.conf"] = opts.nss or NSS_FILES,
    services = SERVICES, ["resolv.conf"] = RESOLV }
  local mounts = { "ip link set lo up" }
  for name, text in pairs(files) do
    H.spit(self.dir .. "/" .. name, text)
    mounts[#mounts + 1] = ("mount --bind %s /etc/%s"):format(H.q(self.dir .. "/" .. name), name)
  end
  table.sort(mounts)
  H.spit(self.dir .. "/child.lua", PRELUDE .. source)
  local cmd = (opts.cmd or H.q(H.LUDS)) .. " " .. H.q(self.dir .. "/child.lua")
  local sh = table.concat(mounts, " && ") .. " && exec " .. cmd
  return H.exec("unshare --mount --net sh -c " .. H.q(sh))
end

-- in_namespace, which must exit 0 and print exactly `want`.
local function expect(self, want, source, opts)
  local out, err, status = in_namespace(self, source, opts)
  lu.assertEquals(out, want, "stderr: " .. err)
  lu.assertEquals(status, 0, "stderr: " .. err)
  return err
end

TestNoLookup = H.suite()

-- localhost is the loopback address (RFC 6761), never a question to the
-- name service; numeric addresses are taken as they are.
function TestNoLookup:test_localhost_and_numbers()
  H.run(function()
    lu.assertEquals(luds.resolve("localhost"), { "127.0.0.1", "::1" })
    lu.assertEquals(luds.resolve("LocalHost."), { "127.0.0.1", "::1" })
    lu.assertEquals(luds.resolve("localhost", "tcp4"), { "127.0.0.1" })
    lu.assertEquals(luds.resolve("localhost:80", "udp6"), { "[::1]:80" })
    lu.assertEquals(luds.resolve("localhost:"), { "127.0.0.1:0", "[::1]:0" })
    lu.assertEquals(luds.resolve("127.0.0.1"), { "127.0.0.1" })
    lu.assertEquals(luds.resolve("::1"), { "::1" })
    lu.assertEquals(luds.resolve("[::1]"), { "::1" })
    lu.assertEquals(luds.resolve("[::1]:8080"), { "[::1]:8080" })
    lu.assertEquals(luds.resolve("1.2.3.4:0", "udp4"), { "1.2.3.4:0" })
    lu.assertEquals(luds.resolve(":80"), { "0.0.0.0:80" })
  end)
end

function TestNoLookup:test_bad_input()
  H.run(function()
    local host = "invalid host (want a host name or a numeric address)"
    local family = "no suitable address found (not of the network's IP version)"
    H.assert_fails("EINVAL", "resolve 127.0.0.1: " .. family, luds.resolve("127.0.0.1", "tcp6"))
    H.assert_fails("EINVAL", "resolve [::1]:80: " .. family, luds.resolve("[::1]:80", "udp4"))
    H.assert_fails("EINVAL", "resolve: " .. host, luds.resolve(""))
    H.assert_fails("EINVAL", "resolve a\\0b: " .. host, luds.resolve("a\0b"))
    H.assert_fails("EINVAL", "resolve -x-: " .. host, luds.resolve("-x-"))
    H.assert_fails("EINVAL", "resolve 1234: " .. host, luds.resolve("1234"))
    H.assert_fails("EINVAL", "resolve " .. ("a"):rep(300) .. ": " .. host,
      luds.resolve(("a"):rep(300)))
    H.assert_fails("EINVAL", "resolve localhost:99999: invalid port (want 0 to 65535)",
      luds.resolve("localhost:99999"))
    H.assert_fails("EINVAL", "resolve localhost:8x: invalid port (want 0 to 65535)",
      luds.resolve("localhost:8x"))
    H.assert_raises({ "bad argument #2 to 'luds.resolve'", "unix is not an IP network" },
      luds.resolve, "x", "unix")
    H.assert_raises({ "bad argument #2 to 'luds.resolve'", "unknown network 'tcp5'" },
      luds.resolve, "x", "tcp5")
    H.assert_raises({ "bad argument #1 to 'luds.resolve'" }, luds.resolve, nil)
    H.assert_raises({ "bad argument #3 to 'luds.resolve'" }, luds.resolve, "localhost", "tcp", "soon")
  end)
end

-- Where only numbers go (a datagram's destination, dial's local_address),
-- a name is refused, not looked up.
function TestNoLookup:test_names_where_only_numbers_go()
  H.run(function()
    local why = "host and service names are looked up by dial, listen and luds.resolve "
      .. "(want a numeric address and port)"
    local pc <close> = assert(luds.listen_packet("udp4", "127.0.0.1:0"))
    H.assert_fails("EINVAL", "write_to udp4 db.test:53: " .. why, pc:write_to("x", "db.test:53"))
    H.assert_fails("EINVAL", "write_to udp4 localhost:53: " .. why, pc:write_to("x", "localhost:53"))
    H.assert_fails("EINVAL", "dial tcp 127.0.0.1:1: " .. why,
      luds.dial("tcp", "127.0.0.1:1", { local_address = "localhost:0" }))
  end)
end

function TestNoLookup:test_listen_and_dial_localhost()
  H.run(function()
    local ln <close> = assert(luds.listen("tcp", "localhost:0"))
    local port = ln:addr():match("^127%.0%.0%.1:(%d+)$")
    lu.assertNotNil(port, ln:addr())
    local c <close> = assert(luds.dial("tcp4", "localhost:" .. port))
    lu.assertEquals(c:remote_addr(), "127.0.0.1:" .. port)
    local pc <close> = assert(luds.listen_packet("udp6", "localhost:0"))
    lu.assertStrMatches(pc:local_addr(), "%[::1%]:%d+")
  end)
end

TestNames = H.suite()

-- As glibc answers from /etc/hosts: in order, of the family asked for
-- (except that it gives 127.0.0.1 for a ::1 line when asked for IPv4: so it
-- does for every program on the machine).
function TestNames:test_resolve_from_hosts_file()
  expect(self, table.concat({
    "{::1}", "{::1}", "{127.0.0.1}",
    "{127.0.0.2,127.0.0.3}", "{127.0.0.3}", "{2001:db8::3}", "{127.0.0.3,2001:db8::3}",
    "{127.0.0.1,::1}", -- localhost: the files say 127.0.0.9, RFC 6761 says loopback
    "nil | resolve six.test: no such host | ENOTFOUND",
    "nil | resolve nosuch.test: no such host | ENOTFOUND",
    "nil | resolve nosuch.test:80: no such host | ENOTFOUND",
    "{127.0.0.2:80,127.0.0.3:80}", "{[2001:db8::6]:80}", "" }, "\n"), [[
show(luds.resolve("ip6-localhost"))
show(luds.resolve("IP6-LOOPBACK", "udp6"))
show(luds.resolve("ip6-localhost", "tcp4"))
show(luds.resolve("multi.test"))
show(luds.resolve("dual.test", "tcp4"))
show(luds.resolve("dual.test", "tcp6"))
local both = luds.resolve("dual.test")
table.sort(both)
show(both)
show(luds.resolve("localhost"))
show(luds.resolve("six.test", "udp4"))
show(luds.resolve("nosuch.test"))
show(luds.resolve("nosuch.test:80"))
show(luds.resolve("multi.test:80"))
show(luds.resolve("six.test:80"))
]])
end

function TestNames:test_service_names()
  expect(self, table.concat({
    "{127.0.0.3:4242}", "{127.0.0.3:4343}",
    "nil | resolve one.test:luds-gram: unknown port | UNKNOWN_PORT",
    "{[::1]:4242}", "127.0.0.3:4242", "127.0.0.1:4242", "127.0.0.3:4343",
    "127.0.0.1:4242", "nil | dial tcp one.test:nope: unknown port | UNKNOWN_PORT", "" }, "\n"), [[
show(luds.resolve("one.test:luds-echo"))
show(luds.resolve("one.test:luds-gram", "udp"))
show(luds.resolve("one.test:luds-gram"))
show(luds.resolve("[::1]:luds-echo"))
local a = assert(luds.listen("tcp", "one.test:luds-echo"))
show(a:addr())
local b = assert(luds.listen("tcp", "localhost:luds-echo"))
show(b:addr())
show(assert(luds.listen_packet("udp", "one.test:luds-gram")):local_addr())
show(assert(luds.dial("tcp", "127.0.0.1:luds-echo")):remote_addr())
show(luds.dial("tcp", "one.test:nope"))
]])
end

function TestNames:test_unknown_host_everywhere()
  expect(self, table.concat({
    "nil | dial tcp nosuch.test:80: no such host | ENOTFOUND",
    "nil | dial udp6 nosuch.test:80: no such host | ENOTFOUND",
    "nil | listen tcp4 nosuch.test:0: no such host | ENOTFOUND",
    "nil | listen udp nosuch.test:0: no such host | ENOTFOUND",
    "nil | dial tcp4 six.test:80: no such host | ENOTFOUND", "" }, "\n"), [[
show(luds.dial("tcp", "nosuch.test:80"))
show(luds.dial("udp6", "nosuch.test:80"))
show(luds.listen("tcp4", "nosuch.test:0"))
show(luds.listen_packet("udp", "nosuch.test:0"))
show(luds.dial("tcp4", "six.test:80"))
]])
end

-- listen binds the first IPv4 address a name has, as Go does (both.test
-- resolves to ::1 first); tcp6 the first IPv6 one.
function TestNames:test_listen_binds_first_ipv4()
  expect(self, "127.0.0.3\n::1\n127.0.0.3\n", [[
print((assert(luds.listen("tcp", "both.test:0")):addr():match("^(.*):%d+$")))
print((assert(luds.listen("tcp6", "both.test:0")):addr():match("^%[(.*)%]:%d+$")))
print((assert(luds.listen_packet("udp", "both.test:0")):local_addr():match("^(.*):%d+$")))
]])
end

-- multi.test is 127.0.0.2 (nothing listens: refused) then 127.0.0.3: dial
-- tries them in order; when all refuse, the first failure is reported.
-- localhost is 127.0.0.1 then ::1: a server on ::1 alone is reached. A udp
-- dial takes the first address: nothing refuses a datagram socket's connect.
function TestNames:test_dial_tries_every_address()
  expect(self, table.concat({ "127.0.0.3:PORT", "hello", "[::1]:PORT6", "127.0.0.2:PORT",
    "nil | dial tcp multi.test:1: connection refused | ECONNREFUSED", "true", "" }, "\n"), [[
local ln = assert(luds.listen("tcp", "127.0.0.3:0"))
local port = ln:addr():match(":(%d+)$")
local server = luds.spawn(function() local c = ln:accept() c:write("hello") c:close() end)
local c = assert(luds.dial("tcp", "multi.test:" .. port))
print((c:remote_addr():gsub(port, "PORT")))
print(c:read())
local ln6 = assert(luds.listen("tcp6", "[::1]:0"))
local port6 = ln6:addr():match(":(%d+)$")
print((assert(luds.dial("tcp", "localhost:" .. port6)):remote_addr():gsub(port6, "PORT6")))
local pc = assert(luds.listen_packet("udp", "127.0.0.3:0"))
local uport = pc:local_addr():match(":(%d+)$")
print((assert(luds.dial("udp", "multi.test:" .. uport)):remote_addr():gsub(uport, "PORT")))
show(luds.dial("tcp", "multi.test:1"))
print(server:wait())
]])
end

-- Each address gets its share of the one timeout (Go's partialDeadline: the
-- time left over the addresses left, at least 2 s): 127.0.0.2 answers no
-- SYN (its accept queue is full), so with 3 s the dial moves on to
-- 127.0.0.3 after 2 s; with 1 s the first address takes it all.
function TestNames:test_timeout_is_shared_between_addresses()
  expect(self, table.concat({ "full", "127.0.0.3:PORT", "nil | dial tcp multi.test:PORT: i/o timeout | TIMEOUT",
    "" }, "\n"), [[
local full = assert(luds.listen("tcp", "127.0.0.2:0", { backlog = 0 }))
local port = full:addr():match(":(%d+)$")
local held = {}
for _ = 1, 20 do
  local c = luds.dial("tcp", full:addr(), { timeout = 0.3 })
  if not c then print("full") break end
  held[#held + 1] = c
end
local ln = assert(luds.listen("tcp", "127.0.0.3:" .. port))
local c = assert(luds.dial("tcp", "multi.test:" .. port, { timeout = 3 }))
print((c:remote_addr():gsub(port, "PORT")))
local _, msg, code = luds.dial("tcp", "multi.test:" .. port, { timeout = 1 })
show(nil, (msg:gsub(port, "PORT")), code)
]])
end

-- Numbers and localhost never start a thread; a name (or a service name)
-- starts the pool, whose threads are 4 at most.
function TestNames:test_no_thread_without_a_lookup()
  expect(self, "1\n2\nat most 5\n", [[
local function threads()
  return tonumber(io.open("/proc/self/status"):read("a"):match("Threads:%s*(%d+)"))
end
luds.resolve("127.0.0.1:80")
luds.resolve("localhost")
luds.dial("tcp", "localhost:1")
assert(luds.listen("tcp", "localhost:0"))
print(threads())
assert(luds.resolve("[::1]:luds-echo"))
assert(luds.resolve("one.test"))
print(threads())
local tasks = {}
for i = 1, 50 do tasks[i] = luds.spawn(luds.resolve, "multi.test") end
for i = 1, 50 do assert(tasks[i]:wait()) end
print(threads() <= 5 and "at most 5" or threads())
]])
end

-- Outside a task (a stock lua5.4 before luds.run) there is nothing to
-- suspend: names are looked up there and then.
function TestNames:test_stock_lua_outside_run_looks_up_at_once()
  local cpath = H.ROOT .. "/build/?.so"
  expect(self, "{127.0.0.2,127.0.0.3}\nnil | dial tcp nosuch.test:1: no such host | ENOTFOUND\n"
    .. "{127.0.0.3}\n", [[
show(luds.resolve("multi.test"))
show(luds.dial("tcp", "nosuch.test:1"))
print(select(2, luds.run(function() return "{" .. luds.resolve("one.test")[1] .. "}" end)))
]], { cmd = "env LUA_CPATH=" .. H.q(cpath .. ";;") .. " lua5.4" })
end

-- The loop keeps running while names are looked up: a 10 ms ticker is never
-- late by 150 ms during 1,000 lookups in flight (it would be by the whole
-- run if they blocked it).
function TestNames:test_ticker_runs_during_1000_lookups()
  local out = expect(self, "1000 {127.0.0.2,127.0.0.3}\nticker on time\n", H.TICKER .. [[
local stop = ticker()
local tasks, same = {}, 0
for i = 1, 1000 do tasks[i] = luds.spawn(luds.resolve, "multi.test") end
for i = 1, 1000 do
  local _, list = tasks[i]:wait()
  if table.concat(list, ",") == "127.0.0.2,127.0.0.3" then same = same + 1 end
end
local worst = stop()
print(same .. " {127.0.0.2,127.0.0.3}")
print(worst < 0.15 and "ticker on time" or ("ticker late by " .. worst))
io.stderr:write(("worst lateness %.1f ms\n"):format(worst * 1000))
]])
  lu.assertStrMatches(out, "worst lateness [%d.]+ ms\n")
end

-- A DNS server at 127.0.0.1 that answers each query only when told to:
-- query() waits for the next query, answer() sends NXDOMAIN for every
-- query seen so far (glibc asks A and AAAA together).
local SLOW_DNS = [[
local dns = assert(luds.listen_packet("udp4", "127.0.0.1:53"))
local seen = {}
local function query(timeout)
  dns:set_read_deadline(luds.now() + (timeout or 5))
  local q, from = dns:read_from()
  if q then seen[#seen + 1] = { q, from } end
  return q
end
local function answer()
  for _, s in ipairs(seen) do
    local q, from = s[1], s[2]
    local flags = string.char(0x80 | (q:byte(3) & 0x79), 0x83) -- QR, RD kept; RA, NXDOMAIN
    dns:write_to(q:sub(1, 2) .. flags .. q:sub(5), from)
  end
  seen = {}
end
-- Answers every query that comes from now on; returns what stops it.
local function answer_all()
  local t = luds.spawn(function()
    while dns:fd() >= 0 do
      if query(30) then answer() end
    end
  end)
  return function() dns:close() t:wait() end
end
]]

-- A lookup still waiting for DNS when dial's timeout passes: dial returns
-- TIMEOUT at its deadline (not after the resolver's 5 s), and the answer
-- that comes later is freed unseen (the ASan run checks nothing leaks).
function TestNames:test_deadline_passes_while_the_lookup_waits()
  expect(self, table.concat({ "nil | dial tcp slow.test:80: i/o timeout | TIMEOUT", "on time",
    "query seen", "nil | resolve slow.test: no such host | ENOTFOUND",
    "nil | resolve slow.test: i/o timeout | TIMEOUT", "" }, "\n"), SLOW_DNS .. [[
local t0 = luds.now()
show(luds.dial("tcp", "slow.test:80", { timeout = 0.2 }))
print(luds.now() - t0 < 2 and "on time" or "late")
print(query() and "query seen" or "no query")
luds.sleep(0.05)
answer() -- the late answer: to a job nobody waits for
local stop = answer_all()
show(luds.resolve("slow.test")) -- the pool still answers
show(luds.resolve("slow.test", "tcp", 0))
stop()
]], { nss = NSS_DNS })
end

-- A task cancelled while its lookup waits: nothing is delivered to it, its
-- <close> variables run, and later lookups work.
function TestNames:test_cancel_during_lookup()
  expect(self, table.concat({ "waiting", "closed", "true", "cancelled", "query seen",
    "nil | resolve slow.test: no such host | ENOTFOUND", "" }, "\n"), SLOW_DNS .. [[
local t = luds.spawn(function()
  local guard <close> = setmetatable({}, { __close = function() print("closed") end })
  return luds.lookup_user("root"), luds.resolve("slow.test")
end)
for _ = 1, 500 do
  if t:status() == "waiting" and query(0.01) then break end
  luds.sleep(0.01)
end
print(t:status())
print(t:cancel())
print(t:status())
print("query seen")
luds.sleep(0.05)
answer()
local stop = answer_all()
show(luds.resolve("slow.test"))
stop()
]], { nss = NSS_DNS })
end
-- The run ends while a lookup still waits for a DNS server that never
-- answers: lua_close waits 0.1 s for the worker, then leaves it detached
-- rather than for the resolver's 5 s (the ASan run: nothing leaks, no
-- crash as the process exits under the thread).
function TestNames:test_close_with_a_lookup_stuck()
  local t0 = luds.now()
  expect(self, "nil | dial tcp slow.test:80: i/o timeout | TIMEOUT\nquery seen\n", SLOW_DNS .. [[
show(luds.dial("tcp", "slow.test:80", { timeout = 0.1 }))
print(query() and "query seen" or "no query")
]], { nss = NSS_DNS })
  lu.assertTrue(luds.now() - t0 < 4, "the run waited for the stuck lookup")
end

luds.exit(T.run())
