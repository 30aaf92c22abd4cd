-- The service-manager notification protocol (sd_notify(3)) from both ends.
--
--   luds examples/notify.lua send [MESSAGE...]   one datagram to $NOTIFY_SOCKET
--   luds examples/notify.lua listen ADDRESS      print who sends what to ADDRESS
--
-- send joins its MESSAGEs with newlines ("READY=1" without any), as
-- systemd-notify does, and sends them as one datagram to the path or @abstract
-- name in $NOTIFY_SOCKET; it exits 1 if that is unset or the send fails.
-- listen binds a unixgram socket with SO_PASSCRED and prints one line per
-- datagram, "pid=1234 uid=0 gid=0: READY=1", with the sender's credentials as
-- the kernel reports them (a sender cannot forge them) and newlines in the
-- message shown as "\n". SIGINT/SIGTERM end it and remove its socket file.
local luds = require "luds"

local function usage()
  io.stderr:write("usage: luds notify.lua [send [MESSAGE...] | listen ADDRESS]\n")
  luds.exit(2)
end

local function die(err)
  io.stderr:write("notify: ", err, "\n")
  luds.exit(1)
end

local function send(message)
  local where = os.getenv("NOTIFY_SOCKET")
  if not where or where == "" then die("NOTIFY_SOCKET is not set") end
  local conn <close>, err = luds.dial("unixgram", where)
  if not conn then die(err) end
  local ok, werr = conn:write(message)
  if not ok then die(werr) end
end

-- One line per datagram, flushed at once for whoever reads the output.
local function listen(address)
  local opts = { passcred = true, unlink_on_close = true }
  local pc, err = luds.listen_packet("unixgram", address, opts)
  if not pc then die(err) end
  io.stdout:setvbuf("line")
  print("listening on " .. pc:local_addr())
  while true do -- until a signal closes the socket
    local data, _, cred = pc:read_from()
    if not data then return end
    local text = data:gsub("\n", "\\n")
    print(("pid=%d uid=%d gid=%d: %s"):format(cred.pid, cred.uid, cred.gid, text))
  end
end

local cmd = arg[1]
if cmd == "send" then
  send(arg[2] and table.concat(arg, "\n", 2) or "READY=1")
elseif cmd == "listen" and arg[2] and not arg[3] then
  listen(arg[2])
else
  usage()
end
