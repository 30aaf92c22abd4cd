-- Runs the specs, each in its own process so a crash or hang fails that file and
-- not the run; sums the counts and ends with one line "N passed, N failed".
--   luds spec/run.lua [spec files...]
-- With no files: every spec/*_spec.lua on luds, the stream, networks, copy,
-- and coordination (chan, select, sync, group, deadlock, serve) specs again
-- on a stock lua5.4 with build/luds.so, the C tests in build/tests
-- and the install check.
-- LUDS names the binary to test (default build/luds), e.g. a sanitizer build;
-- LUDS_WRAP prefixes each spec process (valgrind); LUDS_ASAN names a sanitizer
-- build on which every spec file runs a second time;
-- LUDS_QUICK=1 leaves out the stock-lua, C and install runs.
local luds = require "luds"
local runner = require "luds.testrunner"

local root = arg[0]:match("^(.*)/spec/[^/]*$") or "."
local bin = os.getenv("LUDS") or root .. "/build/luds"
local wrap = os.getenv("LUDS_WRAP") -- e.g. a valgrind command line

local function q(s) return "'" .. s:gsub("'", [['\'']]) .. "'" end

local function ls(pattern)
  local files = {}
  local p <close> = assert(io.popen("ls " .. pattern .. " 2>/dev/null"))
  for line in p:lines() do files[#files + 1] = line end
  return files
end

-- Each run: a label and the shell command that runs it.
local function runs()
  local list = {}
  local function add(label, cmd) list[#list + 1] = { label = label, cmd = cmd } end
  local files = #arg > 0 and { table.unpack(arg) } or ls(q(root) .. "/spec/*_spec.lua")
  local runner = (wrap and wrap .. " " or "") .. q(bin)
  for _, file in ipairs(files) do add(file, runner .. " " .. q(file)) end
  local asan = os.getenv("LUDS_ASAN") -- a sanitizer build to run every file on too
  if asan then
    for _, file in ipairs(files) do
      add("asan: " .. file, ("env LUDS=%s %s %s"):format(q(asan), q(asan), q(file)))
    end
  end
  if #arg > 0 or os.getenv("LUDS_QUICK") then return list end
  for _, name in ipairs({ "stream", "networks", "copy", "chan", "select", "sync", "group",
    "deadlock", "serve" }) do
    local file = "spec/" .. name .. "_spec.lua"
    add("stock lua5.4: " .. file,
      "lua5.4 " .. q(root .. "/spec/stock.lua") .. " " .. q(root .. "/" .. file))
  end
  for _, test in ipairs(ls(q(root) .. "/build/tests/*_test")) do add(test, q(test)) end
  add("make check-install", "sh " .. q(root .. "/tools/check-install.sh"))
  return list
end

local passed, failed = 0, 0
for _, run in ipairs(runs()) do
  local p, f = runner.run_command(run.label, run.cmd, 120)
  passed, failed = passed + p, failed + f
end
print(("%d passed, %d failed"):format(passed, failed))
io.stdout:flush()
luds.exit(failed > 0 and 1 or 0)
