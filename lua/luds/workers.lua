-- luds.workers(opts): one server on every core. The process the script
-- starts as becomes the supervisor: it creates the listeners once
-- (opts.listen), starts opts.n workers -- this program running this script
-- again, the listeners inherited on fds 3.. as in socket activation --,
-- restarts a worker that dies (with backoff; a crash loop makes it give up),
-- drains them all on SIGTERM, SIGINT or SIGQUIT, replaces them on SIGHUP
-- with workers running the script as it is now on disk, and alone removes
-- the socket files, once, at the end. In a worker the call returns the
-- worker's description and its listeners, or serves them (opts.serve).
local luds = require "luds"
local core = require "luds.workerproc"

local M = {}

local OPTIONS = { n = true, listen = true, serve = true, drain = true, start_timeout = true }
local BACKOFF_FIRST, BACKOFF_MAX = 0.1, 5 -- seconds before a restart, doubling per death
local HEALTHY = 10                        -- a worker that ran this long starts the backoff over
local DEATHS, WINDOW = 10, 10             -- this many deaths within this many seconds: give up
local KILL_WAIT = 5                       -- after SIGKILL, how long the kernel may take
local GRACE = 1                           -- beyond drain: a worker's own exit after its drain

local function say(fmt, ...)
  io.stderr:write("luds: ", fmt:format(...), "\n")
end

-- Raised without a position: M.workers raises it again at its caller's.
local function bad(what)
  error(("bad argument #1 to 'workers' (%s)"):format(what), 0)
end

local function positive(opts, key, default)
  local v = opts[key]
  if v == nil then return default end
  if type(v) ~= "number" or not (v > 0) then
    bad(("option '%s' must be a number of seconds above 0"):format(key))
  end
  return v
end

-- opts.n, else LUDS_WORKERS, else the CPUs this process may run on.
local function count(opts)
  local n, from = opts.n, "option 'n'"
  if n == nil and (os.getenv("LUDS_WORKERS") or "") ~= "" then
    n, from = tonumber(os.getenv("LUDS_WORKERS")) or false, "LUDS_WORKERS"
  end
  if n == nil then return core.cpus() end
  n = type(n) == "number" and math.tointeger(n)
  if not n or n < 1 or n > 1024 then bad(from .. " must be a whole number from 1 to 1024") end
  return n
end

local function check(opts)
  if type(opts) ~= "table" then bad("table expected, got " .. type(opts)) end
  for k in pairs(opts) do
    if type(k) ~= "string" or not OPTIONS[k] then
      local what = type(k) == "string" and ("unknown option '%s'"):format((k:gsub("%z", "\\0")))
        or "option names must be strings, not " .. type(k)
      bad(what .. "; accepted: drain, listen, n, serve, start_timeout")
    end
  end
  if type(opts.listen) ~= "function" then
    bad("option 'listen' must be a function that returns the list of listeners")
  end
  if opts.serve ~= nil and type(opts.serve) ~= "function" then
    bad("option 'serve' must be a function (the handler of each conn)")
  end
  return { n = count(opts), listen = opts.listen, serve = opts.serve,
           drain = positive(opts, "drain", 10), start_timeout = positive(opts, "start_timeout", 10) }
end

local function describe(how, code, name)
  if how == "exited" then return ("exited with status %d"):format(code) end
  if how == "killed" then return ("was killed by signal %d (%s)"):format(code, name) end
  return "ended: " .. tostring(code) -- wait failed: how is nil, code the message
end

local Sup = {}
Sup.__index = Sup

-- Waits (on self.changed, broadcast at every worker's readiness and exit)
-- until done() holds, for at most `seconds`; whether it held.
function Sup:await(done, seconds)
  local deadline = luds.now() + seconds
  while not done() do
    local left = deadline - luds.now()
    if left <= 0 then return false end
    self.changed:wait(left)
  end
  return true
end

function Sup:ready_wait(rec)
  local line = rec.notify:read_line()
  rec.notify:close()
  if line == "ready" then
    rec.ready = true
    self.changed:broadcast()
  end
end

-- Reaps rec; a death nobody asked for empties its slot and is restarted.
function Sup:watch(rec)
  rec.exit = table.pack(rec.proc:wait())
  rec.done = true
  self.live[rec] = nil
  if rec.notify then rec.notify:close() end
  self.changed:broadcast()
  if self.stopping or rec.retiring or self.slots[rec.index] ~= rec then return end
  self.slots[rec.index] = nil
  self:died(rec.index, ("worker %d (pid %d) %s"):format(rec.index, rec.pid,
    describe(table.unpack(rec.exit, 1, 3))), luds.now() - rec.started)
end

-- Starts worker `index` of the current generation: rec, or nil and why.
function Sup:start(index)
  local proc, fd = core.spawn(self.listeners, index, self.n, self.gen)
  if not proc then return nil, fd end
  local rec = { proc = proc, pid = proc:pid(), index = index, started = luds.now() }
  rec.notify = luds.wrap(fd)
  if not rec.notify then luds.close_fd(fd) end -- never ready: a reload waits in vain
  self.live[rec] = true
  luds.spawn(self.watch, self, rec)
  if rec.notify then luds.spawn(self.ready_wait, self, rec) end
  return rec
end

function Sup:restart(index, delay)
  luds.sleep(delay)
  if self.stopping or self.slots[index] then return end
  local rec, err = self:start(index)
  if rec then
    self.slots[index] = rec
  else
    self:died(index, ("cannot start worker %d: %s"):format(index, err), 0)
  end
end

-- Counts a death against the crash-loop limit, then restarts the slot after
-- its backoff: 0.1 s doubling to 5 s, from 0.1 s again after a healthy run.
function Sup:died(index, what, ran)
  local now, d = luds.now(), self.deaths
  d[#d + 1] = now
  while d[1] <= now - WINDOW do table.remove(d, 1) end
  if #d >= DEATHS then
    say("%s", what)
    say("workers: %d worker deaths within %d s; giving up", #d, WINDOW)
    self:stop(1)
    return
  end
  local delay = ran >= HEALTHY and BACKOFF_FIRST or self.backoff[index] or BACKOFF_FIRST
  self.backoff[index] = math.min(delay * 2, BACKOFF_MAX)
  say("%s; restarting in %g s", what, delay)
  luds.spawn(self.restart, self, index, delay)
end

-- SIGKILL for a worker still there drain + GRACE seconds after its SIGTERM.
function Sup:kill_late(rec)
  if rec.done then return false end
  say("worker %d (pid %d) did not exit within %g s of SIGTERM; killing it", rec.index, rec.pid,
    self.drain + GRACE)
  rec.proc:signal("KILL")
  return true
end

-- A worker leaves: SIGTERM (it drains), SIGKILL if it outstays the drain.
function Sup:retire(rec)
  rec.retiring = true
  if rec.done then return end
  rec.proc:signal("TERM")
  luds.spawn(function()
    self:await(function() return rec.done end, self.drain + GRACE)
    self:kill_late(rec)
  end)
end

-- Stops: new conns are refused, every worker gets SIGTERM (it drains), then
-- the main task closes the listeners and exits with code (1 too if a worker
-- had to be killed). Does not wait: callable from a watch task.
function Sup:stop(code)
  if self.stopping then return end
  self.stopping, self.code = true, code
  for _, ln in ipairs(self.listeners) do core.refuse(ln) end -- the files stay till the end
  for rec in pairs(self.live) do rec.proc:signal("TERM") end
  luds.spawn(function()
    self:await(function() return next(self.live) == nil end, self.drain + GRACE)
    for rec in pairs(self.live) do
      if self:kill_late(rec) then self.code = math.max(self.code, 1) end
    end
    self:await(function() return next(self.live) == nil end, KILL_WAIT)
    self.finished:set()
  end)
end

-- Why the fresh workers of a reload cannot take over, or nil once all are
-- ready (or the supervisor is stopping).
function Sup:takeover(fresh)
  local ok = self:await(function() -- all ready, or one gone, or stopping
    local all = true
    for _, r in ipairs(fresh) do
      if r.done then return true end
      all = all and r.ready
    end
    return all or self.stopping
  end, self.start_timeout)
  for _, r in ipairs(fresh) do
    if r.done then
      return ("worker %d (pid %d) %s before it was ready"):format(r.index, r.pid,
        describe(table.unpack(r.exit, 1, 3)))
    end
    if not ok and not r.ready then
      return ("worker %d (pid %d) was not ready within %g s"):format(r.index, r.pid,
        self.start_timeout)
    end
  end
end

-- One reload: a new generation starts; once every one of its workers has
-- its listeners, the old workers are retired (they drain), never before.
function Sup:replace()
  self.gen = self.gen + 1
  local t0, fresh, why = luds.now(), {}, nil
  for i = 1, self.n do
    local rec, err = self:start(i)
    if not rec then why = ("cannot start worker %d: %s"):format(i, err) break end
    fresh[i] = rec
  end
  why = why or self:takeover(fresh)
  if self.stopping then return end -- the fresh ones are live: stop drains them too
  if why then
    for _, r in ipairs(fresh) do self:retire(r) end
    say("workers: reload failed: %s; the running workers stay", why)
    return
  end
  for i, r in ipairs(fresh) do
    local old = self.slots[i]
    self.slots[i], self.backoff[i] = r, nil
    if old then self:retire(old) end
  end
  say("workers: generation %d ready in %.3f s; the previous workers drain", self.gen,
    luds.now() - t0)
end

-- SIGHUPs during a reload make one more reload after it.
function Sup:reload()
  if self.stopping then return end
  if self.reloading then self.again = true return end
  self.reloading = true
  repeat
    self.again = false
    self:replace()
  until not self.again or self.stopping
  self.reloading = false
end

local function supervise(o, listeners)
  local self = setmetatable({ listeners = listeners, n = o.n, drain = o.drain,
    start_timeout = o.start_timeout, gen = 1, slots = {}, live = {}, backoff = {},
    deaths = {}, changed = luds.cond(), finished = luds.event(), code = 0 }, Sup)
  for _, sig in ipairs({ "TERM", "INT", "QUIT" }) do
    luds.on_signal(sig, function() self:stop(0) end)
  end
  luds.on_signal("HUP", function() self:reload() end)
  for _, sig in ipairs({ "USR1", "USR2", "ALRM" }) do
    luds.on_signal(sig, function(name)
      for rec in pairs(self.live) do rec.proc:signal(name) end
    end)
  end
  for i = 1, self.n do
    local rec, err = self:start(i)
    if rec then self.slots[i] = rec else self:died(i, ("cannot start worker %d: %s"):format(i, err), 0) end
  end
  self.finished:wait()
  for _, ln in ipairs(listeners) do ln:close() end -- the socket files go, once
  luds.exit(self.code)
end

-- opts.serve in a worker: luds.server on every listener; SIGTERM and SIGINT
-- stop accepting and let running handlers finish for opts.drain seconds,
-- then the worker exits 0.
local function serve_all(o, list)
  local servers, draining, drained = {}, false, luds.event()
  for i, ln in ipairs(list) do servers[i] = luds.server(ln, o.serve) end
  local function drain()
    if draining then return end
    draining = true
    local g <close> = luds.group()
    for _, srv in ipairs(servers) do g:spawn(srv.shutdown, srv, o.drain) end
    g:wait()
    drained:set()
  end
  luds.on_signal("TERM", drain)
  luds.on_signal("INT", drain)
  do
    local g <close> = luds.group()
    for _, srv in ipairs(servers) do g:spawn(srv.serve, srv) end
    g:wait()
  end
  if draining then drained:wait() end
  luds.exit(0)
end

-- Whether the luds binary runs code from standard input (`luds -`, `luds
-- <file`, the REPL: it says so in the registry), which the workers, running
-- the command line again, could not read a second time.
local function from_stdin()
  return debug.getregistry()["luds.stdin"] == true
end

-- In the supervisor: supervises until stopped, then exits (never returns);
-- nil, msg, code if opts.listen fails. In a worker: w, listeners (w as
-- luds.worker() gives it), or never returns with opts.serve.
function M.workers(opts)
  local ok, o = pcall(check, opts)
  if not ok then error(o, 2) end
  local w = luds.worker()
  if w then
    local list, err, code = luds.listeners_from_env()
    if not list then return nil, err, code end
    for _, ln in ipairs(list) do core.share(ln) end
    core.ready()
    if o.serve then serve_all(o, list) end
    return w, list
  end
  if from_stdin() then
    error("luds.workers: workers run the script again, so it must be a file or -e code, "
      .. "not standard input", 2)
  end
  local list, err, code = o.listen()
  if not list then return nil, err, code end
  if type(list) ~= "table" then error("luds.workers: 'listen' must return a list of listeners", 2) end
  core.check(list)
  for _, ln in ipairs(list) do
    if o.serve and not ln.accept then
      error("luds.workers: 'serve' needs stream or seqpacket listeners, not " .. tostring(ln), 2)
    end
  end
  supervise(o, list)
end

return M
