-- reuseport = true (SO_REUSEPORT) on tcp and udp listeners: several sockets
-- share one address and the kernel spreads connections and datagrams among
-- them; without it the second one is EADDRINUSE; unix networks raise.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"

local N = 200 -- all on one socket by chance: 2 in 2^200

-- Two stream listeners on one address of net; returns them and the address.
local function pair(net, host)
  local a = assert(luds.listen(net, host .. ":0", { reuseport = true }))
  local at = a:addr()
  local b, msg = luds.listen(net, at, { reuseport = true })
  lu.assertNotNil(b, msg)
  return a, b, at
end

TestReuseport = H.suite()

function TestReuseport:test_second_listener_needs_reuseport()
  H.run(function()
    for _, c in ipairs({ { "tcp", "127.0.0.1" }, { "tcp4", "127.0.0.1" }, { "tcp6", "[::1]" } }) do
      local net, host = c[1], c[2]
      local a, b, at = pair(net, host)
      H.assert_fails("EADDRINUSE", ("listen %s %s: address already in use"):format(net, at),
        luds.listen(net, at))
      H.assert_fails("EADDRINUSE", nil, luds.listen(net, at, { reuseport = false }))
      local plain <close> = assert(luds.listen(net, host .. ":0"))
      H.assert_fails("EADDRINUSE", nil, luds.listen(net, plain:addr(), { reuseport = true }))
      a:close() b:close()
    end
    for _, c in ipairs({ { "udp", "127.0.0.1" }, { "udp4", "127.0.0.1" }, { "udp6", "[::1]" } }) do
      local net, host = c[1], c[2]
      local a <close> = assert(luds.listen_packet(net, host .. ":0", { reuseport = true }))
      local b <close> = assert(luds.listen_packet(net, a:local_addr(), { reuseport = true }))
      lu.assertEquals(b:local_addr(), a:local_addr())
      H.assert_fails("EADDRINUSE", ("listen %s %s: address already in use"):format(net,
        a:local_addr()), luds.listen_packet(net, a:local_addr()))
    end
  end)
end

function TestReuseport:test_connections_are_spread()
  H.run(function()
    local a, b, at = pair("tcp", "127.0.0.1")
    local counts = { 0, 0 }
    local tasks = {}
    for i, ln in ipairs({ a, b }) do
      tasks[i] = luds.spawn(luds.serve, ln, function(c)
        counts[i] = counts[i] + 1
        c:write("x")
      end)
    end
    for _ = 1, N do
      local c <close> = assert(luds.dial("tcp", at))
      lu.assertEquals(c:read(), "x")
    end
    lu.assertEquals(counts[1] + counts[2], N)
    lu.assertTrue(counts[1] >= 1 and counts[2] >= 1, ("%d and %d"):format(counts[1], counts[2]))
    a:close() b:close()
    for _, t in ipairs(tasks) do lu.assertEquals({ t:wait(5) }, { true, true }) end
  end, 20)
end

function TestReuseport:test_datagrams_are_spread()
  H.run(function()
    local a <close> = assert(luds.listen_packet("udp", "127.0.0.1:0", { reuseport = true }))
    local b <close> = assert(luds.listen_packet("udp", a:local_addr(), { reuseport = true }))
    local counts = { 0, 0 }
    for i, pc in ipairs({ a, b }) do
      luds.spawn(function()
        while pc:read_from() do counts[i] = counts[i] + 1 end
      end)
    end
    for _ = 1, N do -- a new socket each time: a new source port to hash
      local c <close> = assert(luds.dial("udp", a:local_addr()))
      assert(c:write("d"))
    end
    H.wait_for("every datagram", function() return counts[1] + counts[2] == N end)
    lu.assertTrue(counts[1] >= 1 and counts[2] >= 1, ("%d and %d"):format(counts[1], counts[2]))
  end, 20)
end

function TestReuseport:test_unix_networks_raise()
  local path = self.dir .. "/u.sock"
  local want = "option 'reuseport' needs an IP network (tcp, tcp4, tcp6, udp, udp4, udp6), not "
  H.assert_raises({ want .. "unix" }, luds.listen, "unix", path, { reuseport = true })
  H.assert_raises({ want .. "unixpacket" }, luds.listen, "unixpacket", path, { reuseport = true })
  H.assert_raises({ want .. "unixgram" }, luds.listen_packet, "unixgram", path, { reuseport = true })
  H.assert_raises({ want .. "unix" }, luds.listen, "unix", "@abstract", { reuseport = true })
  H.assert_raises({ "unknown option 'reuseport'" }, luds.dial, "tcp", "127.0.0.1:1",
    { reuseport = true })
  lu.assertFalse(H.exists(path))
  local ln <close> = assert(luds.listen("unix", path, { reuseport = false }))
end

luds.exit(T.run())
