-- Runs a spec file under a stock lua5.4 with the loadable module build/luds.so,
-- inside luds.run:  lua5.4 spec/stock.lua spec/stream_spec.lua
local root = arg[0]:match("^(.*)/spec/[^/]*$") or "."
package.cpath = root .. "/build/?.so;" .. package.cpath
local luds = require "luds"
local file = assert(arg[1], "usage: lua5.4 spec/stock.lua SPEC_FILE")
arg = { [0] = file }
local ok, err = luds.run(function() return dofile(file) end)
if not ok then
  io.stderr:write(tostring(err), "\n")
  os.exit(1)
end
