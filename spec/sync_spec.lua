-- Events, conditions and semaphores: wake order, timeouts, cancel in every
-- waiting state (a signal or permit handed to a cancelled task is not lost).
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

TestEvent = H.suite()

function TestEvent:test_set_wakes_all_and_stays_set()
  H.run(function()
    local ev = luds.event()
    local ts = {}
    for i = 1, 3 do ts[i] = luds.spawn(function() return ev:wait() end) H.wait_parked(ts[i]) end
    lu.assertFalse(ev:is_set())
    ev:set()
    for i = 1, 3 do lu.assertEquals({ ts[i]:wait(1) }, { true, true }) end
    lu.assertTrue(ev:is_set())
    lu.assertTrue(ev:wait())
    ev:clear()
    lu.assertEquals({ ev:wait(0.01) }, { nil, "wait: i/o timeout", "TIMEOUT" })
    lu.assertStrMatches(tostring(ev), "event 0x%x+ %(clear%)")
  end)
end

function TestEvent:test_cancel_waiter_then_set()
  H.run(function()
    local ev = luds.event()
    local a = luds.spawn(function() return ev:wait() end)
    local b = luds.spawn(function() return ev:wait() end)
    H.wait_parked(a) H.wait_parked(b)
    lu.assertTrue(a:cancel())
    ev:set()
    lu.assertEquals({ b:wait(1) }, { true, true })
  end)
end

TestCond = H.suite()

function TestCond:test_signal_fifo_and_broadcast()
  H.run(function()
    local cv = luds.cond()
    local order = {}
    local ts = {}
    for i = 1, 4 do
      ts[i] = luds.spawn(function() cv:wait() order[#order + 1] = i end)
      H.wait_parked(ts[i])
    end
    lu.assertTrue(cv:signal())
    ts[1]:wait(1)
    lu.assertTrue(cv:signal())
    ts[2]:wait(1)
    lu.assertEquals(cv:broadcast(), 2)
    ts[3]:wait(1) ts[4]:wait(1)
    lu.assertEquals(order, { 1, 2, 3, 4 })
    lu.assertFalse(cv:signal())
    lu.assertEquals(cv:broadcast(), 0)
    lu.assertEquals({ cv:wait(0.01) }, { nil, "wait: i/o timeout", "TIMEOUT" })
  end)
end

function TestCond:test_signalled_then_cancelled_passes_the_signal_on()
  H.run(function()
    local cv = luds.cond()
    local a = luds.spawn(function() return cv:wait() end)
    H.wait_parked(a)
    local b = luds.spawn(function() return cv:wait() end)
    H.wait_parked(b)
    cv:signal()
    lu.assertEquals(a:status(), "ready")
    lu.assertTrue(a:cancel())
    lu.assertEquals({ b:wait(1) }, { true, true })
  end)
end

function TestCond:test_cancel_waiter_leaves_no_waiter()
  H.run(function()
    local cv = luds.cond()
    local a = luds.spawn(function() return cv:wait() end)
    H.wait_parked(a)
    lu.assertTrue(a:cancel())
    lu.assertFalse(cv:signal())
  end)
end

TestSemaphore = H.suite()

function TestSemaphore:test_permits_close_and_fifo()
  H.run(function()
    local sem = luds.semaphore(2)
    local order = {}
    do
      local p1 <close> = sem:acquire()
      local p2 = sem:acquire()
      lu.assertEquals(sem:available(), 0)
      local ts = {}
      for i = 1, 3 do
        ts[i] = luds.spawn(function()
          local p <close> = sem:acquire()
          order[#order + 1] = i
        end)
        H.wait_parked(ts[i])
      end
      lu.assertTrue(p2:release())
      lu.assertFalse(p2:release()) -- idempotent
      ts[1]:wait(1)
    end -- p1 closes
    H.wait_for("all acquired", function() return #order == 3 end)
    lu.assertEquals(order, { 1, 2, 3 })
    lu.assertEquals(sem:available(), 2)
  end)
end

function TestSemaphore:test_timeout_and_release()
  H.run(function()
    local sem = luds.semaphore(0)
    lu.assertEquals({ sem:acquire(0.01) }, { nil, "acquire: i/o timeout", "TIMEOUT" })
    lu.assertTrue(sem:release())
    lu.assertEquals(sem:available(), 1)
    local p = sem:acquire(0)
    lu.assertStrMatches(tostring(p), "permit 0x%x+ %(held%)")
  end)
end

function TestSemaphore:test_cancel_waiting_acquire_leaks_nothing()
  H.run(function()
    local sem = luds.semaphore(1)
    local p = sem:acquire()
    local t = luds.spawn(function() return sem:acquire() end)
    H.wait_parked(t)
    lu.assertTrue(t:cancel())
    p:release()
    lu.assertEquals(sem:available(), 1)
  end)
end

function TestSemaphore:test_granted_then_cancelled_gives_the_permit_back()
  H.run(function()
    local sem = luds.semaphore(1)
    local p = sem:acquire()
    local a = luds.spawn(function() local q <close> = sem:acquire() luds.sleep(10) end)
    H.wait_parked(a)
    local b = luds.spawn(function() local q <close> = sem:acquire() return "b" end)
    H.wait_parked(b)
    p:release() -- granted to a, which has not run yet
    lu.assertEquals(a:status(), "ready")
    lu.assertTrue(a:cancel())
    lu.assertEquals({ b:wait(1) }, { true, "b" })
    lu.assertEquals(sem:available(), 1)
  end)
end

function TestSemaphore:test_cancel_holder_releases_by_close()
  H.run(function()
    local sem = luds.semaphore(1)
    local a = luds.spawn(function() local q <close> = sem:acquire() luds.sleep(10) end)
    H.wait_parked(a)
    lu.assertEquals(sem:available(), 0)
    a:cancel()
    lu.assertEquals(sem:available(), 1)
  end)
end

function TestSemaphore:test_bad_inputs()
  H.assert_raises({ "bad argument #1", "semaphore", "negative" }, luds.semaphore, -1)
  H.assert_raises({ "bad argument #1", "semaphore", "number expected" }, luds.semaphore)
  H.assert_raises({ "bad argument #1", "semaphore", "integer" }, luds.semaphore, 0.5)
end

luds.exit(T.run())
