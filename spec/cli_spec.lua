-- The luds command line against lua5.4's: each case runs the same arguments
-- under both, in a fresh temp dir with no LUA_* variables but those it sets,
-- and compares stdout, stderr (lua5.4's program name read as luds's) and the
-- exit status, and luds's against the exact expected bytes. The terminal
-- REPL runs on a pseudo-terminal through spec/cli_drive.py.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local H = require "helper"
local T = require "luds.test"

-- Absolute: every run starts in its own directory.
local function absolute(path) return assert(H.sh("realpath " .. H.q(path)):match("^(/.-)\n$"), path) end
local LUDS = absolute(H.LUDS)
local DRIVE = absolute(H.ROOT .. "/spec/cli_drive.py")
local CLEAN_ENV = "-u LUA_INIT -u LUA_INIT_5_4 -u LUA_PATH -u LUA_PATH_5_4 -u LUA_CPATH -u LUA_CPATH_5_4"

local function version()
  local out = H.sh(H.q(LUDS) .. " -v")
  return assert(out:match("^luds %d+%.%d+%.%d+ %(Lua 5%.4%.%d+%)\n$"), out)
end

-- Runs prog with the shell words args in dir, env settings first (a list
-- of "K=V"), stdin from the file opts.input (through a pipe when opts.pipe)
-- or /dev/null; bounded to 20 s. Returns stdout, stderr, status.
local function run(dir, prog, args, opts)
  opts = opts or {}
  local env = {}
  for _, kv in ipairs(opts.env or {}) do env[#env + 1] = H.q(kv) end
  local cmd = ("timeout -k 2 20 env -C %s %s %s %s %s"):format(H.q(dir), CLEAN_ENV,
    table.concat(env, " "), H.q(prog), args)
  local input = H.q(opts.input or "/dev/null")
  local err = dir .. "/.stderr"
  local out, status = H.sh(opts.pipe and ("cat %s | %s 2>%s"):format(input, cmd, H.q(err))
    or ("%s <%s 2>%s"):format(cmd, input, H.q(err)))
  local errout = H.slurp(err)
  os.remove(err)
  return out, errout, status
end

-- lua5.4's output as luds writes it: its program name read as "luds", its
-- version banner as luds's, and (when it is given the REPL's input lines)
-- the echo of each line that its readline writes after the prompt dropped.
local function as_luds(s, lines)
  s = ("\n" .. s):gsub("\nlua5%.4: ", "\nluds: "):sub(2)
  s = s:gsub("^Lua 5%.4%.%d+  Copyright [^\n]*\n", function() return version() end)
  local at = 1
  for _, line in ipairs(lines or {}) do
    local i, j = s:find(line .. "\n", at, true)
    if i then s, at = s:sub(1, i - 1) .. s:sub(j + 1), i end
  end
  return s
end

-- Asserts that luds and lua5.4 give the same results for args, and that
-- luds gives `want` ({ stdout, stderr, status }).
local function same(dir, args, want, opts)
  local got = { run(dir, LUDS, args, opts) }
  local lua = { run(dir, "lua5.4", args, opts) }
  lua[1], lua[2] = as_luds(lua[1], opts and opts.lines), as_luds(lua[2])
  lu.assertEquals(got, lua, "luds and lua5.4 differ on: " .. args)
  lu.assertEquals(got, want)
end

local function traceback(msg, ...)
  return "luds: " .. msg .. "\nstack traceback:\n\t" .. table.concat({ ... }, "\n\t") .. "\n\t[C]: in ?\n"
end

local function write(dir, name, text)
  H.spit(dir .. "/" .. name, text)
  return dir .. "/" .. name
end

TestCliOptions = H.suite()

function TestCliOptions:test_several_e_run_in_order()
  same(self.dir, "-e 'io.write(1)' -e 'io.write(2)' -e'print(3)'", { "123\n", "", 0 })
end

function TestCliOptions:test_e_then_script_runs_both_with_the_arg_table()
  write(self.dir, "s.lua", "print(x, #arg, arg[-2], arg[-1], arg[0], arg[1], arg[2], ...)\n")
  same(self.dir, "-e 'x = 1' s.lua a b", { "1\t2\t-e\tx = 1\ts.lua\ta\tb\ta\tb\n", "", 0 })
end

function TestCliOptions:test_arg_without_a_script_starts_at_the_options()
  same(self.dir, "-e 'print(#arg, arg[1], arg[-2], arg[-1], arg[0])' z",
    { "0\tnil\t-e\tprint(#arg, arg[1], arg[-2], arg[-1], arg[0])\tz\n",
      "luds: cannot open z: No such file or directory\n", 1 })
  same(self.dir, "-e 'print(#arg, arg[1], arg[2], arg[-1], type(arg[0]))'",
    { "2\t-e\tprint(#arg, arg[1], arg[2], arg[-1], type(arg[0]))\tnil\tstring\n", "", 0 })
end

function TestCliOptions:test_the_script_gets_arg_as_an_e_left_it()
  write(self.dir, "s.lua", "print(...)\n")
  same(self.dir, "-e 'arg[1] = \"x\"' -e 'arg[3] = \"y\"' s.lua a", { "x\n", "", 0 })
end

function TestCliOptions:test_an_error_in_an_e_ends_the_sequence()
  same(self.dir, "-e 'print(1)' -e 'error(\"x\")' -e 'print(3)'",
    { "1\n", traceback("(command line):1: x", "[C]: in function 'error'",
      "(command line):1: in main chunk"), 1 })
end

function TestCliOptions:test_a_syntax_error_in_an_e_is_reported_without_traceback()
  same(self.dir, "-e 'print(1)' -e 'x =' -e 'print(3)'",
    { "1\n", "luds: (command line):1: unexpected symbol near <eof>\n", 1 })
end

function TestCliOptions:test_l_requires_into_a_global()
  write(self.dir, "mod.lua", "print('loading', ...) return { v = 42 }\n")
  local env = { env = { "LUA_PATH=" .. self.dir .. "/?.lua" } }
  same(self.dir, "-l mod -e 'print(mod.v)'", { "loading\tmod\t" .. self.dir .. "/mod.lua\n42\n", "", 0 },
    env)
  same(self.dir, "-lmod -e 'print(mod.v)'", { "loading\tmod\t" .. self.dir .. "/mod.lua\n42\n", "", 0 },
    env)
  same(self.dir, "-l g=mod -e 'print(g.v, mod)'",
    { "loading\tmod\t" .. self.dir .. "/mod.lua\n42\tnil\n", "", 0 }, env)
end

function TestCliOptions:test_l_of_a_missing_module_fails()
  local env = { env = { "LUA_PATH=" .. self.dir .. "/?.lua", "LUA_CPATH=" .. self.dir .. "/?.so" } }
  same(self.dir, "-l nosuch -e 'print(1)'", { "", traceback(table.concat({
    "module 'nosuch' not found:", "no field package.preload['nosuch']",
    "no file '" .. self.dir .. "/nosuch.lua'", "no file '" .. self.dir .. "/nosuch.so'" }, "\n\t"),
    "[C]: in function 'require'"), 1 }, env)
end

function TestCliOptions:test_E_ignores_LUA_INIT_and_LUA_PATH()
  local env = { env = { "LUA_INIT=print('init')", "LUA_PATH=" .. self.dir .. "/?.lua" } }
  local check = "-e " .. H.q(("print(package.path == %q)"):format(self.dir .. "/?.lua"))
  same(self.dir, check, { "init\ntrue\n", "", 0 }, env)
  same(self.dir, "-E " .. check, { "false\n", "", 0 }, env)
end

function TestCliOptions:test_W_turns_warnings_on_where_it_stands()
  same(self.dir, "-e 'warn(\"a\")' -W -e 'warn(\"b\")'", { "", "Lua warning: b\n", 0 })
  same(self.dir, "-e 'warn(\"a\")'", { "", "", 0 })
end

-- luds's state has its own warning function (lstate.c): it must switch
-- and join parts exactly as lauxlib's does, quirks included.
function TestCliOptions:test_warnings_switch_and_join_parts_as_lua54s()
  local args = "-W -e 'warn(\"a\", \"b\", \"@on\")' -e 'warn(\"@off\")' -e 'warn(\"c\")'"
    .. " -e 'warn(\"x\", \"@on\")' -e 'warn(\"@x\")' -e 'warn(\"d\")' -e 'warn(\"@e\", \"f\")'"
  same(self.dir, args, { "", "Lua warning: ab@on\nLua warning: d\nLua warning: @ef\n", 0 })
end

function TestCliOptions:test_LUA_INIT_runs_first()
  same(self.dir, "-e 'print(x)'", { "7\n", "", 0 }, { env = { "LUA_INIT=x = 7" } })
  local init = write(self.dir, "init.lua", "print('from', ...) x = 8\n")
  same(self.dir, "-e 'print(x)'", { "from\n8\n", "", 0 }, { env = { "LUA_INIT=@" .. init } })
  same(self.dir, "-e 'print(x)'", { "5\n", "", 0 },
    { env = { "LUA_INIT=x = 7", "LUA_INIT_5_4=x = 5" } })
end

function TestCliOptions:test_a_failing_LUA_INIT_runs_nothing_else()
  same(self.dir, "-e 'print(1)'", { "", traceback("LUA_INIT_5_4:1: i", "[C]: in function 'error'",
    "LUA_INIT_5_4:1: in main chunk"), 1 }, { env = { "LUA_INIT_5_4=error('i')" } })
  same(self.dir, "-e 'print(1)'", { "", "luds: cannot open " .. self.dir .. "/none.lua: No such file or directory\n", 1 },
    { env = { "LUA_INIT=@" .. self.dir .. "/none.lua" } })
end

function TestCliOptions:test_double_dash_ends_the_options()
  write(self.dir, "-e", "print('the file -e', ...)\n")
  write(self.dir, "-", "print('the file -', ...)\n")
  same(self.dir, "-- -e x", { "the file -e\tx\n", "", 0 })
  same(self.dir, "-- - y", { "the file -\ty\n", "", 0 })
end

function TestCliOptions:test_dash_runs_standard_input()
  local input = write(self.dir, "in.lua", "print('stdin', arg[0], arg[-1] ~= nil, ...)\n")
  same(self.dir, "- a b", { "stdin\t-\ttrue\ta\tb\n", "", 0 }, { input = input })
  same(self.dir, "-e 'x = 1' - a", { "stdin\t-\ttrue\ta\n", "", 0 }, { input = input, pipe = true })
end

function TestCliOptions:test_no_arguments_and_no_terminal_runs_standard_input()
  local input = write(self.dir, "in.lua", "print('stdin', select('#', ...), #arg, type(arg[0]))\n")
  same(self.dir, "", { "stdin\t0\t0\tstring\n", "", 0 }, { input = input })
  same(self.dir, "", { "stdin\t0\t0\tstring\n", "", 0 }, { input = input, pipe = true })
  same(self.dir, "-E -W", { "stdin\t0\t2\tstring\n", "", 0 }, { input = input })
end

function TestCliOptions:test_script_errors()
  write(self.dir, "s.lua", "print(1)\nerror('boom')\n")
  same(self.dir, "s.lua", { "1\n", traceback("s.lua:2: boom", "[C]: in function 'error'",
    "s.lua:2: in main chunk"), 1 })
  write(self.dir, "syntax.lua", "x =\n")
  same(self.dir, "syntax.lua", { "", "luds: syntax.lua:2: unexpected symbol near <eof>\n", 1 })
  same(self.dir, "none.lua", { "", "luds: cannot open none.lua: No such file or directory\n", 1 })
end

function TestCliOptions:test_v_prints_the_version_then_goes_on()
  local got = { run(self.dir, LUDS, "-v") }
  local lua = { run(self.dir, "lua5.4", "-v") }
  lu.assertEquals(got, { version(), "", 0 })
  lu.assertEquals({ as_luds(lua[1]), lua[2], lua[3] }, got)
  same(self.dir, "-v -e 'print(1)'", { version() .. "1\n", "", 0 })
end

-- lua5.4 has no -h: luds's help is its own (lua5.4 calls it unrecognized).
function TestCliOptions:test_h_and_help_print_usage_and_succeed()
  for _, h in ipairs({ "-h", "--help", "-e 'print(1)' -h" }) do
    local out, err, status = run(self.dir, LUDS, h)
    lu.assertEquals({ err, status }, { "", 0 })
    lu.assertStrContains(out, "usage: luds [options] [script [args]]\n")
    for _, opt in ipairs({ "-e stat", "-i", "-l mod", "-l g=mod", "-v", "-E", "-W", "-w n", "-h", "--", "-" }) do
      lu.assertStrContains(out, "\n  " .. opt .. " ")
    end
  end
  lu.assertEquals({ run(self.dir, LUDS, "x.lua -h") }, { "", "luds: cannot open x.lua: No such file or directory\n", 1 })
end

-- The first line of stderr as lua5.4's, then luds's usage; nothing on stdout.
local function usage_error(dir, args, first)
  local out, err, status = run(dir, LUDS, args)
  local _, lua_err, lua_status = run(dir, "lua5.4", args)
  lu.assertEquals({ out, err:match("^[^\n]*\n"), status }, { "", first, 1 })
  lu.assertEquals({ as_luds(lua_err):match("^[^\n]*\n"), lua_status }, { first, 1 })
  lu.assertStrContains(err, "\nusage: luds [options] [script [args]]\n")
end

function TestCliOptions:test_bad_options_print_usage_and_fail()
  for _, bad in ipairs({ "-x", "-Ex", "-ix", "--x", "-vv" }) do
    usage_error(self.dir, bad, "luds: unrecognized option '" .. bad .. "'\n")
  end
  usage_error(self.dir, "-e 'print(1)' -y", "luds: unrecognized option '-y'\n")
end

function TestCliOptions:test_e_and_l_need_an_argument()
  for _, case in ipairs({ { "-e", "-e" }, { "-e 'print(1)' -e", "-e" }, { "-e -v", "-e" },
    { "-l", "-l" }, { "-l -e", "-l" } }) do
    usage_error(self.dir, case[1], "luds: '" .. case[2] .. "' needs argument\n")
  end
end

function TestCliOptions:test_w_sets_LUDS_WORKERS()
  local show = " -e 'print(os.getenv(\"LUDS_WORKERS\"))'"
  lu.assertEquals({ run(self.dir, LUDS, "-w 3" .. show) }, { "3\n", "", 0 })
  lu.assertEquals({ run(self.dir, LUDS, "-w1024" .. show) }, { "1024\n", "", 0 })
  lu.assertEquals({ run(self.dir, LUDS, "-w 2" .. show, { env = { "LUDS_WORKERS=9" } }) },
    { "2\n", "", 0 })
  write(self.dir, "s.lua", "print(os.getenv('LUDS_WORKERS'), ...)\n")
  lu.assertEquals({ run(self.dir, LUDS, "-w 2 s.lua -w 5") }, { "2\t-w\t5\n", "", 0 })
end

function TestCliOptions:test_w_needs_a_count_from_1_to_1024()
  for _, bad in ipairs({ "0", "x", "1025", "2x", "+2", "" }) do
    local out, err, status = run(self.dir, LUDS, "-w " .. H.q(bad) .. " -e 'print(1)'")
    lu.assertEquals({ out, err:match("^[^\n]*\n"), status },
      { "", "luds: '-w' needs a whole number from 1 to 1024, not '" .. bad .. "'\n", 1 })
  end
  local out, err, status = run(self.dir, LUDS, "-w")
  lu.assertEquals({ out, err:match("^[^\n]*\n"), status }, { "", "luds: '-w' needs argument\n", 1 })
  out, err, status = run(self.dir, LUDS, "-w -3")
  lu.assertEquals({ out, err:match("^[^\n]*\n"), status }, { "", "luds: '-w' needs argument\n", 1 })
end

function TestCliOptions:test_steps_may_block_and_exit_codes_hold()
  lu.assertEquals({ run(self.dir, LUDS,
    "-e 'luds = require \"luds\" luds.sleep(0.01) io.write(1)' -e 'luds.sleep(0.01) print(2)'") },
    { "12\n", "", 0 })
  lu.assertEquals({ run(self.dir, LUDS, "-e 'require(\"luds\").exit(7)' -e 'print(1)'") },
    { "", "", 7 })
  local out, err, status = run(self.dir, LUDS, "-e 'require(\"luds\").channel():recv()' -e 'print(1)'")
  lu.assertEquals({ out, status }, { "", 2 })
  lu.assertStrContains(err, "deadlock")
end

-- A failed step ends the sequence, not the tasks it started: they run on.
function TestCliOptions:test_tasks_outlive_a_failed_step()
  local out, err, status = run(self.dir, LUDS,
    "-e 'luds = require \"luds\" luds.spawn(function() luds.sleep(0.05) print(\"later\") end)'"
    .. " -e 'x =' -e 'print(1)'")
  lu.assertEquals({ out, err, status },
    { "later\n", "luds: (command line):1: unexpected symbol near <eof>\n", 1 })
end

TestCliRepl = H.suite()

-- The REPL's input and what it writes (the version line first, a newline at
-- the end of the input), compared with lua5.4 on a file and on a pipe.
local SESSION = {
  "1 + 1", "x = 5", "=x", "return 1, nil, 'a'", "for i = 1, 2 do", "print(i)", "end",
  "error('e')", "print('still here')", "x = = 1", "t = {", "1,", "}", "print(#t)",
  "_PROMPT = 'p> ' _PROMPT2 = 'pp> '", "if true then", "end",
  "setmetatable({}, { __tostring = function() error('ts', 0) end })",
  "_PROMPT = nil _PROMPT2 = nil", "",
}

local function session_output()
  return version() .. table.concat({ "> 2", "> > 5", "> 1\tnil\ta", "> >> >> 1", "2",
    "> > still here", "> > >> >> > 1", "> p> pp> p> p> > > ", "" }, "\n")
end

local SESSION_ERR = table.concat({ "stdin:1: e", "stack traceback:", "\t[C]: in function 'error'",
  "\tstdin:1: in main chunk", "\t[C]: in ?", "stdin:1: unexpected symbol near '='",
  "error calling 'print' (ts)", "" }, "\n")

function TestCliRepl:test_i_on_a_file_and_a_pipe_runs_the_repl_as_lua_does()
  local input = write(self.dir, "in.txt", table.concat(SESSION, "\n") .. "\n")
  same(self.dir, "-i", { session_output(), SESSION_ERR, 0 }, { input = input, lines = SESSION })
  same(self.dir, "-i", { session_output(), SESSION_ERR, 0 },
    { input = input, lines = SESSION, pipe = true })
end

function TestCliRepl:test_i_after_a_script_and_its_arguments()
  write(self.dir, "s.lua", "x = ... print('script', ...)\n")
  local input = write(self.dir, "in.txt", "=x\n=arg[0]\n")
  same(self.dir, "-i s.lua a", { version() .. "script\ta\n> a\n> s.lua\n> \n", "", 0 },
    { input = input, lines = { "=x", "=arg[0]" }, pipe = true })
end

function TestCliRepl:test_a_failing_script_skips_the_repl()
  write(self.dir, "s.lua", "error('boom', 0)\n")
  local input = write(self.dir, "in.txt", "print('repl')\n")
  same(self.dir, "-i s.lua", { version(), traceback("boom", "[C]: in function 'error'",
    "s.lua:1: in main chunk"), 1 }, { input = input, pipe = true })
end

-- lua5.4 5.4.4 prints "(null)" here (it loses the message); luds says what
-- was left unfinished.
function TestCliRepl:test_input_ending_inside_a_statement()
  local input = write(self.dir, "in.txt", "print(1)\nfor i = 1, 2 do\n")
  lu.assertEquals({ run(self.dir, LUDS, "-i", { input = input, pipe = true }) },
    { version() .. "> 1\n> >> > \n", "stdin:1: 'end' expected near <eof>\n", 0 })
end

-- Each chunk is a task: it may block, the tasks of earlier lines run on
-- while it does and after the input ends, and luds.exit ends them all.
function TestCliRepl:test_lines_are_tasks_on_one_loop()
  local input = write(self.dir, "in.txt", table.concat({
    "luds = require 'luds' ch = luds.channel(1)",
    "t = luds.spawn(function() for i = 1, 3 do ch:send(i) end print('sent') end)",
    "=select(2, ch:recv()) + 10 * select(2, ch:recv())", "luds.sleep(0.01) return ch:recv()", "=t:wait()",
    "do luds.spawn(function() luds.sleep(0.05) print('after the input') end) end", "" }, "\n"))
  lu.assertEquals({ run(self.dir, LUDS, "-i", { input = input, pipe = true }) },
    { version() .. "> > > 21\nsent\n> true\t3\n> true\n> > \nafter the input\n", "", 0 })
  input = write(self.dir, "exit.txt", "require('luds').exit(3)\nprint('not read')\n")
  lu.assertEquals({ run(self.dir, LUDS, "-i", { input = input, pipe = true }) },
    { version() .. "> ", "", 3 })
end

-- What ends the REPL as an error of the main task: a prompt whose
-- __tostring raises, a line over read_line's limit (1 MiB).
function TestCliRepl:test_repl_failures_end_it_with_status_1()
  local input = write(self.dir, "prompt.txt",
    "_PROMPT = setmetatable({}, { __tostring = function() error('p', 0) end })\nprint(1)\n")
  lu.assertEquals({ run(self.dir, LUDS, "-i", { input = input, pipe = true }) },
    { version() .. "> ", "luds: p\nstack traceback:\n\t[C]: in function 'error'\n\tstdin:1: in function <stdin:1>"
      .. "\n\t[C]: in ?\n\t[C]: in ?\n", 1 })
  input = write(self.dir, "long.txt", "print(1)\nx = '" .. ("a"):rep(2 * 1024 * 1024) .. "'\nprint(2)\n")
  lu.assertEquals({ run(self.dir, LUDS, "-i", { input = input, pipe = true }) },
    { version() .. "> 1\n> ", "luds: read pipe: message too long\nstack traceback:\n\t[C]: in ?\n\t[C]: in ?\n", 1 })
end

-- The steps of a terminal session for spec/cli_drive.py.
local function drive(dir, steps, args)
  local lines = {}
  for _, s in ipairs(steps) do
    local text = s[2]:gsub("\\", "\\\\"):gsub("\n", "\\n"):gsub("\r", "\\r"):gsub("\t", "\\t")
      :gsub("\4", "\\x04")
    lines[#lines + 1] = s[1] .. "\t" .. text
  end
  local file = write(dir, "steps", table.concat(lines, "\n") .. "\n")
  return run(dir, "python3", ("%s %s 15 %s %s"):format(H.q(DRIVE), H.q(file), H.q(LUDS), args or ""))
end

-- On a terminal with no arguments: the version, then the REPL, whose
-- prompts _PROMPT numbers; a task started in one line runs while the REPL
-- waits for the next and while a later line sleeps; a line's socket read
-- waits for a task of an earlier line to answer.
function TestCliRepl:test_terminal_repl_serves_tasks_between_lines()
  local sock = self.dir .. "/s.sock"
  local out, err, status = drive(self.dir, {
    { "expect", version():gsub("\n", "\r\n") .. "> " },
    { "send", "k = 0 _PROMPT = setmetatable({}, { __tostring = function() k = k + 1 return '<' .. k .. '> ' end })\n" },
    { "expect", "<1> " },
    { "send", "luds = require 'luds' n = 0 t = luds.spawn(function() while true do luds.sleep(0.01) n = n + 1 if n == 20 then print(('t'):rep(3) .. 'k') end end end)\n" },
    { "expect", "<2> " }, { "expect", "tttk" }, -- printed while the REPL waits for a line
    { "send", "a = n while n < a + 3 do luds.sleep(0.01) end print('ticked ' .. (n >= a + 3 and 'on' or 'not'))\n" },
    { "expect", "ticked on" }, { "expect", "<3> " },
    { "send", ("ln = luds.listen('unix', %q) luds.spawn(function() local c = ln:accept() c:write(c:read_line():upper() .. '\\n') c:close() end)\n"):format(sock) },
    { "expect", "<4> " },
    { "send", ("c = luds.dial('unix', %q) c:write('hello\\n') print(c:read_line(), c:read())\n"):format(sock) },
    { "expect", "HELLO\tnil\tEOF\tEOF\r\n<5> " },
    { "send", "t:cancel() ln:close() c:close()\n" }, { "expect", "<6> " },
    { "send", "\4" },
  })
  lu.assertEquals({ err, status }, { "", 0 })
  lu.assertStrContains(out, "\r\n<6> \r\n")
  lu.assertFalse(H.exists(sock))
end

-- -i on a terminal after a script: the script's tasks serve while the REPL
-- reads; an error in a line is printed and the REPL goes on.
function TestCliRepl:test_terminal_repl_after_a_script()
  write(self.dir, "s.lua", "luds = require 'luds' ch = luds.channel() luds.spawn(function() while true do local _, v = ch:recv() ch:send(v * 2) end end)\n")
  local out, err, status = drive(self.dir, {
    { "expect", "> " },
    { "send", "ch:send(21) print(select(2, ch:recv()) + 0.5)\n" }, { "expect", "42.5\r\n> " },
    { "send", "error('oops', 0)\n" }, { "expect", "oops\r\nstack traceback:" }, { "expect", "> " },
    { "send", "=1 + 1\n" }, { "expect", "2\r\n> " },
    { "send", "luds.exit(0)\n" },
  }, "-i " .. H.q(self.dir .. "/s.lua"))
  lu.assertEquals({ err, status }, { "", 0 })
  lu.assertStrContains(out, version():gsub("\n", "\r\n") .. "> ")
end

require("luds").exit(T.run())
