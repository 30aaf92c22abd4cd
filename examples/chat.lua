-- A chat (pub/sub) line server over a unix socket, built on channels: every
-- line a client sends reaches every other connected client.
--
--   luds examples/chat.lua serve PATH     serve until SIGINT/SIGTERM
--   socat - UNIX-CONNECT:PATH             one client
--
-- Each client has a bounded outbox (a channel of OUTBOX lines) that its own
-- writer task drains. A slow client never delays the others: when its
-- outbox stays full (its writer had a turn and its socket is full too), or
-- a write to it takes longer than WRITE_TIMEOUT seconds, it is dropped (its
-- conn closed) and the others carry on.
local luds = require "luds"

local OUTBOX, WRITE_TIMEOUT = 64, 2

local clients = {} -- conn -> its outbox

local function drop(conn)
  local outbox = clients[conn]
  if not outbox then return end
  clients[conn] = nil
  outbox:close() -- its writer drains nothing more and ends
  conn:close()   -- its reader wakes with CLOSED
end

-- Every client but the sender gets the line. A full outbox may only mean
-- its writer has not run since a burst: it gets one turn; still full, the
-- client is behind (its socket is full too) and is dropped.
local function publish(from, line)
  local targets = {} -- a snapshot: clients may come and go during the turn
  for conn, outbox in pairs(clients) do
    if conn ~= from then targets[#targets + 1] = { conn, outbox } end
  end
  for _, t in ipairs(targets) do
    local conn, outbox = t[1], t[2]
    if clients[conn] and not outbox:try_send(line) then
      luds.sleep(0)
      if clients[conn] and not outbox:try_send(line) then drop(conn) end
    end
  end
end

local function writer(conn, outbox)
  for line in outbox:values() do
    conn:set_write_deadline(luds.now() + WRITE_TIMEOUT)
    if not conn:write(line .. "\n") then return drop(conn) end
  end
end

-- The handler: one writer task per client, this task reads its lines.
local function serve_client(conn)
  local outbox = luds.channel(OUTBOX)
  clients[conn] = outbox
  local w = luds.spawn(writer, conn, outbox)
  while clients[conn] do
    local line = conn:read_line()
    if not line then break end
    publish(conn, line)
  end
  drop(conn)
  w:wait()
end

local path = arg[2]
if arg[1] ~= "serve" or not path or arg[3] then
  io.stderr:write("usage: luds chat.lua serve PATH\n")
  luds.exit(2)
end
local ln, err = luds.listen("unix", path)
if not ln then
  io.stderr:write("chat: ", err, "\n")
  luds.exit(1)
end
print("listening on " .. ln:addr())
io.stdout:flush()
luds.serve(ln, serve_client) -- until SIGINT/SIGTERM close ln (removing its file)
