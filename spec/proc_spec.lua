-- Child processes: luds.exec (stdio, env, cwd, extra_fds), p:wait, p:kill,
-- reaping without zombies (dropped objects, cancelled waiters), the loop kept
-- free while children run, luds.output, and the argument checks.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

local MiB = 1024 * 1024

-- python3 writing n bytes of H.pattern(n) to fd (1 or 2).
local function py_pattern(n, fd)
  return { "python3", "-c", ("import os; b = bytes(range(251)) * (%d // 251 + 1); "
    .. "v = memoryview(b)[:%d]\nwhile v: v = v[os.write(%d, v):]"):format(n, n, fd or 1) }
end

-- python3 code writing what its fds 1 and 0 are to fd 2, a line each (a
-- shell would show its own redirections instead).
local PY_LINKS = "import os; os.write(2, ''.join(os.readlink('/proc/self/fd/%d' % d) + '\\n' for d in (1, 0)).encode())"

-- This process's children, read from /proc (nothing is started to look):
-- { [pid] = state letter }.
local function children()
  local me = H.pid()
  local out = {}
  for c in (H.slurp(("/proc/%d/task/%d/children"):format(me, me)) or ""):gmatch("%d+") do
    local stat = H.slurp("/proc/" .. c .. "/stat")
    out[tonumber(c)] = stat and stat:match("^%d+ %(.*%) (%a)")
  end
  return out
end

local function zombies()
  local n = 0
  for _, state in pairs(children()) do n = n + (state == "Z" and 1 or 0) end
  return n
end

-- Waits until pid is no child of ours any more (reaped: not even a zombie).
local function wait_reaped(pid)
  H.wait_for("child " .. pid .. " to be reaped", function() return children()[pid] == nil end)
end

TestExec = H.suite()

function TestExec:test_stdout_pipe_10mib_exact()
  H.run(function()
    local p = assert(luds.exec(py_pattern(10 * MiB), { stdout = "pipe" }))
    local data, ending = H.read_all(p.stdout)
    lu.assertEquals(#data, 10 * MiB)
    lu.assertTrue(data == H.pattern(10 * MiB), "bytes differ")
    lu.assertEquals(ending, { nil, "EOF", "EOF" })
    lu.assertEquals(p:wait(), 0)
  end, 30)
end

-- Writing 10 MiB to cat while another task reads what it echoes: neither
-- side can fill its pipe and stall the other.
function TestExec:test_stdin_streamed_through_cat()
  H.run(function()
    local p = assert(luds.exec({ "cat" }, { stdin = "pipe", stdout = "pipe" }))
    local input = H.pattern(10 * MiB)
    local writer = luds.spawn(function()
      local n = assert(p.stdin:write(input))
      assert(p.stdin:close_write())
      return n
    end)
    local data = H.read_all(p.stdout)
    lu.assertEquals({ writer:wait(5) }, { true, 10 * MiB })
    lu.assertTrue(data == input, "bytes differ")
    lu.assertEquals(p:wait(), 0)
  end, 30)
end

function TestExec:test_python_child_interop()
  H.run(function()
    local p = assert(luds.exec({ "python3", "-c",
      "import sys; d = sys.stdin.buffer.read(); sys.stdout.buffer.write(d[::-1]); sys.exit(len(d) % 256)" },
      { stdin = "pipe", stdout = "pipe" }))
    local input = H.pattern(300000)
    assert(p.stdin:write(input))
    assert(p.stdin:close())
    lu.assertTrue(H.read_all(p.stdout) == input:reverse(), "bytes differ")
    lu.assertEquals(p:wait(), 300000 % 256)
  end, 20)
end

-- The test asks for a shell here: it ignores TERM (so does sleep, which
-- inherits the ignored disposition through exec), says so, and then only
-- KILL ends it.
function TestExec:test_term_ignored_then_kill()
  H.run(function()
    local p = assert(luds.exec({ "sh", "-c", "trap '' TERM; echo ready; exec sleep 30" }, { stdout = "pipe" }))
    lu.assertEquals(p.stdout:read_line(), "ready")
    lu.assertTrue(p:kill())
    H.assert_fails("TIMEOUT", ("wait sh %d: i/o timeout"):format(p.pid), p:wait(0.3))
    lu.assertEquals(children()[p.pid], "S")
    lu.assertTrue(p:kill("KILL"))
    lu.assertEquals({ p:wait(5) }, { nil, ("wait sh %d: killed by signal 9 (KILL)"):format(p.pid), "SIGNALED", 9 })
    lu.assertEquals(tostring(p), ("process %d sh (signal 9)"):format(p.pid))
    wait_reaped(p.pid)
  end, 10)
end

-- 200 children at once while a ticker ticks every 10 ms: waiting for them
-- never blocks the loop (io.popen would block it for 0.2 s per child).
-- Each spawn itself is a blocking syscall (a millisecond or so on this
-- machine), so the spawner lets the loop poll every 10 spawns, as any loop
-- doing work should (a sleep: sleep(0) alone would not poll, see
-- RT_POLL_EVERY); the bound is generous for a loaded 2-core machine.
function TestExec:test_200_children_ticker_never_late()
  H.run(function()
    local late, ticks, stop = 0, 0, false
    local ticker = luds.spawn(function()
      while not stop do
        local t0 = luds.now()
        luds.sleep(0.01)
        late = math.max(late, luds.now() - t0 - 0.01)
        ticks = ticks + 1
      end
    end)
    H.wait_for("the first tick", function() return ticks > 0 end)
    local ps = {}
    for i = 1, 200 do
      ps[i] = assert(luds.exec({ "sleep", "0.2" }))
      if i % 10 == 0 then luds.sleep(0.001) end
    end
    for i = 1, 200 do lu.assertEquals(ps[i]:wait(10), 0) end
    stop = true
    lu.assertEquals(ticker:wait(1), true)
    lu.assertTrue(ticks >= 10, "ticks: " .. ticks)
    lu.assertTrue(late < 0.15, ("ticker late by %.0f ms"):format(late * 1000))
    lu.assertEquals(zombies(), 0)
  end, 30)
end

function TestExec:test_missing_program_enoent_no_zombie_no_fd()
  if H.valgrind() then lu.skip("valgrind forks where posix_spawn vforks: no exec failure to see") end
  H.run(function()
    local before = H.fd_count()
    H.assert_fails("ENOENT", "exec no-such-program-luds: no such file or directory",
      luds.exec({ "no-such-program-luds" }, { stdin = "pipe", stdout = "pipe", stderr = "pipe" }))
    H.assert_fails("ENOENT", "exec " .. self.dir .. "/missing: no such file or directory",
      luds.exec({ self.dir .. "/missing" }))
    lu.assertEquals(zombies(), 0)
    lu.assertEquals(next(children()), nil)
    lu.assertEquals(H.fd_count(), before)
  end)
end

function TestExec:test_not_executable_eacces()
  if H.valgrind() then lu.skip("valgrind forks where posix_spawn vforks: no exec failure to see") end
  H.run(function()
    local path = self.dir .. "/script"
    H.spit(path, "#!/bin/sh\necho hi\n")
    H.assert_fails("EACCES", "exec " .. path .. ": permission denied", luds.exec({ path }))
    H.assert_fails("EACCES", "exec " .. self.dir .. ": permission denied", luds.exec({ self.dir }))
    lu.assertEquals(zombies(), 0)
  end)
end

function TestExec:test_fd_counts_exact_after_many()
  H.run(function()
    local before = H.fd_count()
    for _ = 1, 50 do
      local p = assert(luds.exec({ "sh", "-c", "cat; echo e >&2" },
        { stdin = "pipe", stdout = "pipe", stderr = "pipe" }))
      assert(p.stdin:write("x"))
      p.stdin:close()
      lu.assertEquals(H.read_all(p.stdout), "x")
      lu.assertEquals(H.read_all(p.stderr), "e\n")
      lu.assertEquals(p:wait(), 0)
      p.stdout:close()
      p.stderr:close()
    end
    lu.assertEquals(H.fd_count(), before)
    lu.assertEquals(zombies(), 0)
  end, 30)
end

function TestExec:test_env_replaces_and_environ_extends()
  H.run(function()
    local p = assert(luds.exec({ "/usr/bin/env" }, { env = { A = "1", B = "x y", N = 42 }, stdout = "pipe" }))
    local lines = {}
    for l in H.read_all(p.stdout):gmatch("[^\n]+") do lines[#lines + 1] = l end
    table.sort(lines)
    lu.assertEquals(lines, { "A=1", "B=x y", "N=42" })
    lu.assertEquals(p:wait(), 0)
    local env = luds.environ()
    lu.assertEquals(env.PATH, os.getenv("PATH"))
    env.LUDS_EXTRA = "yes"
    local q = assert(luds.exec({ "sh", "-c", 'printf "%s %s" "$LUDS_EXTRA" "$PATH"' }, { env = env, stdout = "pipe" }))
    lu.assertEquals(H.read_all(q.stdout), "yes " .. os.getenv("PATH"))
    lu.assertEquals(q:wait(), 0)
    local r = assert(luds.exec({ "/usr/bin/env" }, { env = {}, stdout = "pipe" }))
    lu.assertEquals(H.read_all(r.stdout), "")
    lu.assertEquals(r:wait(), 0)
  end)
end

function TestExec:test_cwd()
  H.run(function()
    local p = assert(luds.exec({ "python3", "-c", "import os; print(os.getcwd())" }, { cwd = self.dir, stdout = "pipe" }))
    lu.assertEquals(H.read_all(p.stdout), self.dir .. "\n")
    lu.assertEquals(p:wait(), 0)
    -- a relative program is found from the new directory, as execve sees it
    H.spit(self.dir .. "/hello", "#!/bin/sh\necho hello from \"$(pwd)\"\n")
    assert(os.execute("chmod 755 " .. H.q(self.dir .. "/hello")))
    local q = assert(luds.exec({ "./hello" }, { cwd = self.dir, stdout = "pipe" }))
    lu.assertEquals(H.read_all(q.stdout), "hello from " .. self.dir .. "\n")
    lu.assertEquals(q:wait(), 0)
    H.assert_fails("ENOENT", "chdir " .. self.dir .. "/nope: no such file or directory",
      luds.exec({ "true" }, { cwd = self.dir .. "/nope" }))
    H.assert_fails("ENOTDIR", "chdir " .. self.dir .. "/hello: not a directory",
      luds.exec({ "true" }, { cwd = self.dir .. "/hello" }))
    lu.assertEquals(zombies(), 0)
  end)
end

function TestExec:test_null_stdio()
  H.run(function()
    local p = assert(luds.exec({ "cat" }, { stdin = "null", stdout = "pipe" }))
    lu.assertEquals(H.read_all(p.stdout), "")
    lu.assertEquals(p:wait(), 0)
    local q = assert(luds.exec({ "python3", "-c", "print('lost'); " .. PY_LINKS },
      { stdout = "null", stderr = "pipe", stdin = "null" }))
    lu.assertEquals(H.read_all(q.stderr), "/dev/null\n/dev/null\n")
    lu.assertEquals(q:wait(), 0)
  end)
end

function TestExec:test_socket_as_stdout_and_stdin()
  H.run(function()
    local client, server = T.pair()
    local p = assert(luds.exec({ "sh", "-c", "read x; echo \"got $x\"" }, { stdin = server, stdout = server }))
    assert(client:write("hello\n"))
    lu.assertEquals(client:read_line(), "got hello")
    lu.assertEquals(p:wait(), 0)
    -- the parent's socket is untouched by the child's copy
    lu.assertEquals(server:write("still\n"), 6)
    lu.assertEquals(client:read_line(), "still")
  end)
end

function TestExec:test_fd_number_as_stdout()
  H.run(function()
    local client, server = T.pair()
    local p = assert(luds.exec({ "sh", "-c", "echo via-fd" }, { stdout = server:fd() }))
    lu.assertEquals(client:read_line(), "via-fd")
    lu.assertEquals(p:wait(), 0)
    -- the child's 0 and 1 given as each other's: neither dup2 may clobber
    -- the source of the other
    local mine = H.sh(("readlink /proc/%d/fd/0 /proc/%d/fd/1"):format(H.pid(), H.pid()))
    local q = assert(luds.exec({ "python3", "-c", PY_LINKS }, { stdin = 1, stdout = 0, stderr = "pipe" }))
    lu.assertEquals(H.read_all(q.stderr), mine)
    lu.assertEquals(q:wait(), 0)
  end)
end

function TestExec:test_stderr_to_stdout()
  H.run(function()
    local p = assert(luds.exec({ "sh", "-c", "echo a; echo b >&2; echo c" }, { stdout = "pipe", stderr = "stdout" }))
    lu.assertNil(p.stderr)
    lu.assertEquals(H.read_all(p.stdout), "a\nb\nc\n")
    lu.assertEquals(p:wait(), 0)
  end)
end

-- Only the descriptors asked for reach the child: not even one this
-- process holds without CLOEXEC (io.open), nor a socket.
function TestExec:test_only_asked_descriptors_reach_the_child()
  H.run(function()
    local f <close> = assert(io.open(self.dir .. "/held", "w"))
    local client, server = T.pair()
    local p = assert(luds.exec({ "python3", "-c",
      "import os; print(sorted(int(f) for f in os.listdir('/proc/self/fd')))" }, { stdout = "pipe" }))
    lu.assertEquals(H.read_all(p.stdout), "[0, 1, 2, 3]\n") -- 3: listdir's own
    lu.assertEquals(p:wait(), 0)
    local q = assert(luds.exec({ "python3", "-c", [[
import os, socket
print(sorted(int(f) for f in os.listdir('/proc/self/fd')))
s = socket.socket(fileno=3)
s.sendall(b'from fd 3')
os.write(4, b'from fd 4')
]] }, { stdout = "pipe", extra_fds = { server, client:fd() } }))
    lu.assertEquals(H.read_all(q.stdout), "[0, 1, 2, 3, 4, 5]\n")
    lu.assertEquals(q:wait(), 0)
    lu.assertEquals(client:read_full(9), "from fd 3")
    lu.assertEquals(server:read_full(9), "from fd 4")
  end)
end

function TestExec:test_wait_twice_and_kill_after_exit()
  H.run(function()
    local p = assert(luds.exec({ "sh", "-c", "exit 7" }))
    lu.assertEquals(p:wait(), 7)
    lu.assertEquals(p:wait(), 7)
    lu.assertEquals(tostring(p), ("process %d sh (exit 7)"):format(p.pid))
    H.assert_fails("ESRCH", ("kill sh %d: process already finished"):format(p.pid), p:kill())
    H.assert_fails("ESRCH", nil, p:kill("KILL"))
    local q = assert(luds.exec({ "sleep", "30" }))
    lu.assertEquals(tostring(q), ("process %d sleep (running)"):format(q.pid))
    lu.assertTrue(q:kill(0)) -- only checks
    lu.assertTrue(q:kill("SIGKILL"))
    local first = { q:wait() }
    lu.assertEquals(first, { nil, ("wait sleep %d: killed by signal 9 (KILL)"):format(q.pid), "SIGNALED", 9 })
    lu.assertEquals({ q:wait() }, first)
  end)
end

function TestExec:test_kill_by_number_and_name()
  H.run(function()
    for _, sig in ipairs({ 15, "TERM", "SIGUSR1", "HUP", 2 }) do
      local p = assert(luds.exec({ "sleep", "30" }))
      lu.assertTrue(p:kill(sig))
      local _, _, code, n = p:wait(5)
      lu.assertEquals(code, "SIGNALED")
      lu.assertEquals(n, ({ TERM = 15, SIGUSR1 = 10, HUP = 1 })[sig] or sig)
    end
  end)
end

-- Many tasks may wait for one child; a timed-out wait leaves it running.
function TestExec:test_several_waiters_and_timeout()
  H.run(function()
    local p = assert(luds.exec({ "sh", "-c", "read x; exit 3" }, { stdin = "pipe" }))
    local ts = {}
    for i = 1, 5 do ts[i] = luds.spawn(function() return p:wait() end) end
    H.assert_fails("TIMEOUT", nil, p:wait(0.05))
    H.assert_fails("TIMEOUT", nil, p:wait(0))
    p.stdin:write("\n")
    for i = 1, 5 do lu.assertEquals({ ts[i]:wait(5) }, { true, 3 }) end
    lu.assertEquals(p:wait(), 3)
  end)
end

-- A dropped process object is still reaped when its child ends.
function TestExec:test_collected_while_running_is_reaped()
  H.run(function()
    local pid
    do
      local p = assert(luds.exec({ "sleep", "0.1" }))
      pid = p.pid
    end
    collectgarbage()
    collectgarbage()
    lu.assertNotNil(children()[pid])
    wait_reaped(pid)
    lu.assertEquals(zombies(), 0)
    lu.assertNil(H.slurp("/proc/" .. pid .. "/stat"))
  end)
end

-- A child nobody waits for is reaped as soon as it ends, even while its
-- object lives: no zombie piles up under a server that never waits.
function TestExec:test_unwaited_child_is_reaped_and_status_kept()
  H.run(function()
    local p = assert(luds.exec({ "sh", "-c", "exit 5" }))
    wait_reaped(p.pid)
    lu.assertEquals(p:wait(), 5)
  end)
end

function TestExec:test_cancelled_waiter_child_still_reaped()
  H.run(function()
    local p = assert(luds.exec({ "sleep", "0.2" }))
    local t = luds.spawn(function() return p:wait() end)
    H.wait_parked(t)
    lu.assertTrue(t:cancel())
    local other = luds.spawn(function() return p:wait() end)
    wait_reaped(p.pid)
    lu.assertEquals({ other:wait(5) }, { true, 0 })
    lu.assertEquals(p:wait(), 0)
  end)
end

function TestExec:test_closed_socket_is_refused()
  H.run(function()
    local client, server = H.pair(self.dir)
    server:close()
    local before = H.fd_count()
    H.assert_fails("CLOSED", "exec true: use of closed connection",
      luds.exec({ "true" }, { stdout = server, stdin = "pipe" }))
    lu.assertEquals(H.fd_count(), before)
    H.assert_fails("EBADF", "exec true: bad file descriptor", luds.exec({ "true" }, { stdout = 999999 }))
    lu.assertEquals(zombies(), 0)
    client:close()
  end)
end

-- The pipes are stream conns with what makes sense on a pipe end.
function TestExec:test_pipe_conn_methods()
  H.run(function()
    local p = assert(luds.exec({ "cat" }, { stdin = "pipe", stdout = "pipe" }))
    lu.assertEquals(tostring(p.stdin), "pipe conn")
    H.assert_fails("EOPNOTSUPP", "close_read pipe: operation not supported", p.stdin:close_read())
    H.assert_fails("EOPNOTSUPP", "close_write pipe: operation not supported", p.stdout:close_write())
    H.assert_fails("ENOTSOCK", "remote_addr pipe: socket operation on non-socket", p.stdout:remote_addr())
    H.assert_fails("ENOTSOCK", nil, p.stdout:local_addr())
    H.assert_fails("EOPNOTSUPP", nil, p.stdout:peer_cred())
    H.assert_fails("EOPNOTSUPP", nil, p.stdin:send_fds("x", { 0 }))
    H.assert_fails("EOPNOTSUPP", nil, p.stdout:recv_fds())
    p.stdout:set_read_deadline(luds.now() + 0.05)
    H.assert_fails("TIMEOUT", "read pipe: i/o timeout", p.stdout:read())
    p.stdout:set_read_deadline(nil)
    assert(p.stdin:write("line one\nline two\nrest"))
    lu.assertTrue(p.stdin:close_write())
    lu.assertEquals(tostring(p.stdin), "pipe conn (closed)")
    lu.assertEquals(p.stdout:read_line(), "line one")
    lu.assertEquals(p.stdout:read_full(5), "line ")
    lu.assertEquals(p.stdout:read_line(), "two")
    lu.assertEquals(p.stdout:read(), "rest")
    lu.assertEquals({ p.stdout:read() }, { nil, "EOF", "EOF" })
    lu.assertEquals(p:wait(), 0)
    lu.assertTrue(p.stdout:close_read())
    H.assert_fails("CLOSED", nil, p.stdout:read())
  end)
end

-- A write to a pipe whose reader has gone is EPIPE, not the end of us.
function TestExec:test_epipe_on_a_dead_reader()
  H.run(function()
    local p = assert(luds.exec({ "true" }, { stdin = "pipe" }))
    lu.assertEquals(p:wait(), 0)
    local v, msg, code, done = p.stdin:write(("x"):rep(MiB))
    lu.assertEquals({ v, msg, code, done }, { nil, "write pipe: broken pipe", "EPIPE", 0 })
  end)
end

-- socket a -> cat's stdin, cat's stdout -> socket b, all by luds.copy.
function TestExec:test_copy_between_sockets_and_child()
  H.run(function()
    local a_client, a_server = H.pair(self.dir, "a.sock")
    local b_client, b_server = H.pair(self.dir, "b.sock")
    local p = assert(luds.exec({ "cat" }, { stdin = "pipe", stdout = "pipe" }))
    local input = H.pattern(4 * MiB)
    local up = luds.spawn(function()
      local n = luds.copy(p.stdin, a_server)
      p.stdin:close()
      return n
    end)
    local down = luds.spawn(function()
      local n = luds.copy(b_server, p.stdout)
      b_server:close_write()
      return n
    end)
    luds.spawn(function() assert(a_client:write(input)) a_client:close_write() end)
    lu.assertTrue(H.read_all(b_client) == input, "bytes differ")
    lu.assertEquals({ up:wait(10) }, { true, 4 * MiB })
    lu.assertEquals({ down:wait(10) }, { true, 4 * MiB })
    lu.assertEquals(p:wait(), 0)
  end, 20)
end

function TestExec:test_copy_pipe_to_socket_exact()
  H.run(function()
    local client, server = T.pair()
    local p = assert(luds.exec(py_pattern(3 * MiB), { stdout = "pipe" }))
    local t = luds.spawn(function() local n = luds.copy(server, p.stdout) server:close_write() return n end)
    lu.assertTrue(H.read_all(client) == H.pattern(3 * MiB), "bytes differ")
    lu.assertEquals({ t:wait(5) }, { true, 3 * MiB })
    lu.assertEquals(p:wait(), 0)
  end, 20)
end

-- Closing a pipe conn wakes the task blocked reading it.
function TestExec:test_close_wakes_a_pipe_reader()
  H.run(function()
    local p = assert(luds.exec({ "sleep", "30" }, { stdout = "pipe" }))
    local t = luds.spawn(function() return p.stdout:read() end)
    H.wait_parked(t)
    p.stdout:close()
    lu.assertEquals({ t:wait(1) }, { true, nil, "read pipe: use of closed connection", "CLOSED" })
    p:kill("KILL")
    lu.assertEquals(select(3, p:wait()), "SIGNALED")
  end)
end

TestBadInputs = H.suite()

function TestBadInputs:test_raises()
  H.run(function()
    H.assert_raises({ "bad argument #1", "table expected" }, luds.exec, "ls")
    H.assert_raises({ "bad argument #1", "argv must name a program" }, luds.exec, {})
    H.assert_raises({ "argv[2] must be a string without NUL bytes" }, luds.exec, { "ls", 1 })
    H.assert_raises({ "argv[1] must be a string" }, luds.exec, { {} })
    H.assert_raises({ "argv[2] must be a string without NUL bytes" }, luds.exec, { "ls", "a\0b" })
    H.assert_raises({ "bad argument #2", "table expected" }, luds.exec, { "ls" }, "x")
    H.assert_raises({ "unknown option 'stdot'; accepted: cwd, env, extra_fds, stderr, stdin, stdout" },
      luds.exec, { "ls" }, { stdot = "pipe" })
    H.assert_raises({ "option names must be strings" }, luds.exec, { "ls" }, { [1] = "pipe" })
    H.assert_raises({ "option 'stdin' must be \"inherit\", \"null\", \"pipe\", a luds socket or an fd" },
      luds.exec, { "ls" }, { stdin = "bogus" })
    H.assert_raises({ "option 'stdin'" }, luds.exec, { "ls" }, { stdin = "stdout" })
    H.assert_raises({ "option 'stdout'" }, luds.exec, { "ls" }, { stdout = -1 })
    H.assert_raises({ "option 'stdout'" }, luds.exec, { "ls" }, { stdout = 1.5 })
    H.assert_raises({ "option 'stderr' must be" }, luds.exec, { "ls" }, { stderr = {} })
    H.assert_raises({ "option 'env' must be a table" }, luds.exec, { "ls" }, { env = "A=1" })
    H.assert_raises({ "option 'env' must map names to strings" }, luds.exec, { "ls" }, { env = { A = true } })
    H.assert_raises({ "option 'env' must map names to strings" }, luds.exec, { "ls" }, { env = { "A=1" } })
    H.assert_raises({ "option 'env' names must be non-empty, without '='" }, luds.exec, { "ls" }, { env = { ["A=B"] = "1" } })
    H.assert_raises({ "option 'env' names" }, luds.exec, { "ls" }, { env = { A = "1\0" } })
    H.assert_raises({ "option 'cwd' must be a path without NUL bytes" }, luds.exec, { "ls" }, { cwd = 1 })
    H.assert_raises({ "option 'extra_fds' must be a list" }, luds.exec, { "ls" }, { extra_fds = 3 })
    H.assert_raises({ "option 'extra_fds' must be a list" }, luds.exec, { "ls" }, { extra_fds = { "3" } })
    local many = {}
    for i = 1, 62 do many[i] = 1 end
    H.assert_raises({ "option 'extra_fds' holds more than 61" }, luds.exec, { "ls" }, { extra_fds = many })
    local p = assert(luds.exec({ "sleep", "30" }))
    H.assert_raises({ "bad argument #2", "unknown signal 'NOPE'" }, p.kill, p, "NOPE")
    H.assert_raises({ "bad argument #2", "not a signal number" }, p.kill, p, -1)
    H.assert_raises({ "bad argument #2", "not a signal number" }, p.kill, p, 99)
    H.assert_raises({ "bad argument #2" }, p.kill, p, {})
    H.assert_raises({ "bad argument #1", "luds.process expected" }, p.wait, {})
    H.assert_raises({ "bad argument #2" }, p.wait, p, "soon")
    p:kill("KILL")
    p:wait()
    lu.assertEquals(zombies(), 0)
  end)
end

-- A metatable-level __gc called by a script leaves a usable (if closed)
-- object; the child is still reaped.
function TestBadInputs:test_explicit_gc_then_use()
  H.run(function()
    local p = assert(luds.exec({ "sleep", "0.05" }))
    local pid = p.pid
    getmetatable(p).__gc(p)
    getmetatable(p).__gc(p)
    H.assert_fails("CLOSED", nil, p:wait())
    H.assert_fails("CLOSED", nil, p:kill())
    lu.assertEquals(tostring(p), ("process %d sleep"):format(pid))
    wait_reaped(pid)
  end)
end

-- Deadlocks: a child nobody waits for is no reason to wait forever; one a
-- task waits for is.
TestDeadlock = H.suite()

function TestDeadlock:test_unwaited_child_does_not_hide_a_deadlock()
  H.run(function()
    local out, err, status = H.exec_lua([[
local luds = require "luds"
local p = luds.exec({ "sleep", "30" })
luds.channel():recv()]], 10)
    lu.assertEquals(status, 2)
    lu.assertEquals(out, "")
    lu.assertStrContains(err, "luds: all tasks are asleep - deadlock!")
    lu.assertStrContains(err, "[channel receive]")
  end, 15)
end

function TestDeadlock:test_waiting_for_a_child_is_no_deadlock()
  H.run(function()
    local out, err, status = H.exec_lua([[
local luds = require "luds"
local p = luds.exec({ "sleep", "0.2" })
local t = luds.spawn(function() return p:wait() end)
print(t:wait())]], 10)
    lu.assertEquals({ out, err, status }, { "true\t0\n", "", 0 })
  end, 15)
end

TestOutput = H.suite()

function TestOutput:test_10mib_exact()
  H.run(function()
    local out, err, status = luds.output(py_pattern(10 * MiB))
    lu.assertEquals(#out, 10 * MiB)
    lu.assertTrue(out == H.pattern(10 * MiB), "bytes differ")
    lu.assertEquals({ err, status }, { "", 0 })
  end, 30)
end

-- The child fills stderr before it writes a byte to stdout: both pipes
-- must be read at once.
function TestOutput:test_stdout_and_stderr_read_concurrently()
  H.run(function()
    local out, err, status = luds.output({ "python3", "-c",
      "import sys; sys.stderr.buffer.write(b'e' * (1 << 21)); sys.stderr.flush(); "
      .. "sys.stdout.buffer.write(b'o' * (1 << 21)); sys.exit(3)" })
    lu.assertTrue(out == ("o"):rep(1 << 21) and err == ("e"):rep(1 << 21), "bytes differ")
    lu.assertEquals(status, 3)
  end, 20)
end

function TestOutput:test_input_and_combined()
  H.run(function()
    local input = H.pattern(3 * MiB)
    local out, err, status = luds.output({ "cat" }, { input = input })
    lu.assertTrue(out == input, "bytes differ")
    lu.assertEquals({ err, status }, { "", 0 })
    lu.assertEquals({ luds.output({ "sh", "-c", "echo a; echo b >&2; echo c" }, { stderr = "stdout" }) },
      { "a\nb\nc\n", "", 0 })
    lu.assertEquals({ luds.output({ "sh", "-c", "cat >/dev/null; echo done" }, { input = "" }) }, { "done\n", "", 0 })
    -- a child that does not read its input: EPIPE is not an error
    lu.assertEquals({ luds.output({ "true" }, { input = ("x"):rep(MiB) }) }, { "", "", 0 })
    lu.assertEquals({ luds.output({ "/usr/bin/env" }, { env = { X = "1" }, cwd = self.dir }) }, { "X=1\n", "", 0 })
  end, 20)
end

function TestOutput:test_failures()
  if H.valgrind() then lu.skip("valgrind forks where posix_spawn vforks: no exec failure to see") end
  H.run(function()
    H.assert_fails("ENOENT", "exec no-such-program-luds: no such file or directory",
      luds.output({ "no-such-program-luds" }))
    local v, msg, code, sig = luds.output({ "sh", "-c", "echo partial; kill -9 $$" })
    lu.assertEquals({ v, code, sig }, { nil, "SIGNALED", 9 })
    lu.assertStrMatches(msg, "wait sh %d+: killed by signal 9 %(KILL%)")
    local t0 = luds.now()
    v, msg, code = luds.output({ "sh", "-c", "echo started; exec sleep 30" }, { timeout = 0.2 })
    lu.assertEquals({ v, code }, { nil, "TIMEOUT" })
    lu.assertStrMatches(msg, "output sh %d+: i/o timeout")
    lu.assertTrue(luds.now() - t0 < 5)
    lu.assertEquals(zombies(), 0)
    lu.assertEquals(next(children()), nil)
    H.assert_raises({ "bad argument #2 to 'output' (unknown option 'stdout'" }, luds.output, { "true" }, { stdout = "pipe" })
    H.assert_raises({ "options 'input' and 'stdin' exclude each other" }, luds.output, { "true" }, { input = "", stdin = "null" })
    H.assert_raises({ "option 'input' must be a string" }, luds.output, { "true" }, { input = 1 })
    H.assert_raises({ "option 'timeout' must be a number" }, luds.output, { "true" }, { timeout = -1 })
    H.assert_raises({ "bad argument #2 to 'output' (table expected, got string)" }, luds.output, { "true" }, "x")
    H.assert_raises({ "argv must name a program" }, luds.output, {})
  end, 15)
end

-- A task cancelled inside output leaves no child running: it is killed
-- (and then reaped), and the pipes are closed.
function TestOutput:test_cancelled_output_kills_the_child()
  H.run(function()
    local before = H.fd_count()
    local t = luds.spawn(function() return luds.output({ "sleep", "30" }) end)
    H.wait_for("the child", function() return next(children()) end)
    H.wait_parked(t)
    lu.assertTrue(t:cancel())
    H.wait_for("no child left", function() return next(children()) == nil end)
    lu.assertEquals(H.fd_count(), before)
  end)
end

luds.exit(T.run())
