-- Workers (issue 15): luds.workers runs N worker processes over listeners
-- the supervisor creates once. Each test writes its server script into its
-- temp dir and runs it with H.start; the workers answer a line with
-- "VERSION index count generation supervisor pid", so a client can tell
-- who served it. Waits are bounded polls; pids come from the answers.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

-- The start of every server script: its socket path is arg[1].
local PRELUDE = [[
local luds = require "luds"
io.stdout:setvbuf("line")
local path = arg[1]
local function pid()
  local f <close> = assert(io.open("/proc/self/stat"))
  return tonumber(f:read("a"):match("^(%d+)"))
end
local function reply(c, version)
  local w = luds.worker()
  return c:write(("%s %d %d %d %d %d\n"):format(version, w.index, w.count, w.generation,
    w.supervisor, pid()))
end
local function listen() return { assert(luds.listen("unix", path)) } end
]]

-- A script that serves every conn with reply(VERSION) over n workers.
local function serving(version, n, extra)
  return PRELUDE .. ([[
luds.workers{ n = %d, drain = 5, listen = listen,
  serve = function(c) if c:read_line() then reply(c, %q) end end }
]]):format(n, version) .. (extra or "")
end

local function write_script(dir, text)
  local tmp, path = dir .. "/server.lua.new", dir .. "/server.lua"
  H.spit(tmp, text)
  assert(os.rename(tmp, path)) -- whole or not at all, for a worker starting meanwhile
  return path
end

local function start(dir, text, env)
  local script, sock = write_script(dir, text), dir .. "/s.sock"
  local p = H.start(("env %s %s %s %s"):format(env or "", H.q(H.LUDS), H.q(script), H.q(sock)))
  p.sock = sock
  return p
end

-- One request: the answer as { version, index, count, generation,
-- supervisor, pid }, or nil, msg, code.
local function ask(sock, timeout)
  local c, err, code = luds.dial("unix", sock)
  if not c then return nil, err, code end
  c:set_deadline(luds.now() + (timeout or 5))
  local ok, werr, wcode = c:write("hi\n")
  local line, rerr, rcode = c:read_line()
  c:close()
  if not ok then return nil, werr, wcode end
  if not line then return nil, rerr, rcode end
  local f = {}
  for word in line:gmatch("%S+") do f[#f + 1] = tonumber(word) or word end
  return { version = f[1], index = f[2], count = f[3], generation = f[4], supervisor = f[5],
           pid = f[6] }
end

local function ask_ok(sock)
  return H.wait_for("an answer at " .. sock, function() return (ask(sock)) end)
end

-- Asks until every index 1..n has answered (at most 5,000 asks within 20 s:
-- an awake worker may win the exclusive wake-up many times running under
-- load); pids by index.
local function all_workers(sock, n)
  local pids, seen = {}, 0
  local deadline = luds.now() + 20
  for _ = 1, 5000 do
    if luds.now() > deadline then break end
    local a = ask_ok(sock)
    if not pids[a.index] then pids[a.index], seen = a.pid, seen + 1 end
    if seen == n then return pids end
  end
  lu.fail("not every worker answered")
end

local function stat(pid)
  local s = H.slurp(("/proc/%d/stat"):format(pid))
  if not s then return nil end
  local state, ppid = s:match("%) (%S) (%d+)")
  return state, tonumber(ppid)
end

-- Waits until process pid is gone (a zombie counts as still there).
local function wait_gone(pid)
  H.wait_for("pid " .. pid .. " to be gone", function() return stat(pid) == nil end)
end

-- The zombie children of pid.
local function zombies(pid)
  local out = H.sh(("for f in /proc/[0-9]*/stat; do cat $f 2>/dev/null; echo; done"))
  local n = 0
  for line in out:gmatch("[^\n]+") do
    local state, ppid = line:match("%) (%S) (%d+)")
    if state == "Z" and tonumber(ppid) == pid then n = n + 1 end
  end
  return n
end

local function lines(text, pattern)
  local t = {}
  for l in (text or ""):gmatch("[^\n]+") do
    if l:find(pattern) then t[#t + 1] = l end
  end
  return t
end

local function err_of(p) return p:stderr() or "" end

TestWorkers = H.suite()
TestWorkers.timeout = 120 -- luds.test's bound per test; H.run bounds each body below it

function TestWorkers:test_worker_is_nil_outside_a_worker()
  lu.assertNil(luds.worker())
  lu.assertIsFunction(luds.workers)
end

-- Each worker knows its index of the count, its generation and its
-- supervisor, whose child it is; stderr stays empty.
function TestWorkers:test_index_count_and_supervisor()
  H.run(function()
    local p = start(self.dir, serving("v1", 3))
    local pids = all_workers(p.sock, 3)
    for i = 1, 3 do
      local state, ppid = stat(pids[i])
      lu.assertEquals(ppid, p.pid)
      lu.assertNotEquals(state, "Z")
    end
    lu.assertNotEquals(pids[1], pids[2])
    local a = ask_ok(p.sock)
    lu.assertEquals({ a.version, a.count, a.generation, a.supervisor }, { "v1", 3, 1, p.pid })
    lu.assertEquals(H.stop(p, "TERM"), 0)
    lu.assertEquals(err_of(p), "")
  end, 20)
end

-- A worker holds exactly the listeners it was given beyond what any luds
-- process has; the supervisor holds them plus one pidfd per worker.
function TestWorkers:test_fd_counts_are_exact()
  H.run(function()
    local base = H.start(("%s -e %s"):format(H.q(H.LUDS),
      H.q('require("luds").sleep(30)')))
    local b = H.settled("a plain luds's fds", function() return H.fd_count(base.pid) end)
    H.stop(base, "KILL")
    local p = start(self.dir, PRELUDE .. [[
luds.workers{ n = 2, listen = function()
  local t = assert(luds.listen("tcp", "127.0.0.1:0"))
  print(t:addr())
  return { assert(luds.listen("unix", path)), t }
end, serve = function(c) if c:read_line() then reply(c, "v1") end end }
]])
    local pids = all_workers(p.sock, 2)
    local port = H.wait_for("the tcp address", function()
      return (p:stdout() or ""):match("127%.0%.0%.1:(%d+)")
    end)
    local c = assert(luds.dial("tcp", "127.0.0.1:" .. port)) -- the tcp listener is shared too
    assert(c:write("hi\n"))
    lu.assertStrMatches(assert(c:read_line()), "v1 %d 2 1 " .. p.pid .. " %d+")
    c:close()
    for i = 1, 2 do
      lu.assertEquals(H.settled("worker fds", function() return H.fd_count(pids[i]) end), b + 2)
    end
    lu.assertEquals(H.settled("supervisor fds", function() return H.fd_count(p.pid) end), b + 4)
    lu.assertEquals(H.stop(p, "TERM"), 0)
  end, 30)
end

-- Round-robin wake-ups over one shared listener (EPOLLEXCLUSIVE): 1,000
-- connections from 100 concurrent clients reach both workers, each at
-- least 5% of them, and none fails.
function TestWorkers:test_balance_over_1000_connections()
  H.run(function()
    local p = start(self.dir, serving("v1", 2))
    local pids = all_workers(p.sock, 2)
    local by_pid, failures = {}, 0
    local g = luds.group()
    for _ = 1, 100 do
      g:spawn(function()
        for _ = 1, 10 do
          local a = ask(p.sock)
          if a then by_pid[a.pid] = (by_pid[a.pid] or 0) + 1 else failures = failures + 1 end
        end
      end)
    end
    assert(g:wait(60))
    lu.assertEquals(failures, 0)
    local a, b = by_pid[pids[1]] or 0, by_pid[pids[2]] or 0
    lu.assertEquals(a + b, 1000)
    lu.assertTrue(a >= 50 and b >= 50, ("workers served %d and %d"):format(a, b))
    lu.assertEquals(H.stop(p, "TERM"), 0)
  end, 60)
end

-- A worker that fails on its first request is restarted, after 0.1 s, then
-- 0.2 s when its successor fails too; each death is one exact stderr line.
function TestWorkers:test_crash_is_restarted_with_backoff()
  H.run(function()
    local p = start(self.dir, PRELUDE .. [[
local w, lns = assert(luds.workers{ n = 1, listen = listen })
local c = assert(lns[1]:accept())
c:read_line()
reply(c, "v1")
c:close()
error("boom on the first request")
]])
    local first = ask_ok(p.sock)
    local second = ask_ok(p.sock) -- queued in the backlog until the restart accepts it
    lu.assertNotEquals(first.pid, second.pid)
    local third = ask_ok(p.sock)
    H.wait_for("three deaths", function() return #lines(err_of(p), "^luds: worker ") == 3 end)
    lu.assertEquals(lines(err_of(p), "^luds: worker "), {
      ("luds: worker 1 (pid %d) exited with status 1; restarting in 0.1 s"):format(first.pid),
      ("luds: worker 1 (pid %d) exited with status 1; restarting in 0.2 s"):format(second.pid),
      ("luds: worker 1 (pid %d) exited with status 1; restarting in 0.4 s"):format(third.pid),
    })
    lu.assertEquals(#lines(err_of(p), "boom on the first request"), 3) -- the workers' own reports
    lu.assertEquals(H.settled("zombies", function() return zombies(p.pid) end), 0)
    lu.assertEquals(H.stop(p, "TERM"), 0)
    lu.assertFalse(H.exists(p.sock))
  end, 30)
end

-- Ten deaths within 10 s: the supervisor gives up, stops the rest, removes
-- the socket file and exits 1.
function TestWorkers:test_crash_loop_gives_up()
  H.run(function()
    local p = start(self.dir, PRELUDE .. [[
luds.workers{ n = 4, listen = listen }
luds.exit(2)
]])
    lu.assertEquals(H.wait_exit(p), 1)
    local deaths = lines(err_of(p), "^luds: worker %d %(pid %d+%) exited with status 2")
    lu.assertEquals(#deaths, 10)
    for i = 1, 9 do lu.assertStrMatches(deaths[i], ".*; restarting in [%d.]+ s") end
    lu.assertStrMatches(deaths[10], "luds: worker %d %(pid %d+%) exited with status 2")
    local all = lines(err_of(p), ".")
    lu.assertEquals(all[#all], "luds: workers: 10 worker deaths within 10 s; giving up")
    lu.assertFalse(H.exists(p.sock))
    for _, l in ipairs(deaths) do wait_gone(tonumber(l:match("pid (%d+)"))) end
  end, 30)
end

-- Nothing to start workers with (no fds left): each failure counts as a
-- death, with its reason, until the supervisor gives up.
function TestWorkers:test_spawn_failure_counts_as_death()
  H.run(function()
    local p = start(self.dir, PRELUDE .. [[
luds.workers{ n = 4, listen = function()
  local t = listen()
  local keep = {}
  for _ = 1, 100000 do
    local f = io.open("/dev/null")
    if not f then break end
    keep[#keep + 1] = f
  end
  _G.keep = keep
  return t
end }
]])
    lu.assertEquals(H.wait_exit(p), 1)
    local fails = lines(err_of(p), "^luds: cannot start worker")
    lu.assertEquals(#fails, 10)
    lu.assertEquals(fails[1], "luds: cannot start worker 1: spawn: too many open files; restarting in 0.1 s")
    lu.assertEquals(fails[10]:match("^(.-: too many open files)$"), fails[10])
    local all = lines(err_of(p), ".")
    lu.assertEquals(all[#all], "luds: workers: 10 worker deaths within 10 s; giving up")
    lu.assertFalse(H.exists(p.sock))
  end, 30)
end

-- SIGTERM drains: new conns are refused at once while the socket file
-- stays, the request in flight is answered, the workers and then the
-- supervisor exit 0, and the file is gone.
function TestWorkers:test_term_drains_in_flight_requests()
  H.run(function()
    local release, got = self.dir .. "/release", self.dir .. "/got"
    local p = start(self.dir, PRELUDE .. ([[
luds.workers{ n = 2, drain = 5, listen = listen, serve = function(c)
  if not c:read_line() then return end
  io.open(%q, "w"):close()
  for _ = 1, 1000 do
    if io.open(%q) then break end
    luds.sleep(0.01)
  end
  reply(c, "late")
end }
]]):format(got, release))
    H.wait_socket(p.sock)
    local c = assert(luds.dial("unix", p.sock))
    c:set_deadline(luds.now() + 10)
    assert(c:write("hi\n"))
    H.wait_for("the request to arrive", function() return H.exists(got) end)
    os.execute("kill -TERM " .. p.pid)
    H.wait_for("new conns to be refused", function()
      local d, _, code = luds.dial("unix", p.sock)
      if d then d:close() end
      return code == "ECONNREFUSED"
    end)
    lu.assertTrue(H.exists(p.sock))
    H.spit(release, "")
    lu.assertStrMatches(assert(c:read_line()), "late %d 2 1 " .. p.pid .. " %d+")
    c:close()
    lu.assertEquals(H.wait_exit(p), 0)
    lu.assertFalse(H.exists(p.sock))
    lu.assertEquals(err_of(p), "")
  end, 30)
end

-- A worker that ignores SIGTERM is killed drain + 1 s later; exit 1.
function TestWorkers:test_drain_timeout_kills()
  H.run(function()
    local p = start(self.dir, PRELUDE .. [[
local w, lns = assert(luds.workers{ n = 1, drain = 0.2, listen = listen })
luds.on_signal("TERM", function() end)
local srv = luds.server(lns[1], function(c) if c:read_line() then reply(c, "v1") end end)
srv:serve()
]])
    local a = ask_ok(p.sock)
    lu.assertEquals(H.stop(p, "TERM"), 1)
    lu.assertEquals(lines(err_of(p), "."), {
      ("luds: worker 1 (pid %d) did not exit within 1.2 s of SIGTERM; killing it"):format(a.pid) })
    lu.assertFalse(H.exists(p.sock))
    wait_gone(a.pid)
  end, 30)
end

-- SIGHUP under load: clients dialling in a loop see no failure, the answers
-- switch from the old script to the one now on disk, and once the old
-- workers are gone every answer is new. The file never goes away.
function TestWorkers:test_hup_reloads_with_zero_failures()
  H.run(function()
    local p = start(self.dir, serving("v1", 2))
    local old = all_workers(p.sock, 2)
    local counts, failures, after, stop = { v1 = 0, v2 = 0 }, {}, nil, false
    local g = luds.group()
    for _ = 1, 8 do
      g:spawn(function()
        for _ = 1, 5000 do
          if stop then return end
          local late = after ~= nil -- asked once the old workers were gone
          local a, err = ask(p.sock)
          if not a then failures[#failures + 1] = err
          else
            counts[a.version] = counts[a.version] + 1
            if late and a.version ~= "v2" then failures[#failures + 1] = "old answer after the reload" end
          end
        end
      end)
    end
    H.wait_for("some v1 answers", function() return counts.v1 >= 200 end, 20)
    write_script(self.dir, serving("v2", 2))
    os.execute("kill -HUP " .. p.pid)
    H.wait_for("the reload", function()
      return #lines(err_of(p), "^luds: workers: generation 2 ready in [%d.]+ s; the previous workers drain$") == 1
    end, 20)
    for i = 1, 2 do wait_gone(old[i]) end
    after = counts.v2
    H.wait_for("v2 answers", function() return counts.v2 >= after + 200 end, 20)
    stop = true
    assert(g:wait(20))
    lu.assertEquals(failures, {})
    lu.assertTrue(counts.v1 >= 200 and counts.v2 >= 200)
    local a = ask_ok(p.sock)
    lu.assertEquals({ a.version, a.generation, a.supervisor }, { "v2", 2, p.pid })
    lu.assertEquals(lines(err_of(p), "."), lines(err_of(p), "^luds: workers: generation 2 ready"))
    lu.assertEquals(H.settled("zombies", function() return zombies(p.pid) end), 0)
    lu.assertEquals(H.stop(p, "TERM"), 0)
    lu.assertFalse(H.exists(p.sock))
  end, 90)
end

-- A reload whose script does not start leaves the running workers alone.
function TestWorkers:test_failed_reload_keeps_the_workers()
  H.run(function()
    local p = start(self.dir, serving("v1", 2))
    local old = all_workers(p.sock, 2)
    write_script(self.dir, "this is not Lua\n")
    os.execute("kill -HUP " .. p.pid)
    H.wait_for("the failed reload", function()
      return #lines(err_of(p), "^luds: workers: reload failed") == 1
    end, 20)
    lu.assertStrMatches(lines(err_of(p), "^luds: workers: reload failed")[1],
      "luds: workers: reload failed: worker %d %(pid %d+%) exited with status 1 before it was ready; the running workers stay")
    local again = all_workers(p.sock, 2)
    lu.assertEquals(again, old)
    lu.assertEquals(H.stop(p, "TERM"), 0)
  end, 30)
end

-- The socket file is unlinked once, by the supervisor, at the very end:
-- not when a worker is killed, nor when a reload retires workers.
function TestWorkers:test_socket_file_removed_exactly_once()
  if not os.execute("command -v strace >/dev/null 2>&1") then lu.skip("no strace") end
  H.run(function()
    local trace = self.dir .. "/trace"
    local script, sock = write_script(self.dir, serving("v1", 2)), self.dir .. "/s.sock"
    -- (LeakSanitizer cannot run under ptrace: an ASan build leaves it out here)
    local p = H.start(("env ASAN_OPTIONS=detect_leaks=0 strace -f -qq -e trace=unlink,unlinkat -o %s %s %s %s")
      :format(H.q(trace), H.q(H.LUDS), H.q(script), H.q(sock)))
    local pids = all_workers(sock, 2)
    local sup = ask_ok(sock).supervisor
    os.execute("kill -KILL " .. pids[1])
    H.wait_for("the restart", function() return #lines(err_of(p), "^luds: worker 1") == 1 end)
    os.execute("kill -HUP " .. sup)
    H.wait_for("the reload", function() return #lines(err_of(p), "generation 2 ready") == 1 end, 20)
    ask_ok(sock)
    lu.assertTrue(H.exists(sock))
    os.execute("kill -TERM " .. sup)
    lu.assertEquals(H.wait_exit(p), 0)
    local unlinks = lines(H.slurp(trace), "unlink.*" .. sock:gsub("%p", "%%%0"))
    lu.assertEquals(#unlinks, 1, table.concat(unlinks, "\n"))
    lu.assertEquals(tonumber(unlinks[1]:match("^(%d+)")), sup)
    lu.assertFalse(H.exists(sock))
  end, 60)
end

-- SIGKILL to the supervisor takes every worker with it (PR_SET_PDEATHSIG).
function TestWorkers:test_workers_die_with_the_supervisor()
  H.run(function()
    local p = start(self.dir, serving("v1", 2))
    local pids = all_workers(p.sock, 2)
    lu.assertEquals(H.stop(p, "KILL"), 128 + 9)
    for i = 1, 2 do wait_gone(pids[i]) end
  end, 30)
end

-- USR1, USR2 and ALRM reach every worker.
function TestWorkers:test_signals_are_forwarded()
  H.run(function()
    local p = start(self.dir, PRELUDE .. ([[
local w, lns = assert(luds.workers{ n = 2, listen = listen })
luds.on_signal("USR1", function() io.open(%q .. "/usr1." .. pid(), "w"):close() end)
local srv = luds.server(lns[1], function(c) if c:read_line() then reply(c, "v1") end end)
luds.on_signal("TERM", function() srv:shutdown(5) luds.exit(0) end)
srv:serve()
]]):format(self.dir))
    local pids = all_workers(p.sock, 2)
    os.execute("kill -USR1 " .. p.pid)
    for i = 1, 2 do
      H.wait_for("USR1 in worker " .. i, function() return H.exists(self.dir .. "/usr1." .. pids[i]) end)
    end
    lu.assertEquals(H.stop(p, "TERM"), 0)
  end, 30)
end

-- The sockets a service manager passed are the listeners: the workers
-- serve them, and the manager's file stays after the supervisor exits.
function TestWorkers:test_socket_activation_as_the_listener_source()
  if not os.execute("command -v systemd-socket-activate >/dev/null 2>&1") then
    lu.skip("no systemd-socket-activate")
  end
  H.run(function()
    local script = write_script(self.dir, PRELUDE .. [[
luds.workers{ n = 2, listen = function() return (luds.listeners_from_env()) end,
  serve = function(c) if c:read_line() then reply(c, "activated") end end }
]])
    local sock = self.dir .. "/s.sock"
    local p = H.start(("systemd-socket-activate -l %s --fdname=echo %s %s")
      :format(H.q(sock), H.q(H.LUDS), H.q(script)))
    local pids = all_workers(sock, 2)
    local a = ask_ok(sock)
    lu.assertEquals({ a.version, a.count, a.supervisor }, { "activated", 2, p.pid })
    lu.assertEquals(H.stop(p, "TERM"), 0)
    for i = 1, 2 do wait_gone(pids[i]) end
    lu.assertTrue(H.exists(sock)) -- the manager's
  end, 30)
end

-- The loadable module under a stock lua5.4 runs workers too: they run
-- lua5.4 with the same command line.
function TestWorkers:test_stock_lua()
  H.run(function()
    local script = write_script(self.dir, PRELUDE:gsub('local luds = require "luds"\n', "")
      .. [[luds.run(function()
  luds.workers{ n = 2, listen = listen,
    serve = function(c) if c:read_line() then reply(c, "stock") end end }
end)
]])
    local script2 = self.dir .. "/stock.lua"
    H.spit(script2, 'local luds = require "luds"\n' .. H.slurp(script))
    local sock = self.dir .. "/s.sock"
    local p = H.start(("env LUA_CPATH=%s lua5.4 %s %s"):format(
      H.q(H.ROOT .. "/build/?.so;;"), H.q(script2), H.q(sock)))
    local pids = all_workers(sock, 2)
    lu.assertEquals(ask_ok(sock).version, "stock")
    lu.assertStrContains(H.slurp(("/proc/%d/cmdline"):format(pids[1])), "lua5.4")
    lu.assertEquals(H.stop(p, "TERM"), 0)
    lu.assertFalse(H.exists(sock))
  end, 30)
end

-- LUDS_WORKERS sets the count when the script gives none.
function TestWorkers:test_luds_workers_env()
  H.run(function()
    local p = start(self.dir, PRELUDE .. [[
luds.workers{ listen = listen, serve = function(c) if c:read_line() then reply(c, "v1") end end }
]], "LUDS_WORKERS=3")
    all_workers(p.sock, 3)
    lu.assertEquals(ask_ok(p.sock).count, 3)
    lu.assertEquals(H.stop(p, "TERM"), 0)
  end, 30)
end

TestMisuse = H.suite()

function TestMisuse:test_bad_options_raise()
  local function listen() return {} end
  H.assert_raises({ "bad argument #1 to 'workers'", "unknown option 'nn'",
    "accepted: drain, listen, n, serve, start_timeout" }, luds.workers, { nn = 2, listen = listen })
  H.assert_raises({ "option 'listen' must be a function" }, luds.workers, { n = 2 })
  H.assert_raises({ "option 'n' must be a whole number from 1 to 1024" }, luds.workers,
    { n = 0, listen = listen })
  H.assert_raises({ "option 'n' must be a whole number" }, luds.workers, { n = 1.5, listen = listen })
  H.assert_raises({ "option 'drain' must be a number of seconds above 0" }, luds.workers,
    { drain = -1, listen = listen })
  H.assert_raises({ "option 'serve' must be a function" }, luds.workers,
    { serve = 1, listen = listen })
  H.assert_raises({ "table expected, got nil" }, luds.workers)
  H.assert_raises({ "bad listener #1" }, luds.workers, { n = 1, listen = function() return { 42 } end })
end

function TestMisuse:test_listen_failure_is_returned()
  H.assert_fails("ENOENT", "listen unix /nonexistent/dir/x.sock: no such file or directory",
    luds.workers{ n = 1, listen = function() return luds.listen("unix", "/nonexistent/dir/x.sock") end })
end

function TestMisuse:test_bad_env_and_stdin_raise()
  local code = 'require("luds").workers{ listen = function() return {} end }'
  local _, err = H.exec("env LUDS_WORKERS=abc " .. H.q(H.LUDS) .. " -e " .. H.q(code))
  lu.assertStrContains(err, "LUDS_WORKERS must be a whole number from 1 to 1024")
  local f = self.dir .. "/in.lua"
  H.spit(f, code)
  local why = "luds.workers: workers run the script again, so it must be a file or -e code, not standard input"
  for _, how in ipairs({ " -", "", " -i" }) do -- "-", no arguments, the REPL
    local _, err2, status = H.exec(H.q(H.LUDS) .. how, f)
    lu.assertStrContains(err2, why)
    lu.assertEquals(status, how == " -i" and 0 or 1) -- an error in a line ends the line only
  end
end

luds.exit(T.run())
