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

-- luaunit 3.4's summary: "Ran 5 tests in 0.012 seconds, 3 successes, 1 failure,
-- 1 error[, 2 skipped]"; a zero count of failures or errors may be left out.
-- The C tests and the install check print "N passed, N failed".
local function parse_summary(line)
  local p, f = line:match("^(%d+) passed, (%d+) failed$")
  if p then return { passed = tonumber(p), failed = tonumber(f) } end
  if not line:match("^Ran %d+ tests? in ") then return nil end
  local function count(word) return tonumber(line:match("(%d+) " .. word)) or 0 end
  return { passed = count("success"), failed = count("failure") + count("error") }
end

-- Runs one file, passing its output through; returns its passed and failed counts.
local function run_file(file, cmd)
  print("== " .. file)
  io.stdout:flush()
  local p = assert(io.popen(("timeout -k 5 120 %s 2>&1"):format(cmd)))
  local summary
  for line in p:lines() do
    print(line)
    summary = parse_summary(line) or summary
  end
  local _, how, status = p:close()
  if not summary then
    print(("-- %s: no luaunit summary (%s %d%s)"):format(file, how, status,
      status == 124 and ", timed out" or ""))
    return 0, 1
  end
  if status ~= 0 and summary.failed == 0 then
    print(("-- %s: all tests passed but the process exited with %s %d"):format(file, how, status))
    return summary.passed, 1
  end
  return summary.passed, summary.failed
end

local passed, failed = 0, 0
for _, run in ipairs(runs()) do
  local p, f = run_file(run.label, run.cmd)
  passed, failed = passed + p, failed + f
end
print(("%d passed, %d failed"):format(passed, failed))
io.stdout:flush()
luds.exit(failed > 0 and 1 or 0)
