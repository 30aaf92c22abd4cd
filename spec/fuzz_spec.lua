-- Every public function and method (luds.exit aside: it ends the process),
-- and the metamethods a script can reach as methods, called thousands of
-- times with random and hostile arguments: nil, booleans, tables (some whose
-- fields raise or yield), functions, coroutines, objects of the wrong kind,
-- closed objects, 1 MiB strings, empty strings, strings with NUL bytes,
-- negative, huge, NaN and infinite numbers. Each call must either raise a Lua
-- error with a string message, or return a success value or the
-- nil, message, code triple. It must never crash the process (in make test
-- this file also runs on the ASan/UBSan build).
--
-- The calls run in a child process (this file with --fuzz) whose working
-- directory is a scratch directory, so that relative paths the fuzzer makes
-- up land there. Each call runs in its own task, after every socket got a
-- 2 ms deadline; a call still blocked after 30 ms is cancelled. The seed is
-- fixed: a run is repeatable.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local luds = require "luds"

local SEED = 42

-- What a function may return besides a truthy value or the failure triple.
local RETURNS_FALSE = { wait = true, cancel = true, run = true, try_send = true,
  try_recv = true, is_set = true, release = true, signal = true, proxied = true }
local RETURNS_NOTHING = { sleep = true, __gc = true, __close = true }
-- What may return nil alone: on_error gives back the previous handler;
-- worker says this is no worker process.
local RETURNS_NIL = { on_error = true, worker = true }

-- Argument kinds of each function, for the calls that are well-typed enough
-- to get past the argument checks. Unknown names get random arguments.
local SIG = {
  listen = { "net", "addr", "opts" }, listen_packet = { "net", "addr", "opts" },
  dial = { "net", "addr", "opts" }, spawn = { "fn", "any", "any" }, sleep = { "seconds" },
  now = {}, run = { "fn", "any" }, chown = { "path", "id", "id" }, chmod = { "path", "mode" },
  stat = { "path" }, lookup_user = { "who" }, lookup_group = { "who" }, user_groups = { "who" },
  remove_stale = { "path" }, on_error = { "handler" }, tasks = {}, spin = { "spinus" },
  exec = { "argv", "execopts" }, output = { "argv", "execopts" }, environ = {},
  stdin = {}, stdout = {}, stderr = {}, serve = { "listener", "fn" }, server = { "listener", "fn" }, on_signal = { "signame", "handler" },
  -- Given a real descriptor they would close or adopt one of the fuzzer's
  -- own (as exit would end it), so they only ever get numbers that are not.
  wrap = { "badfd" }, close_fd = { "badfd" },
  -- A listen that fails, or workers would be started (as exit would end it).
  worker = {}, workers = { "workers_opts" }, listeners_from_env = {}, copy = { "conn", "conn" },
  accept = {}, addr = {}, fd = {}, close = {}, set_deadline = { "deadline" },
  read = { "max" }, read_full = { "max" }, read_line = {}, write = { "data" },
  close_write = {}, close_read = {}, local_addr = {}, remote_addr = {},
  set_read_deadline = { "deadline" }, set_write_deadline = { "deadline" }, peer_cred = {}, proxied = {},
  read_from = { "max" }, write_to = { "data", "addr" }, send_fds = { "data", "fds" },
  recv_fds = { "max", "max" }, wait = { "seconds" }, cancel = {}, status = {},
  select = { "cases", "selopts" }, resolve = { "lookup", "net", "seconds" }, peer_groups = {},
  send = { "any", "seconds" }, recv = { "seconds" }, try_send = { "any" }, try_recv = {},
  values = {}, capacity = {}, set = {}, clear = {}, is_set = {}, signal = {}, broadcast = {},
  acquire = { "seconds" }, release = {}, available = {},
  __gc = {}, __close = {}, __tostring = {},
}

-- Functions that only ever get arguments of their signature (see SIG):
-- resolve too, so that it never sends a made-up name to a DNS server.
local GUARDED = { wrap = true, close_fd = true, workers = true, resolve = true }

local MODULE_FUNCTIONS = { "channel", "chmod", "chown", "close_fd", "cond", "copy", "dial",
  "event", "group", "listen", "select", "semaphore",
  "listen_packet", "listeners_from_env", "lookup_group", "lookup_user", "now", "on_error",
  "on_signal", "remove_stale", "resolve", "run", "serve", "server", "sleep", "spawn", "stat", "tasks",
  "user_groups", "wrap", "exec", "output", "environ", "spin", "stdin", "stdout", "stderr",
  "worker", "workers" }

local COORDINATION = { "channels", "events", "conds", "semaphores", "permits", "groups" }

local function fuzz(area, seed, iterations, dir)
  math.randomseed(seed)
  local stat <close> = assert(io.open("/proc/self/stat"))
  local pid = tonumber(stat:read("a"):match("^(%d+)"))
  local function pick(t) return t[math.random(#t)] end
  local function chance(p) return math.random() < p end

  local MiB = ("\xff"):rep(1 << 20)
  local function random_bytes(n) -- any byte but "/": names stay in the scratch dir
    local t = {}
    for i = 1, n do
      local b = math.random(0, 254)
      t[i] = string.char(b >= 47 and b + 1 or b)
    end
    return table.concat(t)
  end
  local NUMBERS = { 0, 1, -1, 2, 7, 0.5, -0.5, 1e-9, 0.001, 1e308, -1e308, math.huge, -math.huge,
    0 / 0, -0.0, math.maxinteger, math.mininteger, 2 ^ 31, -2 ^ 31, 2 ^ 32, 2 ^ 53, 2 ^ 63,
    1 << 40, 65535, 65536, 4096, 511, 420, 4294967295, 4294967294 }
  local NETS = { "unix", "unixgram", "unixpacket", "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6" }
  local STRINGS = { "", "\0", "a\0b", MiB, MiB .. "\0", "bogus", "UNIX", "0600", "0777", "777",
    "07777", "9", "-1", "0x1ff", "root", "nobody", "nogroup", "no-such-user-luds", "@", "@\0",
    "127.0.0.1:0", "[::1]:0", "localhost:0", "127.0.0.1", ":", "[", "]:", "[::1]",
    "127.0.0.1:65536", "127.0.0.1:-1", "[fe80::1%lo]:0", "rel.sock", ".", "..", "\xff\xfe",
    ("\u{e9}"):rep(60), dir .. "/file.txt", dir .. "/missing/x.sock", dir .. "/" .. ("n"):rep(200),
    ("@luds-fuzz-%d-1"):format(pid) }
  for _, net in ipairs(NETS) do STRINGS[#STRINGS + 1] = net end
  local f = assert(io.open(dir .. "/file.txt", "w"))
  f:write("a regular file\n")
  f:close()

  local FUNCTIONS = {
    function() end,
    function(...) return ... end,
    function() error("raised on purpose by the fuzzer") end,
    function() coroutine.yield() end,
    function() luds.sleep(0.001) end,
    tostring, error, coroutine.wrap(function() end),
  }
  local function hostile_table()
    return pick({
      {}, { 1, 2, 3 }, { mode = {} },
      setmetatable({}, { __index = function(_, k) error("field " .. tostring(k)) end }),
      setmetatable({}, { __index = function() coroutine.yield() end }),
      setmetatable({}, { __index = function() luds.sleep(0.001) end }),
      setmetatable({}, { __index = function() collectgarbage() end }),
    })
  end

  -- Objects, renewed every REFRESH calls: live and closed sockets of every
  -- kind, tasks in every state, plus whatever the calls themselves returned.
  local REFRESH = 25
  local pool, made, generation = {}, {}, 0
  local function made_by_call(v)
    if type(v) == "userdata" and v ~= io.stdout then made[#made + 1] = v end
  end
  local function drop_all()
    for _, list in ipairs({ pool.all or {}, made }) do
      for _, obj in ipairs(list) do
        local mt = getmetatable(obj)
        if mt and mt.close then pcall(obj.close, obj) end
        if mt and mt.cancel then pcall(obj.cancel, obj) end
      end
    end
    made = {}
  end
  local function renew()
    drop_all()
    generation = generation + 1
    local g = generation
    local p = { sockets = {}, listeners = {}, conns = {}, packets = {}, tasks = {}, all = {} }
    local function add(list, obj)
      p[list][#p[list] + 1] = obj
      p.all[#p.all + 1] = obj
      if list ~= "tasks" then p.sockets[#p.sockets + 1] = obj end
      return obj
    end
    local ln = add("listeners", assert(luds.listen("unix", ("%s/ln%d.sock"):format(dir, g))))
    local pln = add("listeners",
      assert(luds.listen("unixpacket", ("%s/pln%d.sock"):format(dir, g))))
    add("listeners", assert(luds.listen("unix", ("@luds-fuzz-%d-%d"):format(pid, g))))
    local tln = add("listeners", assert(luds.listen("tcp4", "127.0.0.1:0")))
    add("conns", assert(luds.dial("unix", ln:addr())))
    add("conns", assert(ln:accept()))
    add("conns", assert(luds.dial("tcp4", tln:addr())))
    add("conns", assert(tln:accept()))
    add("packets", assert(luds.dial("unixpacket", pln:addr())))
    add("packets", assert(pln:accept()))
    local gpath = ("%s/g%d.sock"):format(dir, g)
    add("packets", assert(luds.listen_packet("unixgram", gpath, { unlink_on_close = true })))
    add("packets", assert(luds.dial("unixgram", gpath)))
    local udp = add("packets", assert(luds.listen_packet("udp4", "127.0.0.1:0")))
    -- Something to read on every socket: lines, a longer message, an empty one.
    local function feed(conn, to)
      for _, m in ipairs({ "hello\nworld\n", ("d"):rep(5000), "" }) do
        if to then conn:write_to(m, to) else conn:write(m) end
      end
    end
    for _, list in ipairs({ "conns", "packets" }) do
      for j = 1, 4 do
        if p[list][j] ~= udp and p[list][j]:remote_addr() ~= "" then feed(p[list][j]) end
      end
    end
    feed(p.packets[3], p.packets[4]:local_addr())
    feed(udp, udp:local_addr())
    for _, list in ipairs({ "listeners", "conns", "packets" }) do
      local closed = p[list][1]
      if list == "listeners" then
        closed = assert(luds.listen("unix", ("%s/closed%d.sock"):format(dir, g)))
      elseif list == "conns" then
        closed = assert(luds.dial("unix", ln:addr()))
      else
        closed = assert(luds.listen_packet("unixgram", ""))
      end
      closed:close()
      add(list, closed)
    end
    local done = luds.spawn(function() return 1, nil, "x" end)
    done:wait()
    add("tasks", done)
    local failed = luds.spawn(error, "a task that failed on purpose")
    failed:wait()
    add("tasks", failed)
    local cancelled = luds.spawn(luds.sleep, 10)
    cancelled:cancel()
    add("tasks", cancelled)
    add("tasks", luds.spawn(luds.sleep, 0.02))
    add("tasks", luds.spawn(function() end)) -- ready, not yet run
    -- Coordination objects in each of their states.
    for _, list in ipairs(COORDINATION) do p[list] = {} end
    local function coord(list, obj)
      p[list][#p[list] + 1] = obj
      p.all[#p.all + 1] = obj
      return obj
    end
    coord("channels", luds.channel())
    coord("channels", luds.channel(2)):try_send(false)
    local full = coord("channels", luds.channel(1))
    full:try_send("x")
    coord("channels", luds.channel(3)):close()
    local waited = coord("channels", luds.channel())
    add("tasks", luds.spawn(waited.recv, waited)) -- a receiver waits on it
    coord("events", luds.event())
    coord("events", luds.event()):set()
    coord("conds", luds.cond())
    coord("semaphores", luds.semaphore(0))
    local sem = coord("semaphores", luds.semaphore(2))
    coord("permits", assert(sem:acquire()))
    local released = coord("permits", assert(sem:acquire()))
    released:release()
    coord("groups", luds.group())
    local busy = coord("groups", luds.group())
    busy:spawn(luds.sleep, 0.01)
    local ended = coord("groups", luds.group())
    ended:spawn(function() end)
    ended:wait()
    pool = p
  end

  local function addresses()
    local t = { ("%s/f%d.sock"):format(dir, math.random(20)),
      ("@luds-fuzz-%d-%d"):format(pid, math.random(20)), "" }
    for _, s in ipairs(pool.sockets) do
      local ok, a = pcall(s.local_addr or s.addr, s)
      if ok and type(a) == "string" then t[#t + 1] = a end
    end
    return t
  end

  -- The options each function accepts (any other key raises): mostly
  -- these, so that calls get past the check, now and then one of another
  -- function's or a key that is not a string.
  local OPTION_NAMES = {
    listen = { "backlog", "group", "mode", "owner", "proxy", "proxy_timeout", "remove_stale",
      "reuseport" },
    listen_packet = { "group", "mode", "owner", "passcred", "remove_stale", "reuseport",
      "unlink_on_close" },
    dial = { "local_address", "timeout" },
  }
  local ALL_OPTIONS = { "backlog", "group", "local_address", "mode", "owner", "passcred",
    "proxy", "proxy_timeout", "remove_stale", "reuseport", "timeout", "unlink_on_close" }
  local any -- every kind of value
  local GEN = {
    net = function() return chance(0.85) and pick(NETS) or pick(STRINGS) end,
    addr = function() return chance(0.8) and pick(addresses()) or any() end,
    cases = function()
      return pick({ {}, { { "recv", luds.channel(1) } }, { { "send", luds.channel(1), 1 } },
        { { "recv", luds.channel() }, { "send", luds.channel(), nil } }, hostile_table() })
    end,
    selopts = function()
      return pick({ { default = true }, { timeout = 0.001 }, { timeout = "x" }, { timeout = 0 / 0 },
        hostile_table() })
    end,
    opts = function(fname)
      if chance(0.2) then return nil end
      if chance(0.15) then return hostile_table() end
      local o = {}
      local values = {
        mode = { "0600", "0666", "0777", "0", "abc", "07777", -1, 511, 512, 1e9, 0 / 0, 1.5 },
        owner = { 0, -1, 65534, "root", "nobody", "no-such-user-luds", 2 ^ 40, 0.5, {} },
        group = { 0, -1, 65534, "root", "nogroup", "no-such-group-luds", -2, 4294967295 },
        backlog = NUMBERS,
        remove_stale = { true, false, 1, "yes" },
        unlink_on_close = { true, false, 0 },
        passcred = { true, false, "yes" },
        proxy = { true, false, "v1", "v2", "v3", 1 },
        proxy_timeout = { 0.001, 0.005, 0, -1, 0 / 0, math.huge, "x", 5 },
        reuseport = { true, false, "yes" },
        timeout = { 0, 0.001, 0.01, -1, 0 / 0, math.huge, 1e308, "x", "0.01" },
        local_address = { "", "@", pick(addresses()), pick(STRINGS), 7 },
      }
      for _, k in ipairs(OPTION_NAMES[fname]) do -- a fixed order keeps the run repeatable
        if chance(0.3) then o[k] = pick(values[k]) end
      end
      if chance(0.1) then
        local k = pick(ALL_OPTIONS)
        o[k] = pick(values[k])
      end
      if chance(0.05) then o[pick({ 1, true, "mdoe", "mode\0" })] = "0600" end
      return o
    end,
    fn = function() return chance(0.85) and pick(FUNCTIONS) or any() end,
    signame = function() return chance(0.7) and pick({ "INT", "TERM" }) or any() end,
    badfd = function()
      return pick({ -1, 999999, 1 << 31, 2 ^ 40, 1.5, 0 / 0, "x", "999999", nil, {}, true })
    end,
    handler = function()
      if chance(0.3) then return nil end
      return chance(0.85) and pick(FUNCTIONS) or any()
    end,
    seconds = function()
      return pick({ 0, 0.001, 0.002, -1, 0 / 0, -math.huge, 1e-9, "0.001", "x", nil,
        chance(0.1) and math.huge or 0.001, chance(0.1) and 1e308 or 0 })
    end,
    path = function()
      if chance(0.3) then return pick(STRINGS) end
      return pick(addresses())
    end,
    id = function()
      return pick({ -1, 0, 65534, "root", "nobody", "nogroup", -2, 2 ^ 32, 2 ^ 31 - 1, 0.5,
        "no-such-user-luds", 4294967295, 4294967294, true })
    end,
    mode = function()
      return pick({ "0600", "0777", "0", 0, 511, 512, -1, "abc", "07777", "888", 0 / 0, 1.5, "" })
    end,
    who = function()
      return pick({ 0, 65534, "root", "nobody", "nogroup", "daemon", -1, 2 ^ 32,
        "no-such-user-luds", "", "\0root", MiB, 1.5, 4294967295 })
    end,
    listener = function() return chance(0.85) and pick(pool.listeners) or any() end,
    conn = function() return chance(0.85) and pick(pool.conns) or any() end,
    deadline = function()
      return pick({ luds.now() + 0.001, luds.now() - 1, 0, -1, nil, 0 / 0, math.huge, -math.huge,
        1e308, luds.now() + 0.01, "soon", luds.now() })
    end,
    max = function()
      return pick({ nil, 0, 1, 5, 4096, 65536, 1 << 20, -1, -2, 2 ^ 31, 1 << 40, 2 ^ 53,
        math.maxinteger, math.mininteger, 0 / 0, 1.5, "10", "x" })
    end,
    data = function()
      return pick({ "", "x", "hello\n", MiB, ("y"):rep(65536), ("z"):rep(300000), "\0\0", 42, {} })
    end,
    spinus = function() return pick({ 0, 1, 50, 1000, 1001, -1, 0.5, "x", nil }) end,
    argv = function()
      return pick({ { "true" }, { "/bin/echo", "x" }, { "no-such-program-luds" }, {}, { "" },
        { "true", 1 }, { "a\0b" }, { "sh", "-c", "exit 3" } })
    end,
    execopts = function()
      return pick({ nil, {}, { stdout = "pipe" }, { stdin = "null", stdout = "null" },
        { cwd = "/nonexistent" }, { env = { A = "1" } }, { bogus = 1 }, { timeout = 0.01 },
        { stderr = "stdout" }, hostile_table() })
    end,
    fds = function() return pick({ {}, { 0 }, { 1, 2 }, { -1 }, { 1e9 }, "x", { "a" } }) end,
    -- Numeric, localhost or malformed: nothing a DNS server would be asked.
    lookup = function()
      return pick({ "127.0.0.1", "::1", "[::1]", "localhost", "LOCALHOST.", "localhost:0",
        "127.0.0.1:80", "[::1]:65535", "127.0.0.1:http", "localhost:no-such-service", "", ":",
        "[", "[zz]", "-bad-", "a..b:1", "127.0.0.1:65536", "\0", "local\0host", MiB, 7, {}, nil })
    end,
  }
  any = function()
    local r = math.random(10)
    if r <= 2 then return pick(NUMBERS) end
    if r <= 4 then return chance(0.1) and random_bytes(math.random(0, 300)) or pick(STRINGS) end
    if r == 5 then return pick({ nil, true, false }) end
    if r == 6 then return hostile_table() end
    if r == 7 then
      return pick({ FUNCTIONS[1], coroutine.create(print), coroutine.running(), io.stdout })
    end
    return pick(pool.all)
  end
  GEN.any = any
  GEN.workers_opts = function() -- always a failing listen: never a supervisor
    local o = { listen = function() return nil, "listen: fuzzed", "EINVAL" end }
    for _, k in ipairs({ "n", "drain", "serve", "start_timeout" }) do
      if chance(0.3) then o[k] = any() end
    end
    return o
  end

  -- The functions of the area: name, function, and the list its self comes
  -- from (nil for module functions).
  local targets = {}
  local function methods_of(list, meta)
    local mt = getmetatable(pool[list][1])
    local names = {}
    for k, v in pairs(mt) do
      if type(v) == "function" and (k:sub(1, 2) == "__") == meta then names[#names + 1] = k end
    end
    table.sort(names)
    for _, k in ipairs(names) do targets[#targets + 1] = { name = k, fn = mt[k], self = list } end
  end
  renew()
  if area == "module" then
    local names = {}
    for k, v in pairs(luds) do
      if type(v) == "function" and k ~= "exit" then names[#names + 1] = k end
    end
    table.sort(names)
    for _, k in ipairs(names) do targets[#targets + 1] = { name = k, fn = luds[k] } end
  elseif area == "meta" then
    for _, list in ipairs({ "listeners", "conns", "packets", "tasks", table.unpack(COORDINATION) }) do
      methods_of(list, true)
    end
  else
    methods_of(area, false)
  end

  local function self_of(list)
    if chance(0.8) then return pick(pool[list]) end
    return any()
  end

  -- pcall results -> "ok", "failed" (the triple), "raised", or nil and what
  -- was wrong.
  local function classify(name, r)
    if not r[1] then
      if type(r[2]) ~= "string" then return nil, "raised a " .. type(r[2]) .. " error" end
      return "raised"
    end
    local n, v = r.n - 1, r[2]
    if n == 0 then
      if RETURNS_NOTHING[name] then return "ok" end
      return nil, "returned nothing"
    end
    if v == nil and n == 1 and RETURNS_NIL[name] then return "ok" end
    if v == nil then
      if n < 3 or type(r[3]) ~= "string" or type(r[4]) ~= "string" then
        return nil, ("returned nil, %s, %s"):format(type(r[3]), type(r[4]))
      end
      if r[3] == "" or not r[4]:match("^[A-Z][A-Z0-9_]*$") then
        return nil, ("returned nil, %q, %q"):format(r[3]:sub(1, 80), r[4]:sub(1, 80))
      end
      return "failed"
    end
    if v == false and not RETURNS_FALSE[name] then return nil, "returned false" end
    return "ok"
  end

  local function describe(args)
    local t = {}
    for i = 1, args.n do
      local v = args[i]
      local s = tostring(v)
      if type(v) == "string" then s = ("%q"):format(#v > 40 and v:sub(1, 40) .. "..." or v) end
      t[i] = s:gsub("\n", "\\n")
    end
    return table.concat(t, ", ")
  end

  local stats, violations, calls = {}, {}, 0
  local function key_of(target) return target.name .. (target.self and "@" .. target.self or "") end
  for _, t in ipairs(targets) do
    stats[key_of(t)] = { ok = 0, failed = 0, raised = 0, blocked = 0 }
  end
  for i = 1, iterations do
    if i % REFRESH == 0 then renew() end
    local target = pick(targets)
    local args = { n = 0 }
    local function push(v) args.n = args.n + 1 args[args.n] = v end
    if target.self then push(self_of(target.self)) end
    if chance(0.5) or GUARDED[target.name] then
      for _, kind in ipairs(SIG[target.name] or { "any", "any" }) do
        push(GEN[kind](target.name))
      end
    else
      for _ = 1, math.random(0, 4) do push(any()) end
    end
    for _, s in ipairs(pool.sockets) do s:set_deadline(luds.now() + 0.002) end
    for _, s in ipairs(made) do
      local mt = getmetatable(s)
      if mt and mt.set_deadline then pcall(s.set_deadline, s, luds.now() + 0.002) end
    end
    local key = key_of(target)
    -- If this call kills the process, the parent tells which call it was.
    local last = assert(io.open(dir .. "/last-call", "w"))
    last:write(("call %d: %s(%s)\n"):format(i, key, describe(args)))
    last:close()
    local call = luds.spawn(function()
      return table.pack(pcall(target.fn, table.unpack(args, 1, args.n)))
    end)
    local ok, r = call:wait(0.03)
    calls = calls + 1
    if ok == nil then
      call:cancel()
      stats[key].blocked = stats[key].blocked + 1
    elseif not ok then
      violations[#violations + 1] = ("%s(%s): the call's task ended with %s")
        :format(key, describe(args), tostring(r))
    else
      local class, why = classify(target.name, r)
      if class then
        stats[key][class] = stats[key][class] + 1
      else
        violations[#violations + 1] = ("%s(%s) %s"):format(key, describe(args), why)
      end
      for j = 2, r.n do made_by_call(r[j]) end
    end
  end
  drop_all()
  local keys = {}
  for k in pairs(stats) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local s = stats[k]
    print(("%s ok=%d failed=%d raised=%d blocked=%d")
      :format(k, s.ok, s.failed, s.raised, s.blocked))
  end
  for j = 1, math.min(#violations, 20) do print("violation: " .. violations[j]) end
  print(("done calls=%d violations=%d"):format(calls, #violations))
end

if arg[1] == "--fuzz" then
  fuzz(arg[2], tonumber(arg[3]), tonumber(arg[4]), arg[5])
  io.stdout:flush()
  luds.exit(0)
else
  local lu = require "luaunit"
  local H = require "helper"
  local T = require "luds.test"

  -- The child runs elsewhere: it needs absolute paths.
  local CWD = H.sh("pwd"):gsub("\n$", "")
  local function absolute(path) return path:sub(1, 1) == "/" and path or CWD .. "/" .. path end
  local SPEC, LUDS = absolute(arg[0]), absolute(H.LUDS)

  TestFuzz = H.suite()

  -- Runs the fuzzer on area in a child; checks it finished every call, found
  -- no bad return, and got past the argument checks of every function.
  local function run_area(self, area, iterations)
    local cwd = self.dir .. "/scratch/cwd"
    assert(os.execute("mkdir -p " .. H.q(cwd)))
    local out, err, status = H.exec("sh -c " .. H.q(("cd %s && exec %s %s --fuzz %s %d %d %s")
      :format(H.q(cwd), H.q(LUDS), H.q(SPEC), area, SEED, iterations, H.q(cwd))))
    local tail = ("\n-- last call: %s-- stdout:\n%s\n-- stderr (end):\n%s")
      :format(H.slurp(cwd .. "/last-call") or "none\n", out:sub(-2000), err:sub(-3000))
    lu.assertEquals(status, 0, "the fuzzer process died" .. tail)
    lu.assertStrContains(out, ("done calls=%d violations=0\n"):format(iterations), false)
    local functions = 0
    for name, ok, failed in out:gmatch("([%w_@]+) ok=(%d+) failed=(%d+)") do
      functions = functions + 1
      lu.assertTrue(tonumber(ok) + tonumber(failed) > 0,
        name .. " never got past its argument checks" .. tail)
    end
    return "\n" .. out, functions
  end

  function TestFuzz:test_module_functions()
    local out, n = run_area(self, "module", 1500)
    lu.assertEquals(n, #MODULE_FUNCTIONS)
    for _, name in ipairs(MODULE_FUNCTIONS) do lu.assertStrContains(out, "\n" .. name .. " ok=") end
    lu.assertNotStrContains(out, "\nexit ok=")
  end

  function TestFuzz:test_listener_methods()
    local out = run_area(self, "listeners", 800)
    for _, name in ipairs({ "accept", "addr", "close", "fd", "set_deadline" }) do
      lu.assertStrContains(out, "\n" .. name .. "@listeners ok=")
    end
  end

  function TestFuzz:test_conn_methods()
    local out = run_area(self, "conns", 1500)
    for _, name in ipairs({ "read", "read_full", "read_line", "write", "close", "close_write",
      "close_read", "local_addr", "remote_addr", "set_deadline", "set_read_deadline",
      "set_write_deadline", "peer_cred", "peer_groups", "fd" }) do
      lu.assertStrContains(out, "\n" .. name .. "@conns ok=")
    end
  end

  function TestFuzz:test_packet_conn_methods()
    local out = run_area(self, "packets", 1500)
    for _, name in ipairs({ "read", "read_from", "write", "write_to", "close", "local_addr",
      "remote_addr", "set_deadline", "peer_cred", "peer_groups", "fd" }) do
      lu.assertStrContains(out, "\n" .. name .. "@packets ok=")
    end
  end

  function TestFuzz:test_task_methods()
    local out = run_area(self, "tasks", 600)
    for _, name in ipairs({ "wait", "cancel", "status" }) do
      lu.assertStrContains(out, "\n" .. name .. "@tasks ok=")
    end
  end

  -- Channels, events, conds, semaphores, permits and groups, each in its
  -- states (empty, full, closed, waited on, set, held, released, busy).
  local COORD_METHODS = {
    channels = { "send", "recv", "try_send", "try_recv", "close", "values", "capacity" },
    events = { "wait", "set", "clear", "is_set" }, conds = { "wait", "signal", "broadcast" },
    semaphores = { "acquire", "release", "available" }, permits = { "release" },
    groups = { "spawn", "wait", "cancel" },
  }
  for _, list in ipairs(COORDINATION) do
    TestFuzz["test_" .. list .. "_methods"] = function(self)
      local out = run_area(self, list, 400)
      for _, name in ipairs(COORD_METHODS[list]) do
        lu.assertStrContains(out, "\n" .. name .. "@" .. list .. " ok=")
      end
    end
  end

  -- __gc, __close and __tostring are reachable as methods (the metatable is
  -- also __index): they must check their argument like any method.
  function TestFuzz:test_metamethods()
    local out = run_area(self, "meta", 800)
    for _, name in ipairs({ "__gc@conns", "__close@listeners", "__tostring@packets",
      "__tostring@tasks" }) do
      lu.assertStrContains(out, "\n" .. name .. " ok=")
    end
  end

  luds.exit(T.run())
end
