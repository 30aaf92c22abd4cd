-- What the runtime offers scripts, found by walking it rather than listed by
-- hand: the module tables and every object kind's metatable, from live
-- objects made in a temp dir. annotations_spec compares it with types/,
-- docs_spec with doc/.
local lu = require "luaunit"
local luds = require "luds"

local W = {}

-- The modules a script requires, each with the name docs and types give its
-- table (luds.test is T in the examples, luds.creds creds).
W.MODULES = { { name = "luds", prefix = "luds" }, { name = "luds.test", prefix = "T" },
  { name = "luds.creds", prefix = "creds" } }

-- Metatables in the registry that no script ever gets an object of.
W.INTERNAL = {
  ["luds.copy"] = "the state of a running luds.copy",
  ["luds.group.child"] = "the token a group child holds",
  ["luds.worker_process"] = "a worker as the supervisor (lua/luds/workers.lua) holds it",
  ["luds.workbox"] = "a job on the worker pool (lwork.c), on its task's stack",
}

-- Metamethods a script uses on objects (`<close>`, `#`, tostring), so they are
-- entries; the others (__index, __gc, __name) are not.
local ENTRY_METAMETHODS = { __close = true, __len = true, __tostring = true }

-- The entries of metatable mt: its methods, fields and ENTRY_METAMETHODS,
-- and those of its __index: a table, or the tables a C __index function
-- keeps as upvalues (a process's methods; its fields only a live one shows).
function W.entries_of(mt)
  local t = {}
  local function add(from)
    for k, v in pairs(from) do
      if type(k) == "string" and (not k:match("^__") or ENTRY_METAMETHODS[k]) then t[k] = v end
    end
  end
  add(mt)
  local index = rawget(mt, "__index")
  if type(index) == "table" and index ~= mt then add(index) end
  if type(index) == "function" and debug.getinfo(index, "S").what == "C" then
    for i = 1, 255 do
      local name, v = debug.getupvalue(index, i)
      if name == nil then break end
      if type(v) == "table" then add(v) end
    end
  end
  return t
end

-- One live object of every kind (and conns of tcp and unixpacket, a udp
-- packet conn), so that lazily made metatables exist; returns them (the caller closes them) and the server handle. The process
-- has all three pipes, so that each of its fields is there; it has ended.
function W.live_objects(dir)
  local ln = assert(luds.listen("unix", dir .. "/s.sock"))
  local c = assert(luds.dial("unix", ln:addr()))
  local pln = assert(luds.listen("unixpacket", dir .. "/p.sock"))
  local pc = assert(luds.listen_packet("unixgram", dir .. "/g.sock"))
  local sem = luds.semaphore(1)
  local objects = { ln, c, assert(ln:accept()), pln, pc, sem:acquire(), luds.group(),
    luds.spawn(function() end), luds.channel(), luds.event(), luds.cond(), sem }
  -- the same kinds over the other networks: no network has a kind of its own
  local tln = assert(luds.listen("tcp", "127.0.0.1:0"))
  for _, o in ipairs({ tln, assert(luds.dial("tcp", tln:addr())), assert(luds.dial("unixpacket",
    pln:addr())), assert(luds.listen_packet("udp", "127.0.0.1:0")) }) do
    objects[#objects + 1] = o
  end
  local p, msg, code = luds.exec({ "true" }, { stdin = "pipe", stdout = "pipe", stderr = "pipe" })
  if p then
    lu.assertEquals(p:wait(5), 0)
    for _, o in ipairs({ p.stdin, p.stdout, p.stderr, p }) do objects[#objects + 1] = o end
  end
  -- a kernel (or valgrind) without pidfd_open used to give none: then no
  -- process shows its fields
  local absent = not p and { ["luds.process"] = msg } or {}
  if not p then lu.assertEquals(code, "ENOSYS", msg) end
  return objects, luds.server(ln, function() end), absent
end

-- Class name (lower case) -> { mt =, label = } for every object kind scripts
-- get: the luds.* metatables of the registry, and the Lua server handle's.
function W.runtime_kinds(dir)
  local objects, srv, absent = W.live_objects(dir)
  local kinds = {}
  for k, v in pairs(debug.getregistry()) do
    if type(k) == "string" and k:match("^luds%.") and type(v) == "table"
        and rawget(v, "__name") == k and not W.INTERNAL[k] then
      kinds[k] = { mt = v, label = "the metatable " .. k }
    end
  end
  for _, o in ipairs(objects) do
    local kind = kinds[getmetatable(o).__name]
    lu.assertNotNil(kind, tostring(o) .. " has a metatable of no kind: " .. getmetatable(o).__name)
    kind.object = kind.object or o
  end
  for name, why in pairs(absent) do kinds[name].absent = why end
  kinds["luds.server"] = { mt = getmetatable(srv),
    label = "the metatable of luds.server()'s handle" }
  for _, o in ipairs(objects) do
    if o.close then o:close() elseif o.cancel then o:cancel() end
  end
  return kinds
end

return W
