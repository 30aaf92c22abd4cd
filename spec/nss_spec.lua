-- User and group lookups off the loop: lookup_user, lookup_group,
-- user_groups, luds.creds, and the owner and group names of listen,
-- listen_packet and chown run on the worker pool when a task calls them,
-- so a slow name service (sssd, LDAP) delays only the task that asked. The
-- slow name service is an LD_PRELOAD shim, compiled here, that makes every
-- getpw*_r, getgr*_r and getgrouplist call take 300 ms.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

local SHIM = [[
#define _GNU_SOURCE
#include <dlfcn.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>
#define SLOW(ret, name, params, args)                                          \
  ret name params {                                                            \
    ret (*real) params = (ret (*) params)dlsym(RTLD_NEXT, #name);              \
    usleep(300000);                                                            \
    return real args;                                                          \
  }
SLOW(int, getpwnam_r, (const char *n, struct passwd *p, char *b, size_t l, struct passwd **r),
     (n, p, b, l, r))
SLOW(int, getpwuid_r, (uid_t u, struct passwd *p, char *b, size_t l, struct passwd **r),
     (u, p, b, l, r))
SLOW(int, getgrnam_r, (const char *n, struct group *g, char *b, size_t l, struct group **r),
     (n, g, b, l, r))
SLOW(int, getgrgid_r, (gid_t i, struct group *g, char *b, size_t l, struct group **r),
     (i, g, b, l, r))
SLOW(int, getgrouplist, (const char *u, gid_t g, gid_t *gs, int *n), (u, g, gs, n))
]]

-- Runs the Lua source in a luds child with the slow shim preloaded (ASan
-- accepts a library ahead of its own with verify_asan_link_order=0);
-- returns stdout, stderr, status.
local function slow_child(self, source)
  local so = self.dir .. "/slow_nss.so"
  H.spit(self.dir .. "/slow_nss.c", SHIM)
  local _, err, status = H.exec(("gcc -shared -fPIC -o %s %s -ldl")
    :format(H.q(so), H.q(self.dir .. "/slow_nss.c")))
  lu.assertEquals(status, 0, "cannot build the shim: " .. err)
  return H.exec_lua(source, 20,
    ("env LD_PRELOAD=%s ASAN_OPTIONS=verify_asan_link_order=0"):format(H.q(so)))
end

local function expect(self, want, source)
  local out, err, status = slow_child(self, source)
  lu.assertEquals(out, want, "stderr: " .. err)
  lu.assertEquals(status, 0, "stderr: " .. err)
  return err
end

local TICKER = H.TICKER .. 'local luds = require "luds"\n'

TestOffLoop = H.suite()

-- Five lookups at once (300 ms each, user_groups two calls): they take
-- 300 ms or more, and the ticker is never late by 100 ms meanwhile (it
-- would be by 300 ms and more if they ran on the loop, as the last part
-- shows: a lookup where no task can wait runs there and then).
function TestOffLoop:test_slow_lookups_do_not_delay_the_loop()
  local err = expect(self, table.concat({ "root root root 0 true", "slow: yes",
    "ticker on time", "sync: ticker late", "" }, "\n"), TICKER .. [[
local creds = require "luds.creds"
local stop = ticker()
local dir = os.tmpname()
os.remove(dir)
local ln = assert(luds.listen("unix", dir))
local conn = assert(luds.dial("unix", dir))
local peer = assert(ln:accept())
local t0 = luds.now()
local jobs = {
  luds.spawn(function() return luds.lookup_user("root").name end),
  luds.spawn(function() return luds.lookup_user(0).name end),
  luds.spawn(function() return luds.lookup_group("root").name end),
  luds.spawn(function() return luds.user_groups("root")[1] end),
  luds.spawn(function() return creds.allow(peer, { users = { "root" }, groups = { "root" } }) end),
}
local got = {}
for i, t in ipairs(jobs) do got[i] = tostring(select(2, t:wait())) end
local took = luds.now() - t0
print(table.concat(got, " "))
print(took >= 0.3 and "slow: yes" or "slow: no")
local late = stop()
print(late < 0.1 and "ticker on time" or ("ticker late by " .. late))
io.stderr:write(("five lookups took %.0f ms, ticker late by %.1f ms at most\n"):format(took * 1000, late * 1000))
stop = ticker()
luds.sleep(0.05)
table.sort({ 2, 1 }, function(a, b) luds.lookup_user("root") return a < b end)
luds.sleep(0.05)
print(stop() >= 0.25 and "sync: ticker late" or "sync: ticker on time")
conn:close() peer:close() ln:close()
]])
  lu.assertStrMatches(err, "five lookups took %d+ ms, ticker late by [%d.]+ ms at most\n")
end

-- A task cancelled while its lookup runs gets nothing delivered; the
-- lookup's answer, when the thread has it, is freed unseen (ASan: no
-- leak); the pool goes on serving.
function TestOffLoop:test_cancel_while_looking_up()
  expect(self, "waiting\ntrue\ncancelled\nroot\nrunning tasks: 1\n", TICKER .. [[
local stop = ticker()
local t = luds.spawn(function() return luds.lookup_group("root") end)
luds.sleep(0.05)
print(t:status())
print(t:cancel())
print(t:status())
print(luds.lookup_user("root").name)
local cancelled = {}
for i = 1, 8 do cancelled[i] = luds.spawn(luds.user_groups, "root") end
luds.sleep(0.01)
for i = 1, 8 do cancelled[i]:cancel() end
stop()
print("running tasks: 1")
]])
end

-- The run ends while cancelled lookups still run in their threads:
-- lua_close waits 100 ms for the workers, then leaves them detached (each
-- frees its job when its call returns); queued jobs are freed at once;
-- nothing leaks, nothing crashes as the process exits under them.
function TestOffLoop:test_end_while_looking_up()
  expect(self, "6 cancelled\n", TICKER .. [[
local stop = ticker()
local tasks = {}
for i = 1, 6 do tasks[i] = luds.spawn(luds.lookup_user, "root") end
luds.sleep(0.05)
local n = 0
for i = 1, 6 do n = n + (tasks[i]:cancel() and 1 or 0) end
stop()
print(n .. " cancelled")
]])
end

-- Owner and group names of listen, listen_packet and chown are looked up on
-- the pool as lookup_user is: three at once (two lookups each, 600 ms) take
-- that long, the ticker stays on time, and each file gets the ids asked
-- for. An unknown name is its exact failure and leaves no file; numeric
-- ids ask NSS nothing (no 300 ms); where no task can wait, the names are
-- looked up there and then, and the ticker is late.
function TestOffLoop:test_listen_and_chown_names_do_not_delay_the_loop()
  local d = self.dir
  local source = TICKER .. [[
local d = DIR
local function mode(path)
  local st = assert(luds.stat(path))
  return ("%s %d %d"):format(st.mode, st.uid, st.gid)
end
local stop = ticker()
local t0 = luds.now()
local f = io.open(d .. "/file", "w") f:close()
assert(luds.chmod(d .. "/file", "0640"))
local jobs = {
  luds.spawn(luds.listen, "unix", d .. "/s.sock", { mode = "0660", owner = "nobody", group = "nogroup" }),
  luds.spawn(luds.listen_packet, "unixgram", d .. "/g.sock", { mode = "0620", group = "nogroup", owner = "root" }),
  luds.spawn(luds.chown, d .. "/file", "nobody", "nogroup"),
}
for _, t in ipairs(jobs) do assert(select(2, t:wait())) end
local took = luds.now() - t0
print(mode(d .. "/s.sock"), mode(d .. "/g.sock"), mode(d .. "/file"))
print(took >= 0.6 and "slow: yes" or ("slow: no, " .. took))
local late = stop()
print(late < 0.1 and "ticker on time" or ("ticker late by " .. late))
stop = ticker()
local fails = {
  luds.spawn(luds.listen, "unix", d .. "/u.sock", { owner = "no-such-user-luds", group = "nogroup" }),
  luds.spawn(luds.listen, "unixpacket", d .. "/p.sock", { owner = "nobody", group = "no-such-group-luds" }),
  luds.spawn(luds.listen_packet, "unixgram", d .. "/q.sock", { group = "no-such-group-luds" }),
  luds.spawn(luds.chown, d .. "/file", "no-such-user-luds", 0),
  luds.spawn(luds.listen, "unix", d .. "/z.sock", { owner = "a\0b", group = "nogroup" }),
}
for _, t in ipairs(fails) do
  local _, v, msg, code = t:wait()
  print(tostring(v), (msg:gsub(d, "D")), code)
end
late = stop()
print(late < 0.1 and "ticker on time" or ("ticker late by " .. late))
t0 = luds.now()
local n = assert(luds.listen("unix", d .. "/n.sock", { owner = 65534, group = 65534, mode = "0600" }))
assert(luds.chown(d .. "/file", 0, -1))
print(mode(d .. "/n.sock"), mode(d .. "/file"), luds.now() - t0 < 0.2 and "numeric: no lookup" or "numeric: looked up")
stop = ticker()
luds.sleep(0.05)
local sync
table.sort({ 2, 1 }, function(a, b)
  sync = sync or assert(luds.listen("unix", d .. "/y.sock", { owner = "nobody", mode = "0600" }))
  return a < b
end)
luds.sleep(0.05)
print(mode(d .. "/y.sock"), stop() >= 0.25 and "sync: ticker late" or "sync: ticker on time")
local ls = io.popen("ls " .. d):read("a"):gsub("\n", " ")
print(ls)
]]
  expect(self, table.concat({
    "0660 65534 65534\t0620 0 65534\t0640 65534 65534", "slow: yes", "ticker on time",
    "nil\tlisten unix D/u.sock: unknown user\tUNKNOWN_USER",
    "nil\tlisten unixpacket D/p.sock: unknown group\tUNKNOWN_GROUP",
    "nil\tlisten unixgram D/q.sock: unknown group\tUNKNOWN_GROUP",
    "nil\tchown D/file: unknown user\tUNKNOWN_USER",
    "nil\tlisten unix D/z.sock: invalid argument\tEINVAL",
    "ticker on time",
    "0600 65534 65534\t0640 0 65534\tnumeric: no lookup",
    "0600 65534 0\tsync: ticker late",
    "file g.sock n.sock s.sock slow_nss.c slow_nss.so y.sock ", "" }, "\n"),
    (source:gsub("DIR", function() return ("%q"):format(d) end)))
end

-- A listen cancelled while its owner is looked up binds nothing: no file
-- appears when the answer comes, no descriptor stays open, and the pool
-- serves the next lookup.
function TestOffLoop:test_listen_cancelled_during_its_lookup()
  local d = self.dir
  expect(self, "true\tcancelled\nfds 0\tslow_nss.c slow_nss.so \nnobody\n", TICKER .. ([[
local d = %q
local function fds() local n = 0 for _ in io.popen("ls /proc/self/fd"):lines() do n = n + 1 end return n end
local before = fds()
local t = luds.spawn(luds.listen, "unix", d .. "/c.sock", { owner = "nobody" })
luds.sleep(0.05)
print(t:cancel(), t:status())
luds.sleep(0.4)
print("fds " .. (fds() - before), (io.popen("ls " .. d):read("a"):gsub("\n", " ")))
print(luds.lookup_user("nobody").name)
]]):format(d))
end

luds.exit(T.run())
