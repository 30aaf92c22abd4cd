-- What luds's own specs share beyond luds.test (which gives them temp dirs,
-- bounded waits, pairs, assertions and child processes): the paths of this
-- repository's build products and examples, shell and file utilities, fd
-- counts, time-bounded test bodies, and the helpers' older call shapes kept
-- over luds.test. Nothing here sleeps for a fixed time to synchronise: it
-- polls a condition every 10 ms and gives up after a bound.
local luds = require "luds"
local lu = require "luaunit"
local T = require "luds.test"

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

-- The exit status of what process:wait returned: 128 + the signal's
-- number when one ended the child (as sh reports it); nil on a timeout.
local function exit_status(status, _, code, signo)
  if status then return status end
  if code == "SIGNALED" then return 128 + signo end
  return nil
end

-- sh running the simple command cmd (assignments first allowed, as env
-- takes them) in its own process: sh execs env, which execs the program.
local function sh_argv(cmd) return { "sh", "-c", "exec env " .. cmd } end

-- Runs the simple shell command cmd with T.start, stdin from /dev/null or the file `input`; after
-- `seconds` it is stopped and the status is 124, as timeout(1) gives.
-- Returns stdout, stderr and exit status. The loop goes on meanwhile.
local function run(cmd, input, seconds)
  local c = assert(T.start(sh_argv(cmd .. (input and " <" .. H.q(input) or ""))))
  local status = exit_status(c:wait(seconds))
  c:stop(1)
  return c:stdout(), c:stderr(), status or 124
end

-- Runs cmd (bounded by 20 s) with stdin from the file `input` or /dev/null;
-- returns stdout, stderr and exit status.
function H.exec(cmd, input) return run(cmd, input, 20) end

-- Runs the Lua source in a fresh luds process (`luds -e`, chunk name
-- "(command line)") with stdin from /dev/null, ended after `seconds` (default
-- 10; status 124 when it runs over) and run under `prefix` (e.g. a prlimit
-- command) when given; returns stdout, stderr and exit status.
function H.exec_lua(source, seconds, prefix)
  return run(("%s %s -e %s"):format(prefix or "", H.q(H.LUDS), H.q(source)), nil, seconds or 10)
end

-- A chunk for `luds -e CHUNK -e CODE` that sets arg[1], ... to the given
-- values for CODE: as in lua5.4, an -e has no arguments of its own (a word
-- after it is taken for the script).
function H.arg_chunk(...)
  local args = {}
  for i, a in ipairs({ ... }) do args[i] = ("%q"):format(a) end
  return "arg = { " .. table.concat(args, ", ") .. " }"
end

-- Whether this process runs under valgrind, which runs posix_spawn's vfork
-- as a plain fork: an exec failure then shows as the child's exit 127, not
-- as ENOENT or EACCES from exec.
local under_valgrind
function H.valgrind()
  if under_valgrind == nil then
    local maps = H.slurp("/proc/self/maps") or ""
    under_valgrind = maps:find("vgpreload", 1, true) ~= nil
  end
  return under_valgrind
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

-- A luaunit test table whose tests each get a fresh temp dir as self.dir
-- (T.tempdir: removed when the test ends).
function H.suite()
  return { setUp = function(self) self.dir = T.tempdir() end }
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

-- T.wait_for with the description first.
function H.wait_for(what, cond, seconds) return T.wait_for(cond, seconds, what) end

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

-- A listener at dir/name plus a connected client and the accepted server side
-- (T.pair when the listener and its path are not needed).
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

-- Starts the simple shell command cmd with T.start (p.pid is the program's
-- own): p:stdout(), p:stderr() as far as it got; stopped and reaped when the
-- test ends.
function H.start(cmd) return assert(T.start(sh_argv(cmd))) end

-- Starts the example echo server at path and waits until it answers.
function H.start_echo(path)
  local p = H.start(("%s %s serve %s"):format(H.q(H.LUDS), H.q(H.ECHO), H.q(path)))
  H.wait_socket(path)
  return p
end

-- The exit status of child p (128 + signal when killed), waiting up to
-- `seconds` (default 5) before failing the test.
function H.wait_exit(p, seconds)
  local status = exit_status(p:wait(seconds or 5))
  if not status then
    lu.fail(("timed out after %g s waiting for child %d to exit"):format(seconds or 5, p.pid))
  end
  return status
end

-- Child p's exit status (as H.wait_exit gives it) if it has ended, else nil.
function H.exited(p) return exit_status(p:wait(0)) end

-- Sends signal sig (e.g. "TERM") to child p and returns its exit status.
function H.stop(p, sig)
  p:kill(sig)
  return H.wait_exit(p)
end

-- Leaves a stale socket file at path: bound by a process that exited without
-- unlinking it, so nothing listens there.
function H.stale_socket(path)
  local py = "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])"
  assert(os.execute(("python3 -c %s %s"):format(H.q(py), H.q(path))))
end

-- T.assert_raises for every given word.
function H.assert_raises(words, f, ...)
  local err = T.assert_raises(words[1] or "", f, ...)
  for i = 2, #words do lu.assertStrContains(tostring(err), words[i]) end
end

-- T.assert_error on values already returned: nil, message, code (message,
-- when given, is exact); returns what follows them.
function H.assert_fails(code, message, v, msg, c, ...)
  local got = T.assert_error(code, function() return v, msg, c end)
  if message then lu.assertEquals(got, message) end
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
