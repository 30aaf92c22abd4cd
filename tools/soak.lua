-- Soak test: SECONDS (default 60) of connection churn against the three
-- example echo servers (unix, unixgram, unixpacket), each its own process.
-- Clients connect, do a few round trips of random sizes, check every echoed
-- byte and hang up, over and over. Twelve times in the run the churn pauses
-- until no client holds a conn and each server's conns are closed, and the
-- servers' RSS (/proc/PID/status VmRSS) and fd counts (/proc/PID/fd) are
-- sampled. After a warm-up (the first three samples) both must be flat: the
-- largest sample within 10% of the smallest. Prints the series and a verdict;
-- exits 1 on growth, on a wrong echo or on any error.
--   luds tools/soak.lua [SECONDS]        (make soak SOAK_SECONDS=60)
local luds = require "luds"

local SECONDS = tonumber(arg[1] or "60") or 60
local SAMPLES, WARMUP, TOLERANCE = 12, 3, 0.10
local CLIENTS = 8 -- concurrent clients per kind
local KINDS = { "unix", "unixgram", "unixpacket" }
local ROOT = arg[0]:match("^(.*)/tools/[^/]*$") or "."
local LUDS = arg[-1] or "luds"

local function q(s) return "'" .. tostring(s):gsub("'", [['\'']]) .. "'" end

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function sh(cmd)
  local p <close> = assert(io.popen(cmd, "r"))
  return p:read("a")
end

local function rss_kib(pid)
  return tonumber(((slurp(("/proc/%d/status"):format(pid)) or ""):match("VmRSS:%s*(%d+) kB")))
end

local function fd_count(pid)
  return tonumber((sh(("ls /proc/%d/fd 2>/dev/null | wc -l"):format(pid))))
end

-- Polls cond every 10 ms for up to `seconds`; returns its value or nil.
local function poll(seconds, cond)
  local until_ = luds.now() + seconds
  repeat
    local v = cond()
    if v then return v end
    luds.sleep(0.01)
  until luds.now() > until_
  return nil
end

local dir = sh("mktemp -d"):match("^(%S+)")
local servers = {}

local function start_server(kind)
  local path = ("%s/%s.sock"):format(dir, kind)
  local script = ("%s/examples/echo_%s.lua"):format(ROOT, kind)
  local pid = tonumber(sh(("%s %s serve %s >/dev/null 2>%s & echo $!")
    :format(q(LUDS), q(script), q(path), q(dir .. "/" .. kind .. ".err"))))
  local up = poll(5, function()
    if kind == "unixgram" then return luds.stat(path) ~= nil end
    local c = luds.dial(kind, path)
    if c then c:close() end
    return c ~= nil
  end)
  if not up then
    error(kind .. " server did not start: " .. (slurp(dir .. "/" .. kind .. ".err") or ""))
  end
  return { kind = kind, path = path, pid = pid, series = {} }
end

-- A block of bytes that differ at every offset modulo 251, so that a chunk
-- lost, repeated or shifted does not compare equal.
local block do
  local t = {}
  for i = 0, 65535 do t[#t + 1] = string.char((i * 7 + i // 251) % 256) end
  block = table.concat(t)
end

local stop, paused, active = false, false, 0
local stats = { conns = 0, trips = 0, bytes = 0, errors = 0 }
local first_error

local function failed(what)
  stats.errors = stats.errors + 1
  first_error = first_error or what
end

local function session(kind, path)
  local conn <close>, err = luds.dial(kind, path)
  if not conn then return failed(err) end
  conn:set_deadline(luds.now() + 10)
  stats.conns = stats.conns + 1
  for _ = 1, math.random(1, 5) do
    local n = math.random(100) <= 90 and math.random(1, 2048) or math.random(2049, 65536)
    local off = math.random(1, #block - n + 1)
    local msg = block:sub(off, off + n - 1)
    local ok, werr = conn:write(msg)
    if not ok then return failed(werr) end
    local reply, rerr
    if kind == "unix" then reply, rerr = conn:read_full(n) else reply, rerr = conn:read() end
    if reply ~= msg then
      return failed(("%s: %d bytes sent, got %s")
        :format(kind, n, reply and #reply .. " other bytes" or rerr))
    end
    stats.trips, stats.bytes = stats.trips + 1, stats.bytes + n
  end
end

local function client(kind, path)
  while not stop do
    if paused then
      luds.sleep(0.005)
    else
      active = active + 1
      session(kind, path)
      active = active - 1
    end
  end
end

-- Pauses the churn, waits for the servers to close their conns, samples.
local function sample(t, baseline)
  paused = true
  poll(5, function() return active == 0 end)
  for _, s in ipairs(servers) do
    poll(2, function() return fd_count(s.pid) <= baseline[s.kind] end)
    s.series[#s.series + 1] = { t = t, rss = rss_kib(s.pid), fds = fd_count(s.pid) }
  end
  paused = false
end

local function flat(values)
  local lo, hi = math.huge, -math.huge
  for _, v in ipairs(values) do lo, hi = math.min(lo, v), math.max(hi, v) end
  return hi <= lo * (1 + TOLERANCE), lo, hi
end

local function report()
  local head = { ("%7s"):format("t (s)") }
  for _, s in ipairs(servers) do head[#head + 1] = ("%22s"):format(s.kind .. " RSS KiB / fds") end
  print(table.concat(head, " "))
  for i = 1, #servers[1].series do
    local row = { ("%7.1f"):format(servers[1].series[i].t) }
    for _, s in ipairs(servers) do
      local x = s.series[i]
      row[#row + 1] = ("%14s / %5s"):format(x.rss or "?", x.fds or "?")
    end
    print(table.concat(row, " ") .. (i <= WARMUP and "   (warm-up)" or ""))
  end
  local ok = stats.errors == 0
  local verdicts = {}
  for _, s in ipairs(servers) do
    for _, metric in ipairs({ "rss", "fds" }) do
      local values = {}
      for i = WARMUP + 1, #s.series do values[#values + 1] = s.series[i][metric] or math.huge end
      local good, lo, hi = flat(values)
      if not good then
        ok = false
        verdicts[#verdicts + 1] = ("%s %s grew from %s to %s"):format(s.kind, metric, lo, hi)
      end
    end
  end
  print(("%d conns, %d round trips, %.1f MiB echoed, %d errors%s"):format(stats.conns, stats.trips,
    stats.bytes / 1048576, stats.errors, first_error and " (first: " .. first_error .. ")" or ""))
  if ok then
    print(("soak: PASS: RSS and fd counts flat within %d%% after warm-up"):format(TOLERANCE * 100))
  else
    local why = #verdicts > 0 and table.concat(verdicts, "; ") or "errors during the run"
    print("soak: FAIL: " .. why)
  end
  return ok
end

local function stop_servers()
  for _, s in ipairs(servers) do
    os.execute(("kill -TERM %d 2>/dev/null"):format(s.pid))
    poll(5, function() return not slurp(("/proc/%d/status"):format(s.pid)) end)
  end
end

local ok, passed = pcall(function()
  for _, kind in ipairs(KINDS) do servers[#servers + 1] = start_server(kind) end
  local baseline = {}
  for _, s in ipairs(servers) do baseline[s.kind] = fd_count(s.pid) end
  print(("soak: %d s of churn, %d clients per kind, servers %s"):format(SECONDS, CLIENTS,
    table.concat((function()
      local t = {}
      for _, s in ipairs(servers) do t[#t + 1] = s.kind .. "=" .. s.pid end
      return t
    end)(), " ")))
  math.randomseed(42)
  local tasks = {}
  for _, s in ipairs(servers) do
    for _ = 1, CLIENTS do tasks[#tasks + 1] = luds.spawn(client, s.kind, s.path) end
  end
  local start = luds.now()
  for i = 1, SAMPLES do
    luds.sleep(math.max(0, start + i * SECONDS / SAMPLES - luds.now()))
    sample(luds.now() - start, baseline)
  end
  stop = true
  for _, t in ipairs(tasks) do t:wait(15) end
  return report()
end)
if not ok then print("soak: FAIL: " .. tostring(passed)) end
stop_servers()
for _, s in ipairs(servers) do
  if luds.stat(s.path) then
    print(("soak: FAIL: %s left its socket file after SIGTERM"):format(s.kind))
    passed = false
  end
end
os.execute("rm -rf " .. q(dir))
luds.exit(ok and passed and 0 or 1)
