---@meta luds.test
-- LuaLS definitions of `require "luds.test"` (lua/luds/test.lua): luaunit
-- specs whose tests each run as a task with a timeout.
-- spec/annotations_spec.lua fails when an entry is missing here or stale.

---Testing luds services with luaunit: each test a task with a timeout.
---@class luds.test
---@field DEFAULT_TIMEOUT number seconds per test unless the class, -t or LUDS_TEST_TIMEOUT say
---@field GRACE number seconds a child of T.start has between TERM and KILL when stopped (default 5)
---@field READY_TIMEOUT number seconds T.start waits for ready or ready_path (default 10)
local T = {}

---Options of T.start; any other key raises.
---@class luds.test.StartOptions
---@field lua? boolean run argv on luds (default: when argv[1] ends in .lua)
---@field luds? string the luds binary for scripts (default: this one; under lua5.4, luds on PATH)
---@field ready? string a Lua pattern: return once the output (stdout and stderr) matches it
---@field ready_path? string return once this exists (a socket file: once a socket listens there)
---@field ready_timeout? number seconds to be ready (default T.READY_TIMEOUT); then the test fails
---@field grace? number seconds between TERM and KILL in stop (default T.GRACE)
---@field env? table<string, string> the child's whole environment (extend luds.environ())
---@field cwd? string the directory the child starts in
---@field stdin? luds.Stdio default "null"

---A child of T.start: its stdout and stderr read as they come, stopped and reaped when the test
---ends.
---@class luds.test.Child
---@field pid integer
---@field argv string[] what was executed (a script's with the luds binary first)
---@field process luds.Process the child as luds.exec gives it
---@field stdin luds.Conn? the pipe to its stdin (with stdin = "pipe")
local Child = {}

---Its stdout and stderr so far, interleaved as they came.
---@return string
function Child:output() end

---What it wrote to stdout so far.
---@return string
function Child:stdout() end

---What it wrote to stderr so far.
---@return string
function Child:stderr() end

---process:wait(timeout); once it ended, its output is read to the end (for at most grace seconds
---more: a grandchild may hold the pipes).
---@param timeout? number seconds
---@return integer? status
---@return string? err
---@return luds.ErrorCode|"SIGNALED"|nil code
---@return integer? signo
function Child:wait(timeout) end

---process:kill(sig) (default TERM).
---@param sig? string|integer
---@return true? ok
---@return string? err
---@return luds.ErrorCode? code
function Child:kill(sig) end

---TERM, KILL after grace seconds (default opts.grace), reaped, output read, pipes closed; returns
---what wait returns. An ended child gives its result again.
---@param grace? number seconds
---@return integer? status
---@return string? err
---@return luds.ErrorCode|"SIGNALED"|nil code
---@return integer? signo
function Child:stop(grace) end

---Runs the suite like luaunit's LuaUnit.run (the command line's arguments by default); returns how
---many tests did not pass: `os.exit(T.run())`.
---@param ... string luaunit's arguments
---@return integer failed
function T.run(...) end

---A fresh directory, removed with its content when the test ends, even if it failed.
---@return string path
function T.tempdir() end

---fn() runs when the test ends (after tearDown), last registered first (Go's t.Cleanup); an error
---in it fails the test.
---@param fn fun()
function T.cleanup(fn) end

---The current test may run that long from now.
---@param seconds number
function T.timeout(seconds) end

---Polls cond() every 10 ms and returns its first true value; fails the test after timeout seconds
---(default 5).
---@generic V
---@param cond fun(): V?
---@param timeout? number seconds (default 5)
---@param what? string what is waited for, for the failure message
---@return V
function T.wait_for(cond, timeout, what) end

---A TCP port on host (default 127.0.0.1) nothing listened on a moment ago.
---@param host? string
---@return integer port
function T.free_port(host) end

---Two connected conns (unix, the default, unixpacket or tcp on loopback), closed when the test
---ends.
---@param network? "unix"|"unixpacket"|"tcp"|"tcp4"
---@return luds.Conn client
---@return luds.Conn server
---@overload fun(network: "unixpacket"): luds.PacketConn, luds.PacketConn
function T.pair(network) end

---f(...) must return nil, a message and exactly code; returns the message.
---@param code luds.ErrorCode
---@param f function
---@param ... any
---@return string message
function T.assert_error(code, f, ...) end

---f(...) must raise an error whose text contains text (plain); returns the error.
---@param text string
---@param f function
---@param ... any
---@return any err
function T.assert_raises(text, f, ...) end

---Starts a program (argv, searched in PATH) or a luds script (argv[1] ends in .lua, or opts.lua)
---with its stdout and stderr captured; with ready/ready_path, returns once it is ready (the test
---fails, with its output, if it ends or the time runs out first). Stopped and reaped when the test
---ends, even if it failed or timed out. A missing program or script: nil, msg, "ENOENT".
---@param argv string|string[] a program and its arguments, or a script's path
---@param opts? luds.test.StartOptions
---@return luds.test.Child? child
---@return string? err
---@return luds.ErrorCode? code
function T.start(argv, opts) end

---The `luds test` runner; returns its exit status (2 for a bad command line).
---@param args string[] the command line after `test`
---@return integer status
function T.main(args) end

return T
