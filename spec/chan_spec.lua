-- Channels: rendezvous and buffered hand-off, FIFO waiters, nil/false values,
-- close, timeouts, try_*, values(), cancel in every waiting state, bad inputs.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

TestChan = H.suite()

local CLOSED_RECV = { nil, "recv: use of closed channel", "CLOSED" }
local CLOSED_SEND = { nil, "send: use of closed channel", "CLOSED" }

local function pack(...) return { ... } end

function TestChan:test_nil_and_false_travel_capacity_0_and_3()
  H.run(function()
    for _, cap in ipairs({ 0, 3 }) do
      local ch = luds.channel(cap)
      local got = {}
      local r = luds.spawn(function()
        for i = 1, 4 do got[i] = pack(ch:recv()) end
      end)
      for _, v in ipairs({ 1 }) do lu.assertTrue(ch:send(v)) end
      lu.assertTrue(ch:send(nil))
      lu.assertTrue(ch:send(false))
      lu.assertTrue(ch:send("x"))
      lu.assertEquals({ r:wait(1) }, { true })
      lu.assertEquals(got, { { true, 1 }, { true, nil }, { true, false }, { true, "x" } })
    end
  end)
end

function TestChan:test_rendezvous_send_waits_for_a_receiver()
  H.run(function()
    local ch = luds.channel()
    local sent = false
    local s = luds.spawn(function() ch:send("v") sent = true end)
    H.wait_parked(s)
    lu.assertFalse(sent)
    lu.assertEquals(#ch, 0)
    lu.assertEquals({ ch:recv() }, { true, "v" })
    lu.assertEquals({ s:wait(1) }, { true })
    lu.assertTrue(sent)
  end)
end

function TestChan:test_buffered_fills_then_waits()
  H.run(function()
    local ch = luds.channel(2)
    lu.assertTrue(ch:send(1))
    lu.assertTrue(ch:send(2))
    lu.assertEquals(#ch, 2)
    lu.assertEquals(ch:capacity(), 2)
    lu.assertFalse(ch:try_send(3))
    local s = luds.spawn(function() return ch:send(3) end)
    H.wait_parked(s)
    lu.assertEquals({ ch:recv() }, { true, 1 })
    lu.assertEquals({ s:wait(1) }, { true, true })
    lu.assertEquals(#ch, 2)
    lu.assertEquals({ ch:recv() }, { true, 2 })
    lu.assertEquals({ ch:recv() }, { true, 3 })
    lu.assertEquals({ ch:try_recv() }, { false })
  end)
end

function TestChan:test_receivers_are_served_fifo()
  H.run(function()
    local ch = luds.channel()
    local order = {}
    local ts = {}
    for i = 1, 5 do
      ts[i] = luds.spawn(function() local _, v = ch:recv() order[#order + 1] = i .. ":" .. v end)
      H.wait_parked(ts[i])
    end
    for i = 1, 5 do ch:send(i) end
    for i = 1, 5 do ts[i]:wait(1) end
    lu.assertEquals(order, { "1:1", "2:2", "3:3", "4:4", "5:5" })
  end)
end

function TestChan:test_senders_are_served_fifo()
  H.run(function()
    local ch = luds.channel(1)
    ch:send(0)
    local ts = {}
    for i = 1, 5 do
      ts[i] = luds.spawn(function() ch:send(i) end)
      H.wait_parked(ts[i])
    end
    local got = {}
    for i = 1, 6 do got[i] = select(2, ch:recv()) end
    lu.assertEquals(got, { 0, 1, 2, 3, 4, 5 })
  end)
end

function TestChan:test_close_drains_then_closed()
  H.run(function()
    local ch = luds.channel(3)
    ch:send(1) ch:send(nil)
    lu.assertTrue(ch:close())
    lu.assertEquals({ ch:close() }, { nil, "close: use of closed channel", "CLOSED" })
    lu.assertEquals({ ch:send(3) }, CLOSED_SEND)
    lu.assertEquals({ ch:try_send(3) }, CLOSED_SEND)
    lu.assertEquals({ ch:recv() }, { true, 1 })
    lu.assertEquals({ ch:try_recv() }, { true, nil })
    lu.assertEquals({ ch:recv() }, CLOSED_RECV)
    lu.assertEquals({ ch:try_recv() }, CLOSED_RECV)
    lu.assertStrContains(tostring(ch), "closed")
  end)
end

function TestChan:test_close_wakes_waiting_receivers_and_senders()
  H.run(function()
    local r = luds.channel()
    local rs = {}
    for i = 1, 3 do rs[i] = luds.spawn(function() return r:recv() end) H.wait_parked(rs[i]) end
    local s = luds.channel()
    local ss = luds.spawn(function() return s:send("lost?") end)
    H.wait_parked(ss)
    r:close() s:close()
    for i = 1, 3 do lu.assertEquals({ rs[i]:wait(1) }, { true, table.unpack(CLOSED_RECV, 1, 3) }) end
    lu.assertEquals({ ss:wait(1) }, { true, table.unpack(CLOSED_SEND, 1, 3) })
  end)
end

function TestChan:test_values_iterates_until_closed()
  H.run(function()
    local ch = luds.channel()
    local p = luds.spawn(function()
      for i = 1, 4 do ch:send(i * 10) end
      ch:close()
    end)
    local got = {}
    for v in ch:values() do got[#got + 1] = v end
    lu.assertEquals(got, { 10, 20, 30, 40 })
    lu.assertEquals({ p:wait(1) }, { true })
  end)
end

function TestChan:test_timeouts()
  H.run(function()
    local ch = luds.channel()
    local t0 = luds.now()
    lu.assertEquals({ ch:recv(0.05) }, { nil, "recv: i/o timeout", "TIMEOUT" })
    lu.assertTrue(luds.now() - t0 >= 0.05)
    lu.assertEquals({ ch:send(1, 0.02) }, { nil, "send: i/o timeout", "TIMEOUT" })
    lu.assertEquals({ ch:recv(0) }, { nil, "recv: i/o timeout", "TIMEOUT" })
    -- a timed-out waiter left nothing behind: the next send finds no receiver
    lu.assertFalse(ch:try_send(1))
    local b = luds.channel(1)
    b:send(1)
    lu.assertEquals({ b:send(2, 0.01) }, { nil, "send: i/o timeout", "TIMEOUT" })
    lu.assertEquals({ b:recv() }, { true, 1 })
    lu.assertEquals({ b:try_recv() }, { false })
  end)
end

function TestChan:test_cancel_waiting_receiver_leaves_no_waiter()
  H.run(function()
    local ch = luds.channel()
    local closed = false
    local r = luds.spawn(function()
      local _ <close> = setmetatable({}, { __close = function() closed = true end })
      return ch:recv()
    end)
    H.wait_parked(r)
    lu.assertTrue(r:cancel())
    lu.assertTrue(closed)
    lu.assertFalse(ch:try_send("x"))
  end)
end

function TestChan:test_cancel_waiting_sender_value_not_delivered()
  H.run(function()
    local ch = luds.channel()
    local s = luds.spawn(function() return ch:send("gone") end)
    H.wait_parked(s)
    lu.assertTrue(s:cancel())
    lu.assertEquals({ ch:try_recv() }, { false })
  end)
end

-- A receiver handed a value and cancelled before it ran gives the value back:
-- it is neither lost nor delivered twice.
function TestChan:test_cancel_after_handoff_puts_value_back()
  H.run(function()
    for _, cap in ipairs({ 0, 2 }) do
      local ch = luds.channel(cap)
      local r = luds.spawn(function() return ch:recv() end)
      H.wait_parked(r)
      lu.assertTrue(ch:try_send("v1")) -- handed straight to r, r now ready
      lu.assertEquals(r:status(), "ready")
      lu.assertTrue(r:cancel())
      lu.assertEquals(#ch, 1)
      lu.assertEquals({ ch:try_recv() }, { true, "v1" })
      lu.assertEquals({ ch:try_recv() }, { false })
    end
  end)
end

function TestChan:test_cancel_after_handoff_passes_to_next_receiver()
  H.run(function()
    local ch = luds.channel()
    local r1 = luds.spawn(function() return ch:recv() end)
    H.wait_parked(r1)
    local r2 = luds.spawn(function() return ch:recv() end)
    H.wait_parked(r2)
    lu.assertTrue(ch:try_send("only"))
    lu.assertTrue(r1:cancel())
    lu.assertEquals({ r2:wait(1) }, { true, true, "only" })
    lu.assertEquals(#ch, 0)
  end)
end

function TestChan:test_cancel_after_handoff_with_full_buffer_keeps_order()
  H.run(function()
    local ch = luds.channel(1)
    local r = luds.spawn(function() return ch:recv() end)
    H.wait_parked(r)
    lu.assertTrue(ch:try_send("first"))
    lu.assertTrue(ch:try_send("second")) -- fills the buffer
    lu.assertTrue(r:cancel())
    lu.assertEquals(#ch, 2)
    lu.assertEquals({ ch:recv() }, { true, "first" })
    lu.assertEquals({ ch:recv() }, { true, "second" })
  end)
end

function TestChan:test_many_values_stay_in_order()
  H.run(function()
    local ch = luds.channel(100)
    local p = luds.spawn(function() for i = 1, 10000 do ch:send(i) end ch:close() end)
    local n = 0
    for v in ch:values() do n = n + 1 lu.assertEquals(v, n) end
    lu.assertEquals(n, 10000)
    p:wait(1)
  end)
end

function TestChan:test_bad_inputs_raise_naming_the_argument()
  H.assert_raises({ "bad argument #1", "channel", "negative" }, luds.channel, -1)
  H.assert_raises({ "bad argument #1", "channel", "integer" }, luds.channel, 1.5)
  H.assert_raises({ "bad argument #1", "channel", "number expected" }, luds.channel, "x")
  local ch = luds.channel()
  H.assert_raises({ "bad argument #1", "luds.channel expected" }, ch.recv, {})
  H.assert_raises({ "bad argument #2", "number expected" }, ch.recv, ch, "soon")
  H.assert_raises({ "bad argument #2", "value expected" }, ch.send, ch)
  -- other userdata, of other kinds and sizes, are no channel either
  for _, other in ipairs({ io.stdout, luds.semaphore(1), luds.event() }) do
    H.assert_raises({ "bad argument #1", "luds.channel expected" }, ch.send, other, 1)
    H.assert_raises({ "bad argument #1", "luds.channel expected" }, ch.try_recv, other)
  end
end

function TestChan:test_tostring_and_len()
  local ch = luds.channel(4)
  ch:try_send(1)
  lu.assertStrMatches(tostring(ch), "channel 0x%x+ %(1/4%)")
  lu.assertEquals(#ch, 1)
end

luds.exit(T.run())
