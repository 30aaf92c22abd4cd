-- Runs spec files, each in its own luds process so a crash or hang fails that file
-- and not the run; sums luaunit's counts and ends with one line "N passed, N failed".
--   luds spec/run.lua [spec files...]      (default: every spec/*_spec.lua)
-- LUDS names the binary to test (default build/luds), e.g. a sanitizer build.
local luds = require "luds"

local root = arg[0]:match("^(.*)/spec/[^/]*$") or "."
local bin = os.getenv("LUDS") or root .. "/build/luds"

local function q(s) return "'" .. s:gsub("'", [['\'']]) .. "'" end

local function spec_files()
  if #arg > 0 then return { table.unpack(arg) } end
  local files = {}
  local ls <close> = assert(io.popen("ls " .. q(root) .. "/spec/*_spec.lua"))
  for line in ls:lines() do files[#files + 1] = line end
  return files
end

-- luaunit 3.4's summary: "Ran 5 tests in 0.012 seconds, 3 successes, 1 failure,
-- 1 error[, 2 skipped]"; a zero count of failures or errors may be left out.
local function parse_summary(line)
  if not line:match("^Ran %d+ tests? in ") then return nil end
  local function count(word) return tonumber(line:match("(%d+) " .. word)) or 0 end
  return { passed = count("success"), failed = count("failure") + count("error") }
end

-- Runs one file, passing its output through; returns its passed and failed counts.
local function run_file(file)
  print("== " .. file)
  io.stdout:flush()
  local p = assert(io.popen(("timeout -k 5 120 %s %s 2>&1"):format(q(bin), q(file))))
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
for _, file in ipairs(spec_files()) do
  local p, f = run_file(file)
  passed, failed = passed + p, failed + f
end
print(("%d passed, %d failed"):format(passed, failed))
io.stdout:flush()
luds.exit(failed > 0 and 1 or 0)
