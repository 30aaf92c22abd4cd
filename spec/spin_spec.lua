-- The loop's adaptive spin (luds.spin, LUDS_SPIN_US): the switch, its bounds,
-- that an idle loop never spins and that a loop whose waits are short does.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

TestSpin = H.suite()

function TestSpin:tearDown() luds.spin(50) end

function TestSpin:test_switch_returns_the_setting_before()
  lu.assertEquals(luds.spin(), 50) -- the default
  lu.assertEquals(luds.spin(0), 50)
  lu.assertEquals(luds.spin(), 0)
  lu.assertEquals(luds.spin(1000), 0)
  lu.assertEquals(luds.spin(nil), 1000)
  lu.assertEquals(luds.spin(7), 1000)
  lu.assertEquals(luds.spin(), 7)
end

function TestSpin:test_bad_settings_raise_and_change_nothing()
  luds.spin(30)
  for _, bad in ipairs({ -1, 1001, 2 ^ 40 }) do
    H.assert_raises({ "bad argument #1", "must be 0 to 1000 microseconds" }, luds.spin, bad)
  end
  H.assert_raises({ "bad argument #1", "number has no integer representation" }, luds.spin, 0.5)
  H.assert_raises({ "bad argument #1", "number expected, got string" }, luds.spin, "x")
  H.assert_raises({ "bad argument #1", "number expected, got table" }, luds.spin, {})
  lu.assertEquals(luds.spin(), 30)
end

-- LUDS_SPIN_US sets it at start; what is not an integer from 0 to 1000 is
-- ignored (the default stays).
function TestSpin:test_environment_sets_it_at_start()
  local cases = { ["0"] = 0, ["1000"] = 1000, ["12"] = 12, [""] = 50, ["x"] = 50,
    ["1001"] = 50, ["-1"] = 50, ["5x"] = 50, [" 5"] = 5, ["99999999999999999999"] = 50 }
  for value, want in pairs(cases) do
    local out, err, status = H.exec("env LUDS_SPIN_US=" .. H.q(value) .. " " .. H.q(H.LUDS)
      .. " -e 'print(require(\"luds\").spin())'")
    lu.assertEquals({ out, err, status }, { want .. "\n", "", 0 }, "LUDS_SPIN_US=" .. value)
  end
end

-- The process's CPU time (os.clock) over luds.sleep(seconds) with ticks
-- every `tick` seconds in another task.
local function cpu_over(seconds, tick)
  local ticker = tick and luds.spawn(function() while true do luds.sleep(tick) end end)
  luds.sleep(0.01)
  local c0, t0 = os.clock(), luds.now()
  luds.sleep(seconds)
  local used, wall = os.clock() - c0, luds.now() - t0
  if ticker then ticker:cancel() end
  return used, wall
end

-- An idle loop's waits are long, so even the longest spin costs nothing:
-- spinning through half a second would use about half a second of CPU.
function TestSpin:test_idle_loop_never_spins()
  H.run(function()
    luds.spin(1000)
    local used, wall = cpu_over(0.5)
    lu.assertTrue(wall >= 0.5)
    lu.assertTrue(used < 0.05, ("idle loop used %.3f s of CPU in %.3f s"):format(used, wall))
  end)
end

-- Waits of 0.5 ms are within 4 x 1000 us: the loop polls through them
-- instead of sleeping, so it uses several times the CPU it does with the
-- spin off (about nothing: a wake-up every 0.5 ms).
function TestSpin:test_short_waits_spin_and_zero_turns_it_off()
  H.run(function()
    luds.spin(0)
    local off = cpu_over(0.3, 0.0005)
    luds.spin(1000)
    local on, wall = cpu_over(0.3, 0.0005)
    lu.assertTrue(on > 3 * off and on > 0.05,
      ("spin on used %.3f s of CPU in %.3f s, off %.3f s"):format(on, wall, off))
  end)
end

luds.exit(T.run())
