-- Hands accepted connections to worker processes: the parent accepts each
-- client, passes the conn's descriptor (SCM_RIGHTS) to a worker over a
-- unixpacket control socket and closes its own copy; the worker adopts it
-- with luds.wrap and serves it. The client talks to the worker without
-- knowing the parent was ever involved.
--
--   luds examples/handoff.lua serve ADDRESS CONTROL   clients on ADDRESS, workers on CONTROL
--   luds examples/handoff.lua worker CONTROL          serve what the parent hands over
--
-- Workers are used round-robin in the order they joined; a client that comes
-- while no worker is connected gets "no worker\n". A worker answers each line
-- with "[PID] line". The control socket is 0600: whoever can connect to it
-- receives the clients' connections. SIGINT/SIGTERM end a process; a worker
-- also ends when the parent does, once its clients have gone.
local luds = require "luds"

local function usage()
  io.stderr:write("usage: luds handoff.lua [serve ADDRESS CONTROL | worker CONTROL]\n")
  luds.exit(2)
end

local function die(err)
  io.stderr:write("handoff: ", err, "\n")
  luds.exit(1)
end

-- Log lines, flushed at once for whoever reads them (a test, a journal).
io.stdout:setvbuf("line")

local function my_pid()
  local f <close> = assert(io.open("/proc/self/stat"))
  return tonumber(f:read("a"):match("^(%d+) "))
end

local function listen(network, address, opts)
  local ln, err = luds.listen(network, address, opts)
  if not ln then die(err) end
  return ln
end

-- The connected workers, in the order they joined, and the last one used.
local workers, last = {}, 0

-- One task per worker (run by luds.serve): it is a worker from its connect
-- until its end of stream. Workers never write, so the read returns only then.
local function join(w)
  local pid = (w:peer_cred() or {}).pid or "?" -- the kernel's word, from connect time
  workers[#workers + 1] = w
  print(("worker %s joined (%d connected)"):format(pid, #workers))
  w:read()
  for i, other in ipairs(workers) do
    if other == w then table.remove(workers, i) break end
  end
  print(("worker %s left (%d connected)"):format(pid, #workers))
end

-- Passes conn to the next worker that takes it. The message carries the
-- descriptor; the kernel keeps the socket alive in flight, so the caller may
-- close its copy at once. A worker that does not take it within a second
-- (gone, or its queue full) is skipped. Workers may leave while a send
-- waits, so the list is looked at afresh each time.
local function hand_off(conn)
  for _ = 1, #workers do
    if #workers == 0 then return false end
    last = last % #workers + 1
    local w = workers[last]
    w:set_write_deadline(luds.now() + 1)
    if w:send_fds("conn", { conn }) then return true end
  end
  return false
end

-- Accepts and hands off one client at a time, so that one task alone writes
-- to the workers (a second writer on a socket would get BUSY).
local function dispatch(ln)
  while true do
    local conn, err, code = ln:accept()
    if conn then
      if not hand_off(conn) then conn:write("no worker\n") end
      conn:close()
    elseif code == "CLOSED" then
      return
    else -- out of fds or memory, say: wait before trying again
      io.stderr:write("handoff: ", err, "\n")
      luds.sleep(0.1)
    end
  end
end

local function serve(address, control)
  local ln = listen("unix", address)
  local ctl = listen("unixpacket", control, { mode = "0600" })
  print(("listening on %s, workers on %s"):format(address, control))
  luds.spawn(luds.serve, ctl, join)
  dispatch(ln)
end

-- Echoes lines until the client's end, then closes the adopted conn.
local function echo(conn, pid)
  while true do
    local line = conn:read_line()
    if not line or not conn:write(("[%d] %s\n"):format(pid, line)) then break end
  end
  conn:close()
end

local function worker(control)
  local ctl <close>, err = luds.dial("unixpacket", control)
  if not ctl then die(err) end
  local pid = my_pid()
  print(("worker %d ready"):format(pid))
  while true do -- until the parent goes away
    local data, fds, dropped = ctl:recv_fds()
    if not data then return end
    if dropped then io.stderr:write("handoff: descriptors dropped\n") end
    for _, fd in ipairs(fds) do
      local conn, werr = luds.wrap(fd)
      if conn then
        luds.spawn(echo, conn, pid)
      else -- not ours to keep: a descriptor we cannot serve is closed
        io.stderr:write("handoff: ", werr, "\n")
        luds.close_fd(fd)
      end
    end
  end
end

local cmd = arg[1]
if cmd == "serve" and arg[3] and not arg[4] then
  serve(arg[2], arg[3])
elseif cmd == "worker" and arg[2] and not arg[3] then
  worker(arg[2])
else
  usage()
end
