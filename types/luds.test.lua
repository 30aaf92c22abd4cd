---@meta luds.test
-- LuaLS definitions of `require "luds.test"` (lua/luds/test.lua): luaunit
-- specs whose tests each run as a task with a timeout.
-- spec/annotations_spec.lua fails when an entry is missing here or stale.

---Testing luds services with luaunit: each test a task with a timeout.
---@class luds.test
---@field DEFAULT_TIMEOUT number seconds per test unless the class, -t or LUDS_TEST_TIMEOUT say
local T = {}

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

---The `luds test` runner; returns its exit status (2 for a bad command line).
---@param args string[] the command line after `test`
---@return integer status
function T.main(args) end

return T
