-- Task groups: wait for all, first error cancels the rest, __close waits or
-- cancels, cancelling the owner cancels the children, no child outlives it.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

TestGroup = H.suite()

function TestGroup:test_wait_for_all()
  H.run(function()
    local done = {}
    local g <close> = luds.group()
    for i = 1, 3 do g:spawn(function(n) luds.sleep(0.001 * n) done[#done + 1] = n end, i) end
    lu.assertEquals({ g:wait(1) }, { true })
    table.sort(done)
    lu.assertEquals(done, { 1, 2, 3 })
    lu.assertEquals({ g:wait() }, { true })
  end)
end

function TestGroup:test_first_error_cancels_the_others()
  H.run(function()
    local closed = 0
    local g <close> = luds.group()
    local slow = g:spawn(function()
      local _ <close> = setmetatable({}, { __close = function() closed = closed + 1 end })
      luds.sleep(10)
    end)
    local err = {}
    g:spawn(function() luds.sleep(0.001) error(err) end)
    g:spawn(function() luds.sleep(0.002) error("second") end)
    local ok, e = g:wait(1)
    lu.assertFalse(ok)
    lu.assertIs(e, err)
    lu.assertEquals(closed, 1)
    lu.assertEquals(slow:status(), "cancelled")
  end)
end

function TestGroup:test_close_waits_for_children()
  H.run(function()
    local finished = false
    do
      local g <close> = luds.group()
      g:spawn(function() luds.sleep(0.01) finished = true end)
    end
    lu.assertTrue(finished)
  end)
end

function TestGroup:test_close_by_error_cancels_children()
  H.run(function()
    local child
    local ok, e = pcall(function()
      local g <close> = luds.group()
      child = g:spawn(function() luds.sleep(10) end)
      error("leaving")
    end)
    lu.assertFalse(ok)
    lu.assertStrContains(e, "leaving")
    lu.assertEquals(child:status(), "cancelled")
  end)
end

function TestGroup:test_cancelling_the_owner_cancels_children()
  H.run(function()
    local closed, child = 0, nil
    local owner = luds.spawn(function()
      local g <close> = luds.group()
      child = g:spawn(function()
        local _ <close> = setmetatable({}, { __close = function() closed = closed + 1 end })
        luds.sleep(10)
      end)
      g:wait()
    end)
    H.wait_parked(owner)
    H.wait_parked(child)
    lu.assertTrue(owner:cancel())
    lu.assertEquals(closed, 1)
    lu.assertEquals(child:status(), "cancelled")
  end)
end

function TestGroup:test_cancelling_the_owner_in_close_cancels_children()
  H.run(function()
    local child
    local owner = luds.spawn(function()
      local g <close> = luds.group()
      child = g:spawn(function() luds.sleep(10) end)
    end)
    H.wait_parked(owner)
    H.wait_parked(child)
    lu.assertTrue(owner:cancel())
    lu.assertEquals(child:status(), "cancelled")
  end)
end

function TestGroup:test_wait_timeout_and_cancel()
  H.run(function()
    local g <close> = luds.group()
    local t = g:spawn(function() luds.sleep(10) end)
    lu.assertEquals({ g:wait(0.01) }, { nil, "wait: i/o timeout", "TIMEOUT" })
    lu.assertTrue(g:cancel())
    lu.assertEquals(t:status(), "cancelled")
    lu.assertEquals({ g:wait() }, { true })
  end)
end

function TestGroup:test_cancel_a_task_waiting_on_the_group()
  H.run(function()
    local g <close> = luds.group()
    g:spawn(function() luds.sleep(0.05) end)
    local w = luds.spawn(function() return g:wait() end)
    H.wait_parked(w)
    lu.assertTrue(w:cancel())
    lu.assertEquals({ g:wait(1) }, { true })
  end)
end

function TestGroup:test_spawn_after_close_and_bad_inputs()
  H.run(function()
    local g = luds.group()
    H.assert_raises({ "bad argument #2", "function expected" }, g.spawn, g, 1)
    do local _ <close> = g end
    H.assert_raises({ "closed" }, g.spawn, g, function() end)
  end)
end

luds.exit(T.run())
