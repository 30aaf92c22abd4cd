-- A stream proxy: each connection accepted on one address is piped, both ways,
-- to a new connection to another; TCP in front of a Unix-socket service, say.
--
--   luds examples/proxy.lua FROM_NETWORK FROM_ADDRESS TO_NETWORK TO_ADDRESS
--   luds examples/proxy.lua tcp 127.0.0.1:8080 unix /run/app.sock
--
-- Prints "listening on ADDRESS". Each direction is one luds.copy. When one side
-- ends its stream, the proxy ends the stream to the other side (close_write)
-- and the other direction goes on, so half-closes pass through. A connection
-- ends when both directions have ended, or at once when either fails (a reset,
-- say); the proxy sets no idle timeouts of its own. When the dial fails (or
-- takes over DIAL_TIMEOUT seconds), the client is closed and the error logged
-- to stderr.
local luds = require "luds"

local NETWORKS = { unix = true, tcp = true, tcp4 = true, tcp6 = true }
local DIAL_TIMEOUT = 10

local function usage()
  io.stderr:write("usage: luds proxy.lua FROM_NETWORK FROM_ADDRESS TO_NETWORK TO_ADDRESS\n",
    "NETWORK: unix, tcp, tcp4 or tcp6\n")
  luds.exit(2)
end

local function die(err)
  io.stderr:write("proxy: ", err, "\n")
  luds.exit(1)
end

-- Copies src to dst until src ends, then ends dst's stream. On an error closes
-- both, which also ends the copy running the other way.
local function pipe(dst, src)
  if luds.copy(dst, src) then
    dst:close_write()
  else
    dst:close()
    src:close()
  end
end

-- A handler for luds.serve (which closes the client when it returns).
local function proxy_to(network, address)
  return function(client)
    local upstream <close>, err = luds.dial(network, address, { timeout = DIAL_TIMEOUT })
    if not upstream then
      io.stderr:write("proxy: ", err, "\n")
      return
    end
    local upload = luds.spawn(pipe, upstream, client)
    pipe(client, upstream)
    upload:wait()
  end
end

local from_network, from_address, to_network, to_address = arg[1], arg[2], arg[3], arg[4]
if not (NETWORKS[from_network] and from_address and NETWORKS[to_network] and to_address) or arg[5] then
  usage()
end
local ln, err = luds.listen(from_network, from_address)
if not ln then die(err) end
print("listening on " .. ln:addr())
io.stdout:flush()
-- Returns once SIGINT/SIGTERM have closed the listener (removing a socket file).
luds.serve(ln, proxy_to(to_network, to_address))
