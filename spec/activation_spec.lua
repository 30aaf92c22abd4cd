-- Socket activation (issue 8): luds.listeners_from_env adopts the sockets a
-- service manager passed on fds 3.. (the systemd protocol), and the example
-- server examples/activated_echo.lua serves them. A python3 stand-in for the
-- manager binds the sockets, moves them to fds 3.., sets LISTEN_* and execs
-- luds (exec keeps its pid, so LISTEN_PID can name the luds process).
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

local EXAMPLE = H.ROOT .. "/examples/activated_echo.lua"
local NOTIFY = H.ROOT .. "/examples/notify.lua"

-- python3 ACTIVATE PID FDS SPEC... -- PROGRAM ARGS...
-- PID: "self" (LISTEN_PID = this pid, which the exec keeps), "parent" (a pid
-- that is not the program's) or "none" (unset). FDS: "count" (the number of
-- SPECs), "none" (unset) or a literal value. LISTEN_FDNAMES passes through
-- from the environment. SPEC n lands on fd 2+n: KIND=ADDRESS with KIND unix,
-- unixpacket, unixgram, tcp or udp (bound; listening unless a datagram kind),
-- conn (a unix stream connected to ADDRESS), file (ADDRESS opened read-only)
-- or closed= (nothing open there); a "+cred" after KIND sets SO_PASSCRED
-- (systemd's PassCredentials=yes). Before the exec it prints one line
-- "fd N HOST:PORT" for each tcp or udp socket (bound to port 0 by the caller).
local ACTIVATE = [[
import fcntl, os, socket, sys
KINDS = {"unix": (socket.AF_UNIX, socket.SOCK_STREAM),
         "conn": (socket.AF_UNIX, socket.SOCK_STREAM),
         "unixpacket": (socket.AF_UNIX, socket.SOCK_SEQPACKET),
         "unixgram": (socket.AF_UNIX, socket.SOCK_DGRAM),
         "tcp": (socket.AF_INET, socket.SOCK_STREAM),
         "udp": (socket.AF_INET, socket.SOCK_DGRAM)}
pid, fds = sys.argv[1], sys.argv[2]
sep = sys.argv.index("--")
specs, cmd = sys.argv[3:sep], sys.argv[sep + 1:]
held, lines = [], []
for spec in specs:
    kind, _, where = spec.partition("=")
    kind, cred = kind.split("+")[0], kind.endswith("+cred")
    if kind == "closed":
        held.append(None)
        continue
    if kind == "file":
        held.append(os.open(where, os.O_RDONLY))
        continue
    family, type_ = KINDS[kind]
    s = socket.socket(family, type_)
    if cred:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    if family == socket.AF_INET:
        host, port = where.rsplit(":", 1)
        s.bind((host, int(port)))
        lines.append("fd %d %s:%d" % ((3 + len(held),) + s.getsockname()))
    elif kind == "conn":
        s.connect(where)
    else:
        s.bind(where)
    if kind != "conn" and type_ != socket.SOCK_DGRAM:
        s.listen(16)
    held.append(s)
# Out of the way first, then into place, so that no dup2 lands on a
# descriptor still in use.
high = []
for h in held:
    if h is None:
        high.append(None)
        continue
    fd = h if isinstance(h, int) else h.fileno()
    high.append(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100))
    os.close(h) if isinstance(h, int) else h.close()
for i, fd in enumerate(high):
    if fd is None:
        try:
            os.close(3 + i)
        except OSError:
            pass
    else:
        os.dup2(fd, 3 + i)  # inheritable: survives the exec
        os.close(fd)
env = dict(os.environ)
if pid == "self":
    env["LISTEN_PID"] = str(os.getpid())
elif pid == "parent":
    env["LISTEN_PID"] = str(os.getppid())
if fds == "count":
    env["LISTEN_FDS"] = str(len(specs))
elif fds != "none":
    env["LISTEN_FDS"] = fds
for line in lines:
    print(line)
sys.stdout.flush()
os.execve(cmd[0], cmd, env)
]]

-- The shell command that activates `program` (a list of arguments) with the
-- sockets in `specs`; opts.pid and opts.fds as above, opts.names sets
-- LISTEN_FDNAMES, opts.env adds "NAME=value" settings.
local function activate(specs, program, opts)
  opts = opts or {}
  local words = { "env" }
  if opts.names then words[#words + 1] = H.q("LISTEN_FDNAMES=" .. opts.names) end
  for _, setting in ipairs(opts.env or {}) do words[#words + 1] = H.q(setting) end
  words[#words + 1] = "python3 -c " .. H.q(ACTIVATE)
  words[#words + 1] = opts.pid or "self"
  words[#words + 1] = H.q(opts.fds or "count")
  for _, spec in ipairs(specs) do words[#words + 1] = H.q(spec) end
  words[#words + 1] = "--"
  for _, a in ipairs(program) do words[#words + 1] = H.q(a) end
  return table.concat(words, " ")
end

-- A luds program running `code` (which sees the LISTEN_* settings) with
-- arg[1], ... set to the extra arguments (see H.arg_chunk).
local function luds_e(code, ...) return { H.LUDS, "-e", H.arg_chunk(...), "-e", code } end

-- Prints what listeners_from_env adopted, one line per object in fd order
-- ("FD KIND NAME[i] tostring"), then "env" and what is left of LISTEN_* in the
-- environment, then "child" and what a child process inherits of it.
local SHOW = [[
io.stdout:setvbuf("line")
local luds = require "luds"
local list, names, code = luds.listeners_from_env()
if not list then print("failed", code, names) return end
local named, total = {}, 0
for name, objs in pairs(names) do
  for i, obj in ipairs(objs) do named[obj] = ("%s[%d]"):format(name, i) total = total + 1 end
end
print("adopted", #list, "named", total)
for _, obj in ipairs(list) do
  print(obj:fd(), getmetatable(obj).kind, named[obj], tostring(obj))
end
print("env", os.getenv("LISTEN_PID"), os.getenv("LISTEN_FDS"), os.getenv("LISTEN_FDNAMES"))
local p <close> = io.popen("env | grep ^LISTEN_ | sort")
print("child", (p:read("a"):gsub("\n", " ")))
]]

-- The open flags of descriptor fd of the process reading this, from /proc.
local FLAGS = [[
local function flags(fd)
  local info = io.open("/proc/self/fdinfo/" .. fd)
  if not info then return "closed" end
  local f = tonumber(info:read("a"):match("flags:%s*(%d+)"), 8)
  info:close()
  return ("nonblock=%s cloexec=%s"):format(f & tonumber("4000", 8) ~= 0, f & tonumber("2000000", 8) ~= 0)
end
]]

TestActivation = H.suite()

-- One named unix stream listener: adopted as a listener under its name, it
-- echoes, LISTEN_* are gone (from the process and from its children), and
-- closing it leaves the socket file, which belongs to the manager.
function TestActivation:test_one_named_listener_echoes_and_leaves_its_file()
  H.run(function()
    local path = self.dir .. "/echo.sock"
    local script = SHOW .. [[
local ln = names.echo[1]
assert(ln == list[1] and #names.echo == 1)
local c <close> = assert(ln:accept())
repeat local data = c:read() until not data or not c:write(data)
ln:close()
print("closed", tostring(ln), luds.stat(arg[1]).type)
local again, again_names = luds.listeners_from_env()
print("again", #again, next(again_names))
]]
    local p = H.start(activate({ "unix=" .. path }, luds_e(script, path), { names = "echo" }))
    H.wait_for("the adoption", function() return (p:stdout() or ""):find("\nchild\t") end)
    local c <close> = assert(luds.dial("unix", path))
    lu.assertEquals(c:write("through fd 3"), 12)
    lu.assertEquals(c:read_full(12), "through fd 3")
    c:close()
    lu.assertEquals(H.wait_exit(p), 0)
    lu.assertEquals(p:stdout(), table.concat({
      "adopted\t1\tnamed\t1",
      "3\tlistener\techo[1]\tunix listener " .. path,
      "env\tnil\tnil\tnil",
      "child\t",
      "closed\tunix listener (closed)\tsocket",
      "again\t0\tnil",
      "" }, "\n"))
    lu.assertEquals(p:stderr(), "")
    lu.assertEquals(luds.stat(path).type, "socket")
  end, 10)
end

-- Every kind on one activation, each adopted as the right object under its
-- name, and each working: the listeners accept, the datagram sockets
-- receive, the passed conn writes to its peer (this process).
function TestActivation:test_every_kind_adopted_as_the_right_object()
  H.run(function()
    local d = self.dir
    local peer <close> = assert(luds.listen("unix", d .. "/peer.sock"))
    local specs = { "unix=" .. d .. "/s.sock", "unixgram=" .. d .. "/g.sock",
      "unixpacket=" .. d .. "/p.sock", "tcp=127.0.0.1:0", "udp=127.0.0.1:0",
      "conn=" .. d .. "/peer.sock" }
    local script = SHOW .. [[
local function try(obj)
  local kind, net = getmetatable(obj).kind, tostring(obj):match("^%S+")
  if kind == "listener" then
    local c <close> = assert(luds.dial(net, obj:addr()))
    local s <close> = assert(obj:accept())
    assert(c:write("hi " .. net))
    return s:read()
  elseif kind == "packet conn" then
    local c <close> = assert(luds.dial(net, obj:local_addr()))
    assert(c:write("hi " .. net))
    return (obj:read_from())
  end
  return obj:write("hi from the adopted conn")
end
for _, obj in ipairs(list) do print(try(obj)) end
]]
    local out, err, status = H.exec(activate(specs, luds_e(script),
      { names = "stream:gram:packet:web:dns:peer" }))
    lu.assertEquals({ err, status }, { "", 0 })
    local tcp, udp = out:match("^fd 6 (127%.0%.0%.1:%d+)\nfd 7 (127%.0%.0%.1:%d+)\n")
    lu.assertNotNil(tcp, out)
    lu.assertEquals(out, table.concat({
      "fd 6 " .. tcp, "fd 7 " .. udp,
      "adopted\t6\tnamed\t6",
      "3\tlistener\tstream[1]\tunix listener " .. d .. "/s.sock",
      "4\tpacket conn\tgram[1]\tunixgram packet conn " .. d .. "/g.sock",
      "5\tlistener\tpacket[1]\tunixpacket listener " .. d .. "/p.sock",
      "6\tlistener\tweb[1]\ttcp listener " .. tcp,
      "7\tpacket conn\tdns[1]\tudp packet conn " .. udp,
      "8\tconn\tpeer[1]\tunix conn -> " .. d .. "/peer.sock",
      "env\tnil\tnil\tnil",
      "child\t",
      "hi unix", "hi unixgram", "hi unixpacket", "hi tcp", "hi udp", "24",
      "" }, "\n"))
    -- the passed conn was a real connection to this process
    local s <close> = assert(peer:accept())
    lu.assertEquals(s:read_full(24), "hi from the adopted conn")
    H.assert_fails("EOF", "EOF", s:read())
  end, 20)
end

-- Names as sd_listen_fds_with_names gives them: one name on several fds
-- lists them all in fd order; without LISTEN_FDNAMES every fd is "unknown".
function TestActivation:test_names_shared_and_unknown()
  H.run(function()
    local d = self.dir
    local specs = { "unix=" .. d .. "/a.sock", "unix=" .. d .. "/b.sock", "unixgram=" .. d .. "/c.sock" }
    local out, err, status = H.exec(activate(specs, luds_e(SHOW), { names = "api:api:log" }))
    lu.assertEquals({ err, status }, { "", 0 })
    lu.assertEquals(out, table.concat({
      "adopted\t3\tnamed\t3",
      "3\tlistener\tapi[1]\tunix listener " .. d .. "/a.sock",
      "4\tlistener\tapi[2]\tunix listener " .. d .. "/b.sock",
      "5\tpacket conn\tlog[1]\tunixgram packet conn " .. d .. "/c.sock",
      "env\tnil\tnil\tnil", "child\t", "" }, "\n"))
    specs = { "unix=" .. d .. "/d.sock", "unixgram=" .. d .. "/e.sock" }
    out, err, status = H.exec(activate(specs, luds_e(SHOW)))
    lu.assertEquals({ err, status }, { "", 0 })
    lu.assertEquals(out, table.concat({
      "adopted\t2\tnamed\t2",
      "3\tlistener\tunknown[1]\tunix listener " .. d .. "/d.sock",
      "4\tpacket conn\tunknown[2]\tunixgram packet conn " .. d .. "/e.sock",
      "env\tnil\tnil\tnil", "child\t", "" }, "\n"))
    -- fewer names than fds, and an empty name: "unknown" where none is given
    specs = { "unix=" .. d .. "/f.sock", "unix=" .. d .. "/g.sock", "unix=" .. d .. "/h.sock" }
    out, err, status = H.exec(activate(specs, luds_e(SHOW), { names = "first:" }))
    lu.assertEquals({ err, status }, { "", 0 })
    lu.assertEquals(out, table.concat({
      "adopted\t3\tnamed\t3",
      "3\tlistener\tfirst[1]\tunix listener " .. d .. "/f.sock",
      "4\tlistener\tunknown[1]\tunix listener " .. d .. "/g.sock",
      "5\tlistener\tunknown[2]\tunix listener " .. d .. "/h.sock",
      "env\tnil\tnil\tnil", "child\t", "" }, "\n"))
  end, 20)
end

-- A datagram socket the manager set up with SO_PASSCRED (PassCredentials=yes
-- in a .socket unit) reports each sender's credentials, as one made with
-- listen_packet's passcred = true does.
function TestActivation:test_passcred_socket_reports_credentials()
  H.run(function()
    local path = self.dir .. "/n.sock"
    local script = [[
local luds = require "luds"
local pc = luds.listeners_from_env()[1]
local c <close> = assert(luds.dial("unixgram", arg[1]))
assert(c:write("READY=1"))
local data, from, cred = pc:read_from()
local pid = tonumber(io.open("/proc/self/stat"):read("a"):match("^%d+"))
print(data, from == c:local_addr(), cred and cred.pid == pid, cred and cred.uid, cred and cred.gid)
]]
    local out, err, status = H.exec(activate({ "unixgram+cred=" .. path }, luds_e(script, path)))
    lu.assertEquals({ out, err, status }, { "READY=1\ttrue\ttrue\t0\t0\n", "", 0 })
  end, 10)
end

-- LISTEN_PID names another process: not ours, so nothing is adopted and
-- nothing is touched: fd 3 stays open, blocking and inheritable, still a
-- listening socket, and the settings stay as they were.
function TestActivation:test_listen_pid_not_ours_adopts_nothing()
  H.run(function()
    local path = self.dir .. "/x.sock"
    local script = FLAGS .. [[
local luds = require "luds"
local list, names = luds.listeners_from_env()
print(#list, next(names), flags(3))
local ppid = io.open("/proc/self/stat"):read("a"):match("^%d+ %S+ %S+ (%d+)")
print(os.getenv("LISTEN_PID") == ppid, os.getenv("LISTEN_FDS"), os.getenv("LISTEN_FDNAMES"))
local c <close> = assert(luds.dial("unix", arg[1]))
print("dial", tostring(c))
]]
    local out, err, status = H.exec(activate({ "unix=" .. path }, luds_e(script, path),
      { pid = "parent", names = "echo" }))
    -- the script reads its parent's pid (field 4 of /proc/self/stat) to
    -- check LISTEN_PID was left alone
    lu.assertEquals({ out, err, status }, { table.concat({
      "0\tnil\tnonblock=false cloexec=false",
      "true\t1\techo",
      "dial\tunix conn -> " .. path, "" }, "\n"), "", 0 })
  end, 10)
end

-- LISTEN_PID unset, or LISTEN_FDS unset: not activated, nothing adopted.
function TestActivation:test_unset_settings_adopt_nothing()
  H.run(function()
    local path = self.dir .. "/x.sock"
    local script = FLAGS .. [[
local luds = require "luds"
local list, names = luds.listeners_from_env()
print(#list, next(names), flags(3), os.getenv("LISTEN_PID") ~= nil, os.getenv("LISTEN_FDS"))
]]
    for _, case in ipairs({
      { pid = "none", fds = "count", want = "0\tnil\tnonblock=false cloexec=false\tfalse\t1\n" },
      { pid = "self", fds = "none", want = "0\tnil\tnonblock=false cloexec=false\ttrue\tnil\n" },
      { pid = "none", fds = "none", want = "0\tnil\tnonblock=false cloexec=false\tfalse\tnil\n" },
    }) do
      local out, err, status = H.exec(activate({ "unix=" .. path }, luds_e(script), case))
      lu.assertEquals({ out, err, status }, { case.want, "", 0 }, case.pid .. " " .. case.fds)
      os.remove(path)
    end
    -- and a plain process, never activated
    local plain = "local list, names = require('luds').listeners_from_env() print(#list, next(names))"
    local out, err, status = H.exec(("%s -e %s"):format(H.q(H.LUDS), H.q(plain)))
    lu.assertEquals({ out, err, status }, { "0\tnil\n", "", 0 })
  end, 10)
end

-- LISTEN_FDS=0 is valid (nothing passed); a value that is not a count is
-- EINVAL, and nothing is adopted.
function TestActivation:test_bad_listen_fds_is_einval()
  H.run(function()
    local path = self.dir .. "/x.sock"
    local script = FLAGS .. [[
local luds = require "luds"
local list, msg, code = luds.listeners_from_env()
if list then list, msg = #list, tostring(next(msg)) end
print(list, msg, code, flags(3))
]]
    local out, err, status = H.exec(activate({ "unix=" .. path }, luds_e(script), { fds = "0" }))
    lu.assertEquals({ out, err, status }, { "0\tnil\tnil\tnonblock=false cloexec=false\n", "", 0 })
    for _, bad in ipairs({ "abc", "-1", "1x", "", "99999999999999999999" }) do
      os.remove(path)
      out, err, status = H.exec(activate({ "unix=" .. path }, luds_e(script), { fds = bad }))
      lu.assertEquals({ out, err, status }, { "nil\tlisteners_from_env LISTEN_FDS: invalid argument\tEINVAL\t"
        .. "nonblock=false cloexec=false\n", "", 0 }, "LISTEN_FDS=" .. bad)
    end
    -- a huge count is checked descriptor by descriptor, never allocated for
    os.remove(path)
    out, err, status = H.exec(activate({ "unix=" .. path }, luds_e(script), { fds = "2147483000" }))
    lu.assertEquals({ out, err, status }, { "nil\tlisteners_from_env fd 4: socket operation on "
      .. "non-socket\tENOTSOCK\tnonblock=false cloexec=false\n", "", 0 })
  end, 20)
end

-- fd 3 is a file, not a socket: ENOTSOCK, and the file stays open. fd 4 is
-- not open (the script closes it first: a slot left free before the exec
-- would be taken by the runtime's own epoll fd): EBADF, and fd 3, a good
-- socket, is left as it was (even after a full garbage collection), as
-- luds.wrap leaves a descriptor it refuses: the script may still take it.
function TestActivation:test_not_a_socket_and_not_open()
  H.run(function()
    local file = self.dir .. "/plain"
    H.spit(file, "not a socket")
    local script = FLAGS .. [[
local luds = require "luds"
if arg[1] then assert(luds.close_fd(tonumber(arg[1]))) end
local list, msg, code = luds.listeners_from_env()
collectgarbage()
print(list, msg, code, flags(3))
]]
    local out, err, status = H.exec(activate({ "file=" .. file }, luds_e(script)))
    lu.assertEquals({ out, err, status }, { "nil\tlisteners_from_env fd 3: socket operation on non-socket\t"
      .. "ENOTSOCK\tnonblock=false cloexec=false\n", "", 0 })
    local two = { "unix=" .. self.dir .. "/a.sock", "unix=" .. self.dir .. "/b.sock" }
    out, err, status = H.exec(activate(two, luds_e(script, "4")))
    lu.assertEquals({ out, err, status },
      { "nil\tlisteners_from_env fd 4: bad file descriptor\tEBADF\tnonblock=false cloexec=false\n", "",
        0 })
  end, 10)
end

-- LISTEN_FDS counts more descriptors than were passed: the next ones are the
-- runtime's own (its epoll and signal fds). They are refused (ENOTSOCK) and
-- left alone: the loop still runs, and SIGTERM still ends the process.
function TestActivation:test_too_large_count_leaves_the_runtime_alone()
  H.run(function()
    local path = self.dir .. "/a.sock"
    local script = [[
io.stdout:setvbuf("line")
local luds = require "luds"
local list, msg, code = luds.listeners_from_env()
print(list, msg, code)
local ln <close> = assert(luds.listen("unix", arg[1] .. ".own"))
local t = luds.spawn(function() local c <close> = ln:accept() return c:read() end)
local c <close> = assert(luds.dial("unix", arg[1] .. ".own"))
assert(c:write("loop ok"))
print(t:wait(5))
print("waiting for SIGTERM")
luds.sleep(30)
]]
    local p = H.start(activate({ "unix=" .. path }, luds_e(script, path), { fds = "3" }))
    H.wait_for("the script", function()
      return (p:stdout() or ""):find("waiting for SIGTERM\n", 1, true)
    end)
    lu.assertEquals(H.stop(p, "TERM"), 143)
    lu.assertEquals(p:stdout(), "nil\tlisteners_from_env fd 4: socket operation on non-socket\t"
      .. "ENOTSOCK\ntrue\tloop ok\nwaiting for SIGTERM\n")
    lu.assertEquals(p:stderr(), "")
  end, 10)
end

TestExample = H.suite()

-- The example, activated with a unix stream and a unixgram socket, echoes on
-- both, says READY=1 to $NOTIFY_SOCKET (examples/notify.lua listens there),
-- and leaves both socket files behind when SIGTERM stops it.
function TestExample:test_activated_echo_serves_the_passed_sockets()
  H.run(function()
    local d = self.dir
    local stream, gram, notify = d .. "/echo.sock", d .. "/gram.sock", d .. "/notify.sock"
    local listener = H.start(("%s %s listen %s"):format(H.q(H.LUDS), H.q(NOTIFY), H.q(notify)))
    H.wait_for("the notify listener", function()
      return listener:stdout() == "listening on " .. notify .. "\n"
    end)
    local p = H.start(activate({ "unix=" .. stream, "unixgram=" .. gram },
      { H.LUDS, EXAMPLE }, { names = "echo:gram", env = { "NOTIFY_SOCKET=" .. notify } }))
    local ready = ("listening on %s\npid=%d uid=0 gid=0: READY=1\n"):format(notify, p.pid)
    H.wait_for("READY=1", function() return listener:stdout() == ready end)
    lu.assertEquals(p:stdout(), table.concat({
      "serving echo: unix listener " .. stream,
      "serving gram: unixgram packet conn " .. gram, "" }, "\n"))
    local c <close> = assert(luds.dial("unix", stream))
    lu.assertEquals(c:write("stream ping"), 11)
    lu.assertEquals(c:read_full(11), "stream ping")
    local g <close> = assert(luds.dial("unixgram", gram))
    lu.assertEquals(g:write("gram ping"), 9)
    lu.assertEquals(g:read(), "gram ping")
    lu.assertEquals(H.stop(p, "TERM"), 143)
    lu.assertEquals(p:stderr(), "")
    lu.assertEquals(luds.stat(stream).type, "socket")
    lu.assertEquals(luds.stat(gram).type, "socket")
  end, 15)
end

-- Not activated, it listens where its arguments say, and removes its own
-- socket file when SIGTERM stops it; without arguments it prints its usage.
function TestExample:test_fallback_listens_itself()
  H.run(function()
    local path = self.dir .. "/own.sock"
    local p = H.start(("%s %s unix %s"):format(H.q(H.LUDS), H.q(EXAMPLE), H.q(path)))
    H.wait_socket(path)
    local c <close> = assert(luds.dial("unix", path))
    lu.assertEquals(c:write("fallback"), 8)
    lu.assertEquals(c:read_full(8), "fallback")
    lu.assertEquals(H.stop(p, "TERM"), 143)
    lu.assertEquals(p:stdout(), ("serving unix %s: unix listener %s\n"):format(path, path))
    lu.assertFalse(H.exists(path))
    local usage = "usage: luds activated_echo.lua [NETWORK ADDRESS]\n"
    for _, args in ipairs({ "", "unix", "unix a b" }) do
      local out, err, status = H.exec(("%s %s %s"):format(H.q(H.LUDS), H.q(EXAMPLE), args))
      lu.assertEquals({ out, err, status }, { "", usage, 2 }, args)
    end
    local missing = self.dir .. "/no/dir.sock"
    local out, err, status = H.exec(("%s %s unix %s"):format(H.q(H.LUDS), H.q(EXAMPLE), H.q(missing)))
    lu.assertEquals({ out, err, status },
      { "", "activated_echo: listen unix " .. missing .. ": no such file or directory\n", 1 })
  end, 15)
end

luds.exit(T.run())
