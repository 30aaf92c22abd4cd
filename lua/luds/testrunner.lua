-- The `luds test` runner: finds spec files, runs each in its own process (a
-- crash or a hang fails that file, not the run), passes luaunit's output
-- through and ends with one line "N passed, N failed".
local M = {}

local USAGE = [[
usage: luds test [options] [path...]
Runs every *_spec.lua file found under each path (files are run as given;
default: spec/ or else test/), each in its own process.
  -p, --pattern PAT   run only the tests whose name matches the Lua pattern (luaunit)
  -x, --exclude PAT   leave out the tests whose name matches
  -o, --output FMT    luaunit output: text (default), tap, junit, nil
  -n, --name FILE     junit output file (one per spec file: FILE.<spec name>.xml)
  -v, --verbose       luaunit's verbose output
  -t, --timeout S     seconds each test may run (default 60)
  --file-timeout S    seconds each file may run (default 600)
  -h, --help          this text
]]

local function q(s) return "'" .. tostring(s):gsub("'", [['\'']]) .. "'" end

local function lines_of(cmd)
  local t = {}
  local p = assert(io.popen(cmd, "r"))
  for line in p:lines() do t[#t + 1] = line end
  p:close()
  return t
end

local function is_dir(path)
  local p = assert(io.popen("test -d " .. q(path) .. " && echo d", "r"))
  local d = p:read("a")
  p:close()
  return d == "d\n"
end

local function exists(path)
  local f = io.open(path, "r")
  if f then f:close() end
  return f ~= nil or is_dir(path)
end

-- The spec files of paths: a file as it is, a directory's *_spec.lua files
-- at any depth, sorted.
local function discover(paths)
  local files = {}
  for _, path in ipairs(paths) do
    if is_dir(path) then
      local found = lines_of(("find %s -name '*_spec.lua' -type f | LC_ALL=C sort"):format(q(path)))
      table.move(found, 1, #found, #files + 1, files)
    elseif exists(path) then
      files[#files + 1] = path
    else
      return nil, "no such file or directory: " .. path
    end
  end
  return files
end

-- Parses the command line; returns the options or nil and an error.
local function parse(args)
  local o = { paths = {}, luaunit = {}, timeout = nil, file_timeout = 600 }
  local i = 1
  local function value(name)
    i = i + 1
    if args[i] == nil then error(("option %s needs a value"):format(name), 0) end
    return args[i]
  end
  local function seconds(name)
    local v = tonumber(value(name))
    if not v or v <= 0 then error(("option %s needs a positive number"):format(name), 0) end
    return v
  end
  while i <= #args do
    local a = args[i]
    if a == "-h" or a == "--help" then
      o.help = true
    elseif a == "-p" or a == "--pattern" or a == "-x" or a == "--exclude" then
      o.luaunit[#o.luaunit + 1] = a
      o.luaunit[#o.luaunit + 1] = value(a)
    elseif a == "-o" or a == "--output" then
      o.output = value(a)
      if not ({ text = 1, tap = 1, junit = 1, ["nil"] = 1 })[o.output:lower()] then
        error("unknown output format: " .. o.output, 0)
      end
    elseif a == "-n" or a == "--name" then
      o.name = value(a)
    elseif a == "-v" or a == "--verbose" then
      o.luaunit[#o.luaunit + 1] = "-v"
    elseif a == "-t" or a == "--timeout" then
      o.timeout = seconds(a)
    elseif a == "--file-timeout" then
      o.file_timeout = seconds(a)
    elseif a == "--" then
      table.move(args, i + 1, #args, #o.paths + 1, o.paths)
      break
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      error("unknown option: " .. a, 0)
    else
      o.paths[#o.paths + 1] = a
    end
    i = i + 1
  end
  if o.output and o.output:lower() == "junit" and not o.name then
    error("junit output needs -n FILE", 0)
  end
  return o
end

-- A summary line: luaunit 3.4's, in text or TAP form ("[# ]Ran 5 tests in
-- 0.012 seconds, 3 successes, 1 failure, 1 error[, 2 skipped]"; a zero count
-- of failures or errors may be left out), or "N passed, N failed" (this
-- runner's own, C tests') -> { passed, failed }, or nil for any other line.
function M.parse_summary(line)
  local p, f = line:match("^(%d+) passed, (%d+) failed$")
  if p then return { passed = tonumber(p), failed = tonumber(f) } end
  line = line:gsub("^# ", "")
  if not line:match("^Ran %d+ tests? in ") then return nil end
  local function count(word) return tonumber(line:match("(%d+) " .. word)) or 0 end
  return { passed = count("success"), failed = count("failure") + count("error") }
end

-- The interpreter running this process: children run on it too, so `luds
-- test` runs specs on luds and a stock lua5.4 runs them on lua5.4.
local function interpreter()
  local f = assert(io.open("/proc/self/stat"))
  local pid = f:read("a"):match("^(%d+)")
  f:close()
  return lines_of("readlink /proc/" .. pid .. "/exe")[1]
end

-- M.run_command(label, cmd, seconds) -> passed, failed: runs the shell
-- command cmd (its stderr joined to stdout) for at most seconds under
-- "== label", passing its output through; a run without a summary line, or
-- that passed everything but exited non-zero, counts one failure more.
function M.run_command(label, cmd, seconds)
  print("== " .. label)
  io.stdout:flush()
  local p = assert(io.popen(("timeout -k 5 %g %s 2>&1"):format(seconds, cmd), "r"))
  local summary
  for line in p:lines() do
    print(line)
    summary = M.parse_summary(line) or summary
  end
  local _, how, status = p:close()
  if not summary then
    print(("-- %s: no luaunit summary (%s %d%s)"):format(label, how, status,
      status == 124 and (", ran over %g s"):format(seconds) or ""))
    return 0, 1
  end
  if status ~= 0 and summary.failed == 0 then
    print(("-- %s: all tests passed but the process exited with %s %d"):format(label, how, status))
    return summary.passed, 1
  end
  return summary.passed, summary.failed
end

-- Runs one spec file; returns its passed and failed counts.
local function run_file(file, o, interp)
  local args = { table.unpack(o.luaunit) }
  if o.output then args[#args + 1] = "-o" args[#args + 1] = o.output end
  if o.name then
    args[#args + 1] = "-n"
    args[#args + 1] = ("%s.%s.xml"):format(o.name, file:gsub("^.*/", ""):gsub("%.lua$", ""))
  end
  for k, a in ipairs(args) do args[k] = q(a) end
  local env = o.timeout and ("env LUDS_TEST_TIMEOUT=%g "):format(o.timeout) or ""
  return M.run_command(file, ("%s%s %s %s </dev/null"):format(env, q(interp), q(file),
    table.concat(args, " ")), o.file_timeout)
end

-- M.main(args) -> exit status: 0 when every test passed, 1 when one did
-- not, 2 for a bad command line.
function M.main(args)
  local ok, o = pcall(parse, args or {})
  if not ok then
    io.stderr:write("luds test: ", o, "\n", USAGE)
    return 2
  end
  if o.help then
    io.stdout:write(USAGE)
    return 0
  end
  if #o.paths == 0 then o.paths = { is_dir("spec") and "spec" or "test" } end
  local files, err = discover(o.paths)
  if not files then
    io.stderr:write("luds test: ", err, "\n")
    return 2
  end
  local interp = interpreter()
  local passed, failed = 0, 0
  for _, file in ipairs(files) do
    local p, f = run_file(file, o, interp)
    passed, failed = passed + p, failed + f
  end
  if #files == 0 then print("-- no *_spec.lua files under " .. table.concat(o.paths, ", ")) end
  print(("%d passed, %d failed"):format(passed, failed))
  io.stdout:flush()
  return failed > 0 and 1 or 0
end

return M
