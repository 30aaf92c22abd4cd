-- Shared spec helpers: temp dirs, time-bounded test bodies, child processes and
-- bounded polling. Nothing here sleeps for a fixed time to synchronise: it polls a
-- condition every 10 ms and gives up after a bound.
local luds = require "luds"
local lu = require "luaunit"

local H = {}

H.ROOT = (arg and arg[0] or ""):match("^(.*)/spec/[^/]*$") or "."
H.LUDS = os.getenv("LUDS") or H.ROOT .. "/build/luds"
H.ECHO = H.ROOT .. "/examples/echo_unix.lua"

-- Quotes s for sh.
function H.q(s)
  return "'" .. tostring(s):gsub("'", [['\'']]) .. "'"
end

-- Runs a shell command; returns its stdout and exit status. Blocks the whole
-- process (io.popen), so the command must not need this process to answer it.
function H.sh(cmd)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local _, _, status = p:close()
  return out, status
end

-- Runs cmd (bounded by `timeout`) with stdin from the file `input` or /dev/null;
-- returns stdout, stderr and exit status.
function H.exec(cmd, input)
  local err = os.tmpname()
  local out, status = H.sh(("timeout -k 2 20 %s <%s 2>%s"):format(cmd, H.q(input or "/dev/null"), H.q(err)))
  local errout = H.slurp(err)
  os.remove(err)
  return out, errout, status
end

-- Runs the Lua source in a fresh luds process (`luds -e`, chunk name
-- "(command line)") with stdin from /dev/null, ended after `seconds` (default
-- 10; status 124 when it runs over) and run under `prefix` (e.g. a prlimit
-- command) when given; returns stdout, stderr and exit status.
function H.exec_lua(source, seconds, prefix)
  local err = os.tmpname()
  local out, status = H.sh(("%s timeout -k 1 %g %s -e %s </dev/null 2>%s")
    :format(prefix or "", seconds or 10, H.q(H.LUDS), H.q(source), H.q(err)))
  local errout = H.slurp(err)
  os.remove(err)
  return out, errout, status
end

-- A chunk for `luds -e CHUNK -e CODE` that sets arg[1], ... to the given
-- values for CODE: as in lua5.4, an -e has no arguments of its own (a word
-- after it is taken for the script).
function H.arg_chunk(...)
  local args = {}
  for i, a in ipairs({ ... }) do args[i] = ("%q"):format(a) end
  return "arg = { " .. table.concat(args, ", ") .. " }"
end

-- Whether H.LUDS is a sanitizer build: it reserves terabytes of address space
-- up front, so an address-space limit (prlimit --as) cannot apply to it.
local sanitized
function H.sanitized()
  if sanitized == nil then
    local out = H.sh(H.q(H.LUDS) .. [[ -e 'print(io.open("/proc/self/status"):read("a"):match("VmSize:%s*(%d+)"))']])
    sanitized = assert(tonumber(out), out) > 2 ^ 30 -- kB: over a TiB
  end
  return sanitized
end

-- Creates a fresh directory (under parent when given) and returns its path.
function H.tmpdir(parent)
  local out = H.sh("mktemp -d" .. (parent and " -p " .. H.q(parent) or ""))
  return assert(out:match("^(/.-)\n$"), "mktemp -d failed")
end

function H.rmdir(path)
  if path then os.execute("rm -rf " .. H.q(path)) end
end

-- A luaunit test table whose tests each get a fresh temp dir as self.dir.
function H.suite()
  return {
    setUp = function(self) self.dir = H.tmpdir() end,
    tearDown = function(self)
      H.reap_all()
      H.rmdir(self.dir)
    end,
  }
end

-- The whole content of a file, or nil if it cannot be read.
function H.slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- This process's pid, as the kernel knows it.
function H.pid()
  return tonumber(H.slurp("/proc/self/stat"):match("^(%d+) "))
end

-- How many descriptors process pid (default: this one) has open, listed
-- from outside by find(1), leaving out the pipe to the shell that io.popen
-- holds here (both its ends are open until popen has forked). For this
-- process, garbage is collected first: an unreferenced socket would
-- otherwise close whenever the collector gets to it.
function H.fd_count(pid)
  if not pid then collectgarbage() collectgarbage() end
  local out = H.sh(("p=$(readlink /proc/$$/fd/1); find /proc/%d/fd -mindepth 1 -maxdepth 1 -printf '%%l\\n'"
    .. " | grep -Fvxc \"$p\""):format(pid or H.pid()))
  return assert(tonumber(out), out)
end

-- Reads conn until its stream ends (at most 100,000 reads); returns everything
-- read and the ending triple ({ nil, "EOF", "EOF" } at a clean end).
function H.read_all(conn)
  local parts = {}
  for _ = 1, 100000 do
    local data, msg, code = conn:read()
    if not data then return table.concat(parts), { data, msg, code } end
    parts[#parts + 1] = data
  end
  error("no end of stream after 100000 reads")
end

function H.spit(path, data)
  local f = assert(io.open(path, "wb"))
  assert(f:write(data))
  f:close()
end

-- Whether anything (a socket included: opening one fails with ENXIO) is at path.
function H.exists(path)
  local f, _, errno = io.open(path, "rb")
  if f then f:close() return true end
  return errno ~= 2
end

-- The names in dir, sorted, as one space-separated string.
function H.ls(dir)
  return (H.sh("ls -A " .. H.q(dir)):gsub("\n", " "):gsub(" $", ""))
end

-- Polls cond() every 10 ms until it returns a true value and returns that value;
-- fails the test after `seconds` (default 5).
function H.wait_for(what, cond, seconds)
  for _ = 1, math.ceil((seconds or 5) / 0.01) do
    local v = cond()
    if v then return v end
    luds.sleep(0.01)
  end
  lu.fail("timed out waiting for " .. what)
end

-- A reading that has settled: polls read() every 20 ms until it returns the
-- same value five times running (a baseline must not be taken while, say, a
-- server has yet to see a probe's EOF), within `seconds` (default 5).
function H.settled(what, read, seconds)
  local last, same = nil, 0
  return H.wait_for(what .. " to settle", function()
    local v = read()
    same = v == last and same + 1 or 0
    last = v
    luds.sleep(0.01)
    return same >= 4 and v
  end, seconds)
end

-- Waits until task t is parked (blocked in I/O or asleep).
function H.wait_parked(t)
  H.wait_for("task to block", function() return t:status() == "waiting" end)
end

-- Waits until a unix stream server answers at path (the file appears at bind,
-- before listen, so a dial is the real test).
function H.wait_socket(path)
  H.wait_for("a server at " .. path, function()
    local c = luds.dial("unix", path)
    if c then c:close() end
    return c ~= nil
  end)
end

local function report(e)
  if type(e) == "string" and not e:find(lu.FAILURE_PREFIX, 1, true)
      and not e:find(lu.SKIP_PREFIX, 1, true) then
    return debug.traceback(e, 2)
  end
  return e
end

-- Runs fn as a task and fails the test if it has not finished within `limit`
-- seconds (default 5); an error raised by fn is raised again here.
function H.run(fn, limit)
  limit = limit or 5
  local t = luds.spawn(function() return xpcall(fn, report) end)
  local done, ok, err = t:wait(limit)
  if done == nil then
    t:cancel()
    lu.fail(("test body did not finish within %g s"):format(limit))
  end
  lu.assertTrue(done, "test task ended abnormally: " .. tostring(ok))
  if not ok then error(err, 0) end
end

-- A listener at dir/name plus a connected client and the accepted server side.
function H.pair(dir, name)
  local path = dir .. "/" .. (name or "pair.sock")
  local ln = assert(luds.listen("unix", path))
  local client = assert(luds.dial("unix", path))
  local server = assert(ln:accept())
  return client, server, ln, path
end

-- The echo handler used by in-process servers: read -> write until EOF.
function H.echo(conn)
  while true do
    local data = conn:read()
    if not data or not conn:write(data) then return end
  end
end

-- Starts cmd in the background; its pid, stdout, stderr and exit status are kept in
-- files of a fresh directory under dir. SIGINT is reset to default first (sh makes
-- background jobs ignore it), so the child sees signals as from a terminal.
local children = {}

function H.start(dir, cmd)
  local p = { dir = H.tmpdir(dir) }
  children[#children + 1] = p
  local f = function(name) return H.q(p.dir .. "/" .. name) end
  os.execute(("(env --default-signal=INT %s >%s 2>%s </dev/null & echo $! >%s; wait $!; echo $? >%s) >/dev/null 2>&1 &")
    :format(cmd, f("out"), f("err"), f("pid"), f("rc")))
  p.pid = H.wait_for("the child's pid", function() return tonumber(H.slurp(p.dir .. "/pid") or "") end)
  return p
end

-- Starts the example echo server at path and waits until it answers.
function H.start_echo(dir, path)
  local p = H.start(dir, ("%s %s serve %s"):format(H.q(H.LUDS), H.q(H.ECHO), H.q(path)))
  H.wait_socket(path)
  return p
end

-- The exit status of child p (128 + signal when killed), waiting up to 5 s.
function H.wait_exit(p)
  return H.wait_for("child " .. p.pid .. " to exit", function()
    return tonumber(H.slurp(p.dir .. "/rc") or "")
  end)
end

-- Sends signal sig (e.g. "TERM") to child p and returns its exit status.
function H.stop(p, sig)
  os.execute(("kill -%s %d"):format(sig, p.pid))
  return H.wait_exit(p)
end

-- Kills every child started by H.start that has not exited yet (for tearDown).
function H.reap_all()
  for _, p in ipairs(children) do
    if not H.slurp(p.dir .. "/rc") then os.execute(("kill -KILL %d 2>/dev/null"):format(p.pid)) end
  end
  children = {}
end

-- Leaves a stale socket file at path: bound by a process that exited without
-- unlinking it, so nothing listens there.
function H.stale_socket(path)
  local py = "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])"
  assert(os.execute(("python3 -c %s %s"):format(H.q(py), H.q(path))))
end

-- Asserts that f(...) raises an error whose message contains every given word.
function H.assert_raises(words, f, ...)
  local ok, err = pcall(f, ...)
  lu.assertFalse(ok, "expected a Lua error")
  for _, w in ipairs(words) do
    lu.assertStrContains(tostring(err), w)
  end
end

-- Asserts the failure triple nil, message, code (message when given is exact).
function H.assert_fails(code, message, v, msg, c, ...)
  lu.assertNil(v)
  lu.assertEquals(c, code)
  lu.assertIsString(msg)
  if message then lu.assertEquals(msg, message) end
  return ...
end

-- n bytes of every value 0..250 repeated (251 is prime, so no message
-- boundary ever lines up with the pattern).
function H.pattern(n)
  local unit = {}
  for b = 0, 250 do unit[#unit + 1] = string.char(b) end
  unit = table.concat(unit)
  return unit:rep(n // #unit + 1):sub(1, n)
end

-- Lua source for a child script's first lines: ticker() starts a task that
-- sleeps 10 ms at a time and returns stop(), which ends it and returns the
-- most it woke late, in seconds.
H.TICKER = [[
local function ticker()
  local luds = require "luds"
  local worst, ticking = 0, true
  local task = luds.spawn(function()
    while ticking do
      local t0 = luds.now()
      luds.sleep(0.01)
      worst = math.max(worst, luds.now() - t0 - 0.01)
    end
  end)
  return function() ticking = false task:wait() return worst end
end
]]

return H
