-- Channel ping-pong: two tasks bounce a value over two unbuffered channels N
-- times; prints "round trips/s". Also, with "fanout", one producer sends M
-- messages to S subscriber tasks (one channel each) and prints
-- "messages/s"; with "mem", the bytes each of N tasks costs blocked
-- on a channel recv and on a socket read.
--   build/luds bench/chan_pingpong.lua [pingpong N | fanout M S | mem chan|sock DIR [N]]
local luds = require "luds"
local mode = arg[1] or "pingpong"

if mode == "pingpong" then
  local n = tonumber(arg[2]) or 1000000
  local ping, pong = luds.channel(), luds.channel()
  luds.spawn(function()
    for _ = 1, n do
      local _, v = ping:recv()
      pong:send(v)
    end
  end)
  local t0 = luds.now()
  for i = 1, n do
    ping:send(i)
    pong:recv()
  end
  print(("round_trips_per_sec %.0f"):format(n / (luds.now() - t0)))
elseif mode == "fanout" then
  local m, s = tonumber(arg[2]) or 1000, tonumber(arg[3]) or 1000
  local subs, got = {}, 0
  local g <close> = luds.group()
  for i = 1, s do
    subs[i] = luds.channel(1)
    g:spawn(function(ch) for _ in ch:values() do got = got + 1 end end, subs[i])
  end
  local t0 = luds.now()
  for k = 1, m do
    for i = 1, s do subs[i]:send(k) end
  end
  for i = 1, s do subs[i]:close() end
  g:wait()
  assert(got == m * s)
  print(("messages_per_sec %.0f"):format(got / (luds.now() - t0)))
elseif mode == "mem" then
  -- One kind per process, each measured from the same starting point (the
  -- task table already grown, the sockets already connected), so that one
  -- kind's garbage cannot be counted against the other's tasks.
  local kind, dir = arg[2], arg[3]
  local n = tonumber(arg[4]) or 10000
  local function kb()
    collectgarbage() collectgarbage()
    return collectgarbage("count") * 1024
  end
  local function rss()
    local f <close> = assert(io.open("/proc/self/status"))
    return tonumber(f:read("a"):match("VmRSS:%s*(%d+)")) * 1024
  end
  local wait, conns, ln
  if kind == "chan" then
    local ch = luds.channel()
    wait = function() ch:recv() end
  else -- each needs 2 fds (dial, accept) besides the listener
    ln, conns = assert(luds.listen("unix", dir .. "/m.sock")), {}
    for i = 1, n do
      local c = assert(luds.dial("unix", dir .. "/m.sock"))
      conns[i] = { c, assert(ln:accept()) }
    end
    wait = function(i) conns[i][2]:read() end
  end
  local ts = {}
  for i = 1, n do ts[i] = false end
  local h0, r0 = kb(), rss()
  for i = 1, n do ts[i] = luds.spawn(wait, i) end
  luds.sleep(0.01)
  print(("%s_bytes_per_blocked_task heap %.0f rss %.0f (%d tasks)"):format(kind,
    (kb() - h0) / n, (rss() - r0) / n, n))
  for i = 1, n do ts[i]:cancel() end
end
