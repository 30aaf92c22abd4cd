-- luds.serve(ln, handler): the accept loop. Each conn gets a task running
-- handler(conn); the conn is closed when the handler returns or fails.
local luds = require "luds"

local M = {}

-- Accept errors that mean "out of resources for now" (fds, memory): wait and
-- retry, backing off from 5 ms to 1 s, instead of spinning or giving up.
local transient = { EMFILE = true, ENFILE = true, ENOBUFS = true, ENOMEM = true }

local function handle(handler, conn)
  local c <close> = conn
  return handler(c)
end

-- Returns true once the listener is closed; nil, msg, code on any other
-- accept error (a listener deadline, for one).
function M.serve(ln, handler)
  assert(type(handler) == "function", "luds.serve: handler must be a function")
  local delay = 0
  while true do
    local conn, err, code = ln:accept()
    if conn then
      delay = 0
      luds.spawn(handle, handler, conn)
    elseif code == "CLOSED" then
      return true
    elseif transient[code] then
      delay = math.min(delay == 0 and 0.005 or delay * 2, 1)
      luds.sleep(delay)
    else
      return nil, err, code
    end
  end
end

return M
