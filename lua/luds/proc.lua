-- luds.output: Go's exec.Command(...).Output() and CombinedOutput() on top of
-- luds.exec. The child's stdout and stderr are read to their end by two tasks
-- while a third feeds it `input`, so a child that fills one pipe while we
-- wait on another can never deadlock the call.
local luds = require "luds"

local M = {}

local ACCEPTED = { "cwd", "env", "extra_fds", "input", "stderr", "stdin", "timeout" }
local accepted = {}
for _, k in ipairs(ACCEPTED) do accepted[k] = true end

local CHUNK = 256 * 1024

-- The options, checked as lsock_checkopts checks them (own keys only, every
-- key known); returns nil and the reason for the argument error.
local function check(opts)
  if opts == nil then return {} end
  if type(opts) ~= "table" then return nil, "table expected, got " .. type(opts) end
  for k in next, opts do
    if type(k) ~= "string" then
      return nil, ("option names must be strings, not %s; accepted: %s"):format(type(k), table.concat(ACCEPTED, ", "))
    end
    if not accepted[k] then
      return nil, ("unknown option '%s'; accepted: %s"):format(k:gsub("%z", "\\0"), table.concat(ACCEPTED, ", "))
    end
  end
  if opts.input ~= nil and type(opts.input) ~= "string" then return nil, "option 'input' must be a string" end
  if opts.input ~= nil and opts.stdin ~= nil then return nil, "options 'input' and 'stdin' exclude each other" end
  local t = opts.timeout
  if t ~= nil and (type(t) ~= "number" or not (t >= 0)) then
    return nil, "option 'timeout' must be a number of seconds, 0 or more (0: none)"
  end
  return opts
end

-- Reads conn to its end into parts; true, or nil, msg, code.
local function drain(conn, parts)
  while true do
    local data, msg, code = conn:read(CHUNK)
    if not data then
      if code == "EOF" then return true end
      return nil, msg, code
    end
    parts[#parts + 1] = data
  end
end

-- Runs the readers and the writer; returns the first failure as { msg, code }.
local function collect(p, input, outs, errs)
  local failure
  local function note(ok, msg, code)
    if not ok and not failure then failure = { msg, code } end
  end
  local g <close> = luds.group()
  if input then
    g:spawn(function()
      local ok, msg, code = p.stdin:write(input)
      p.stdin:close()
      -- A child may exit without reading all of it, as Go lets it.
      if code ~= "EPIPE" then note(ok, msg, code) end
    end)
  end
  if p.stderr then g:spawn(function() note(drain(p.stderr, errs)) end) end
  note(drain(p.stdout, outs))
  g:wait()
  return failure
end

-- Kills and reaps the child; a timeout is named after the program.
local function finish(p, argv, failure)
  p:kill("KILL")
  p:wait()
  if failure[2] == "TIMEOUT" then
    return nil, ("output %s %d: i/o timeout"):format(argv[1], p.pid), "TIMEOUT"
  end
  return nil, failure[1], failure[2]
end

-- luds.output(argv [, opts]) -> stdout, stderr, status (the child exited,
-- with any status) | nil, msg, "SIGNALED", signo | nil, msg, code (exec
-- failed, the timeout passed: the child is then killed and reaped).
function M.output(argv, opts)
  local o, why = check(opts)
  if not o then error(("bad argument #2 to 'output' (%s)"):format(why), 2) end
  local p, msg, code = luds.exec(argv, {
    cwd = o.cwd, env = o.env, extra_fds = o.extra_fds, stdout = "pipe",
    stdin = o.input and "pipe" or o.stdin, stderr = o.stderr or "pipe",
  })
  if not p then return nil, msg, code end
  local done
  local _ <close> = setmetatable({}, { __close = function()
    for _, name in ipairs({ "stdin", "stdout", "stderr" }) do
      if p[name] then p[name]:close() end
    end
    if not done then p:kill("KILL") end -- cancelled or failed: no orphan left running
  end })
  local deadline = o.timeout and o.timeout > 0 and luds.now() + o.timeout
  for _, name in ipairs({ "stdin", "stdout", "stderr" }) do
    if deadline and p[name] then p[name]:set_deadline(deadline) end
  end
  local outs, errs = {}, {}
  local failure = collect(p, o.input, outs, errs)
  if failure then return finish(p, argv, failure) end
  local status, wmsg, wcode, sig = p:wait(deadline and math.max(0, deadline - luds.now()) or nil)
  if wcode == "TIMEOUT" then return finish(p, argv, { wmsg, wcode }) end
  done = true
  if not status then return nil, wmsg, wcode, sig end
  return table.concat(outs), table.concat(errs), status
end

return M
