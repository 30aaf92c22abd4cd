-- luds.serve(ln, handler [, opts]) and luds.server(ln, handler [, opts]):
-- the accept loop. Each conn gets a task running handler(conn); the conn is
-- closed when the handler returns or fails. A server handle counts its
-- handlers, bounds them (max_conns) and stops gracefully (shutdown), as Go's
-- http.Server.Shutdown does: stop accepting, let running handlers finish
-- within a timeout, then cancel the rest (their <close> variables run).
local luds = require "luds"

local M = {}

-- Accept errors that mean "out of resources for now" (fds, memory): wait and
-- retry, backing off from 5 ms to 1 s, instead of spinning or giving up.
local transient = { EMFILE = true, ENFILE = true, ENOBUFS = true, ENOMEM = true }

local OPTIONS = { max_conns = true }

local function check_options(fname, opts)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error(("bad argument #3 to '%s' (table expected, got %s)"):format(fname, type(opts)), 3)
  end
  for k in pairs(opts) do
    if type(k) ~= "string" or not OPTIONS[k] then
      local what = type(k) == "string" and ("unknown option '%s'"):format((k:gsub("%z", "\\0")))
        or "option names must be strings, not " .. type(k)
      error(("bad argument #3 to '%s' (%s; accepted: max_conns)"):format(fname, what), 3)
    end
  end
  local max = opts.max_conns
  if max ~= nil and (math.type(max) ~= "integer" or max < 1) then
    error(("bad argument #3 to '%s' (option 'max_conns' must be an integer of 1 or more)")
      :format(fname), 3)
  end
  return opts
end

local Server = {}
Server.__index = Server

-- Runs one handler; its conn, its permit (with max_conns) and its place in
-- srv.tasks go when it ends, however it ends. box.task is set by the spawn
-- before the handler first runs.
local function handle(srv, conn, permit, box)
  local c <close> = conn
  local p <close> = permit
  local _ <close> = setmetatable({}, { __close = function() srv.tasks[box.task] = nil end })
  return srv.handler(c)
end

function M.server(ln, handler, opts)
  assert(type(handler) == "function", "luds.server: handler must be a function")
  opts = check_options("server", opts)
  local srv = setmetatable({ ln = ln, handler = handler, tasks = {} }, Server)
  if opts.max_conns then srv.sem = luds.semaphore(opts.max_conns) end
  return srv
end

-- How many handlers are running.
function Server:active()
  local n = 0
  for _ in pairs(self.tasks) do n = n + 1 end
  return n
end

-- Accepts until the listener is closed (by shutdown, by SIGINT/SIGTERM, or
-- by ln:close()): true; nil, msg, code on any other accept error. With
-- max_conns, accept waits while that many handlers run.
function Server:serve()
  local delay = 0
  while true do
    local permit = self.sem and self.sem:acquire()
    local conn, err, code = self.ln:accept()
    if conn then
      delay = 0
      local box = {}
      box.task = luds.spawn(handle, self, conn, permit, box)
      self.tasks[box.task] = true
    else
      if permit then permit:release() end
      if code == "CLOSED" then
        return true
      elseif transient[code] then
        delay = math.min(delay == 0 and 0.005 or delay * 2, 1)
        luds.sleep(delay)
      else
        return nil, err, code
      end
    end
  end
end

-- Stops accepting (the listener closes and its socket file goes at once),
-- waits up to `timeout` seconds (nil: as long as it takes) for the running
-- handlers, then cancels those still running. Returns true when every
-- handler ended by itself, else false and how many were cancelled.
function Server:shutdown(timeout)
  -- One pass first: an accept already woken for a conn takes it (a shared
  -- listener's wake-up goes to one worker only; closing before that accept
  -- would leave the conn queued with no worker told of it).
  luds.sleep(0)
  self.ln:close()
  local deadline = timeout and luds.now() + timeout
  for t in pairs(self.tasks) do
    local left = deadline and math.max(deadline - luds.now(), 0)
    if left ~= 0 then t:wait(left) end
  end
  local cancelled = 0
  for t in pairs(self.tasks) do -- a cancelled handler clears its own entry
    if t:cancel() then cancelled = cancelled + 1 end
  end
  if cancelled > 0 then return false, cancelled end
  return true
end

-- Returns true once the listener is closed; nil, msg, code on any other
-- accept error (a listener deadline, for one).
function M.serve(ln, handler, opts)
  assert(type(handler) == "function", "luds.serve: handler must be a function")
  check_options("serve", opts)
  return M.server(ln, handler, opts):serve()
end

return M
