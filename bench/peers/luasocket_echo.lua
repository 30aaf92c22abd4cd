-- luasocket_echo.lua: the LuaSocket peer of the luds echo benchmark.
-- The classic LuaSocket server: one thread, socket.select over the listener
-- and every client, non-blocking receive, and a pending-output buffer per
-- client that is flushed when select says the client is writable.
--
--   lua5.4 bench/peers/luasocket_echo.lua unix|unixgram PATH
--
-- unixpacket is refused (exit 2): LuaSocket has no seqpacket sockets.
-- select(2) takes descriptors below FD_SETSIZE (1024) only, so clients whose
-- descriptor would not fit are closed at once.
-- SIGINT closes the listener, removes PATH and exits 0. SIGTERM ends the
-- process by its default action: neither LuaSocket nor stock Lua 5.4 can
-- catch it (Debian's lua-posix is built for Lua 5.1-5.3 only), so PATH is
-- left behind, and the next start removes it.
local socket = require "socket"
local unix = require "socket.unix"

local READ_MAX = 64 * 1024
local FD_SETSIZE = 1024
local BACKLOG = 4096
local ACCEPT_BATCH = 64
-- Blocking calls give control back to Lua this often, so that the
-- interpreter's SIGINT hook gets to run (LuaSocket retries on EINTR).
local TICK = 1

local kind, path = arg[1], arg[2]
if not path or arg[3] or not (kind == "unix" or kind == "unixgram" or kind == "unixpacket") then
  io.stderr:write("usage: luasocket_echo.lua unix|unixgram PATH\n")
  os.exit(2)
end
if kind == "unixpacket" then
  io.stderr:write("luasocket_echo: unixpacket not supported (LuaSocket has no seqpacket sockets)\n")
  os.exit(2)
end

local function check(ok, err)
  if not ok then
    io.stderr:write("luasocket_echo: ", path, ": ", tostring(err), "\n")
    os.exit(1)
  end
  return ok
end

-- A set that socket.select can take: clients in the array part, with an
-- index so a client leaves it in O(1).
local function new_set()
  return { items = {}, index = {} }
end

local function set_add(set, s)
  if set.index[s] then return end
  local items = set.items
  items[#items + 1] = s
  set.index[s] = #items
end

local function set_del(set, s)
  local i = set.index[s]
  if not i then return end
  local items = set.items
  local last = items[#items]
  items[i], items[#items] = last, nil
  set.index[last] = i
  set.index[s] = nil
end

local function serve_stream(server)
  local readers, writers = new_set(), new_set()
  local pending = {} -- client -> { data, sent }
  set_add(readers, server)

  local function drop(c)
    set_del(readers, c)
    set_del(writers, c)
    pending[c] = nil
    c:close()
  end

  -- Sends what is queued; a client with output left waits for writability
  -- and is not read from meanwhile.
  local function flush(c)
    local p = pending[c]
    local last, err, partial = c:send(p[1], p[2] + 1)
    last = last or partial
    if err and err ~= "timeout" then return drop(c) end
    if last == #p[1] then
      pending[c] = nil
      set_del(writers, c)
      set_add(readers, c)
    else
      p[2] = last
      set_del(readers, c)
      set_add(writers, c)
    end
  end

  -- Takes up to ACCEPT_BATCH waiting clients, like the C server.
  local function accept()
    for _ = 1, ACCEPT_BATCH do
      local c = server:accept()
      if not c then return end
      if c:getfd() >= FD_SETSIZE then
        c:close()
      else
        c:settimeout(0)
        set_add(readers, c)
      end
    end
  end

  local function read(c)
    -- With a zero timeout, receive(n) hands back what is there as partial.
    local data, err, partial = c:receive(READ_MAX)
    data = data or partial
    if data and #data > 0 then
      pending[c] = { data, 0 }
      flush(c)
    end
    if err and err ~= "timeout" then
      -- "closed": the echo of the last bytes has been attempted above.
      if pending[c] == nil or err ~= "closed" then drop(c) else set_del(readers, c) end
    end
  end

  while true do
    local readable, writable = socket.select(readers.items, writers.items, TICK)
    for _, c in ipairs(writable) do
      if pending[c] then flush(c) end
    end
    for _, c in ipairs(readable) do
      if c == server then accept() elseif readers.index[c] then read(c) end
    end
  end
end

local function serve_dgram(sock)
  sock:settimeout(TICK)
  while true do
    local data, from = sock:receivefrom(READ_MAX)
    if data and from then sock:sendto(data, from) end
  end
end

os.remove(path)
local sock
if kind == "unix" then
  sock = check(unix.stream())
  check(sock:bind(path))
  check(sock:listen(BACKLOG))
  sock:settimeout(0)
else
  sock = check(unix.dgram())
  check(sock:bind(path))
end

print("listening on " .. path)
io.stdout:flush()
-- The standalone interpreter turns SIGINT into an "interrupted!" error.
local ok, err = pcall(kind == "unix" and serve_stream or serve_dgram, sock)
sock:close()
os.remove(path)
if not ok and not tostring(err):find("interrupted!", 1, true) then
  io.stderr:write("luasocket_echo: ", tostring(err), "\n")
  os.exit(1)
end
os.exit(0)
