-- An echo server that admits only peers in the given groups, judged by the
-- credentials the kernel recorded at connect time (port of the creds server of
-- "Network Programming with Go", ch. 7).
--
--   luds examples/auth_server.lua PATH GROUP [GROUP...]
--
-- Admitted peers get an echo; others get one line "refused: <reason>" and the
-- connection is closed. Each decision is logged to stdout. SIGINT/SIGTERM close
-- the listener (which removes the socket file) and exit 130/143.
local luds = require "luds"
local creds = require "luds.creds"

local function usage()
  io.stderr:write("usage: luds auth_server.lua PATH GROUP [GROUP...]\n")
  luds.exit(2)
end

local function die(err, code)
  io.stderr:write("auth_server: ", err, "\n")
  luds.exit(code or 1)
end

-- A log line per decision, flushed at once so a supervisor (or a test) reading
-- a pipe or file sees it as it happens.
io.stdout:setvbuf("line")

local function echo(conn)
  while true do
    local data = conn:read()
    if not data or not conn:write(data) then return end
  end
end

local function peer(conn)
  local c = conn:peer_cred()
  return c and ("pid %d uid %d gid %d"):format(c.pid, c.uid, c.gid) or "unknown peer"
end

local path, groups = arg[1], { table.unpack(arg, 2) }
if not path or #groups == 0 then usage() end
-- creds.allow treats an unknown name as matching no one; a typo here would
-- lock everyone out without a word, so refuse to start instead.
for _, name in ipairs(groups) do
  if not luds.lookup_group(name) then die("unknown group " .. name, 2) end
end

-- The file is world-connectable on purpose: the credential check below is what
-- guards the service, not the file mode. (A real service would also narrow the
-- mode, e.g. "0660" with group = one of the allowed groups.)
local ln, err = luds.listen("unix", path, { mode = "0666" })
if not ln then die(err) end
print(("listening on %s (mode 0666), allowed groups: %s"):format(path, table.concat(groups, " ")))

-- luds.serve closes conn when this returns.
local function handle(conn)
  local ok, reason = creds.allow(conn, { groups = groups })
  if not ok then
    print(("refused %s: %s"):format(peer(conn), reason))
    conn:write("refused: " .. reason .. "\n")
    return
  end
  print("admitted " .. peer(conn))
  echo(conn)
end

-- Returns once a signal has closed the listener.
luds.serve(ln, handle)
