-- luds.select: one case fires, uniformly among the ready ones; default and
-- timeout; close while waiting; cancel unlinks every case; bad case shapes.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

TestSelect = H.suite()

function TestSelect:test_fairness_over_two_ready_channels()
  H.run(function()
    local a, b = luds.channel(1), luds.channel(1)
    local hits = { 0, 0 }
    for _ = 1, 10000 do
      if #a == 0 then a:try_send("a") end
      if #b == 0 then b:try_send("b") end
      local i = luds.select({ { "recv", a }, { "recv", b } })
      hits[i] = hits[i] + 1
    end
    lu.assertEquals(hits[1] + hits[2], 10000)
    -- 10,000 fair coin flips leave 40-60% with probability 1 - 1e-88
    lu.assertTrue(hits[1] >= 4000 and hits[1] <= 6000, "a fired " .. hits[1])
    lu.assertTrue(hits[2] >= 4000 and hits[2] <= 6000, "b fired " .. hits[2])
  end)
end

function TestSelect:test_returns_what_the_case_returns()
  H.run(function()
    local a, b = luds.channel(1), luds.channel(1)
    a:send(nil)
    lu.assertEquals({ luds.select({ { "recv", b }, { "recv", a } }) }, { 2, true, nil })
    lu.assertEquals({ luds.select({ { "recv", b }, { "send", a, false } }) }, { 2, true })
    lu.assertEquals({ a:recv() }, { true, false })
    b:close()
    lu.assertEquals({ luds.select({ { "recv", b } }) },
      { 1, nil, "recv: use of closed channel", "CLOSED" })
    lu.assertEquals({ luds.select({ { "send", b, 1 } }) },
      { 1, nil, "send: use of closed channel", "CLOSED" })
  end)
end

function TestSelect:test_default_and_timeout()
  H.run(function()
    local a = luds.channel()
    lu.assertEquals({ luds.select({ { "recv", a } }, { default = true }) }, { 0 })
    lu.assertEquals({ luds.select({ { "send", a, 1 } }, { default = true }) }, { 0 })
    local t0 = luds.now()
    lu.assertEquals({ luds.select({ { "recv", a } }, { timeout = 0.03 }) },
      { nil, "select: i/o timeout", "TIMEOUT" })
    lu.assertTrue(luds.now() - t0 >= 0.03)
    lu.assertEquals({ luds.select({}, { timeout = 0 }) }, { nil, "select: i/o timeout", "TIMEOUT" })
    lu.assertFalse(a:try_send(1)) -- no case was left behind
  end)
end

function TestSelect:test_waits_then_fires_once_and_unlinks_the_rest()
  H.run(function()
    local a, b, c = luds.channel(), luds.channel(), luds.channel()
    local t = luds.spawn(function()
      return luds.select({ { "recv", a }, { "recv", b }, { "send", c, "to c" } })
    end)
    H.wait_parked(t)
    lu.assertTrue(b:try_send("for b"))
    lu.assertEquals({ t:wait(1) }, { true, 2, true, "for b" })
    lu.assertFalse(a:try_send(1))
    lu.assertEquals({ c:try_recv() }, { false })
  end)
end

function TestSelect:test_waiting_send_case_value_taken_by_receiver()
  H.run(function()
    local c = luds.channel()
    local t = luds.spawn(function() return luds.select({ { "send", c, "v" } }) end)
    H.wait_parked(t)
    lu.assertEquals({ c:recv() }, { true, "v" })
    lu.assertEquals({ t:wait(1) }, { true, 1, true })
  end)
end

function TestSelect:test_close_wakes_a_waiting_select()
  H.run(function()
    local a, b = luds.channel(), luds.channel()
    local t = luds.spawn(function() return luds.select({ { "recv", a }, { "recv", b } }) end)
    H.wait_parked(t)
    b:close()
    lu.assertEquals({ t:wait(1) }, { true, 2, nil, "recv: use of closed channel", "CLOSED" })
    lu.assertFalse(a:try_send(1))
  end)
end

function TestSelect:test_cancel_unlinks_every_case()
  H.run(function()
    local a, b = luds.channel(), luds.channel()
    local t = luds.spawn(function() return luds.select({ { "recv", a }, { "send", b, 1 } }) end)
    H.wait_parked(t)
    lu.assertTrue(t:cancel())
    lu.assertFalse(a:try_send(1))
    lu.assertEquals({ b:try_recv() }, { false })
  end)
end

function TestSelect:test_cancel_after_handoff_puts_value_back()
  H.run(function()
    local a, b = luds.channel(), luds.channel()
    local t = luds.spawn(function() return luds.select({ { "recv", a }, { "recv", b } }) end)
    H.wait_parked(t)
    lu.assertTrue(b:try_send("kept"))
    lu.assertTrue(t:cancel())
    lu.assertEquals({ b:try_recv() }, { true, "kept" })
    lu.assertEquals({ a:try_recv() }, { false })
  end)
end

function TestSelect:test_bad_inputs_raise_naming_the_argument()
  local ch = luds.channel()
  H.assert_raises({ "bad argument #1", "select", "table expected" }, luds.select, 1)
  H.assert_raises({ "bad argument #2", "select", "table expected" }, luds.select, {}, 5)
  H.assert_raises({ "bad argument #1", "case 1" }, luds.select, { 1 })
  H.assert_raises({ "bad argument #1", "case 1" }, luds.select, { { "peek", ch } })
  H.assert_raises({ "bad argument #1", "case 2" }, luds.select, { { "recv", ch }, { "recv", {} } })
  H.assert_raises({ "bad argument #1", "case 1" }, luds.select, { { ch, "recv" } })
  H.assert_raises({ "bad argument #1", "case 1" }, luds.select, { { "recv", ch, "extra" } })
  H.assert_raises({ "bad argument #2", "timeout" }, luds.select, {}, { timeout = "1" })
end

luds.exit(T.run())
