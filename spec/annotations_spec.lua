-- The LuaLS definition files (types/*.lua, issue 16 item 4) against the live
-- runtime: every function of require "luds", "luds.test" and "luds.creds" and
-- every method of every object kind's metatable has an entry, every entry
-- exists, each options class lists exactly the keys its function accepts,
-- each record class exactly the keys of the table returned. There is no
-- lua-language-server package to run `--check`, so spec/luals.lua reads the
-- files line by line; failures name what is missing or stale, and where.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local creds = require "luds.creds"
local T = require "luds.test"
local H = require "helper"
local L = require "luals"
local W = require "apiwalk"

local TYPES = H.ROOT .. "/types"
local FILES = { "luds.lua", "luds.test.lua", "luds.creds.lua" }

-- Lua modules (lua/luds/) with no definition file of their own: each
-- function they export is luds's own (annotated there), or they are internal.
local INTERNAL_MODULES = {
  ["luds.testrunner"] = "the `luds test` runner, reached through luds.test's main",
}

local BOGUS = "no such option" -- a key that no options table accepts

local function read_all()
  local anns = {}
  for _, name in ipairs(FILES) do
    local file = "types/" .. name
    anns[#anns + 1] = L.parse(assert(H.slurp(TYPES .. "/" .. name), file), file)
  end
  return anns
end

local function assert_none(problems)
  if #problems > 0 then lu.fail(#problems .. " problem(s):\n" .. table.concat(problems, "\n")) end
end

local function append(list, more)
  for _, p in ipairs(more) do list[#list + 1] = p end
  return list
end

-- Options classes: calls that raise with the keys accepted ("...; accepted: a, b").
local PROBES = {
  ["luds.ListenOptions"] = {
    function(dir) return luds.listen("unix", dir .. "/o.sock", { [BOGUS] = 1 }) end },
  ["luds.ListenPacketOptions"] = {
    function(dir) return luds.listen_packet("unixgram", dir .. "/o.sock", { [BOGUS] = 1 }) end },
  ["luds.DialOptions"] = {
    function(dir) return luds.dial("unix", dir .. "/o.sock", { [BOGUS] = 1 }) end },
  ["luds.SelectOptions"] = { function() return luds.select({}, { [BOGUS] = 1 }) end },
  ["luds.ExecOptions"] = { function() return luds.exec({ "true" }, { [BOGUS] = 1 }) end },
  ["luds.OutputOptions"] = { function() return luds.output({ "true" }, { [BOGUS] = 1 }) end },
  ["luds.WorkersOptions"] = { function() return luds.workers({ [BOGUS] = 1 }) end },
  ["luds.ServeOptions"] = {
    function() return luds.serve(nil, print, { [BOGUS] = 1 }) end,
    function() return luds.server(nil, print, { [BOGUS] = 1 }) end },
  ["luds.creds.Policy"] = { function() return creds.allow(nil, { [BOGUS] = 1 }) end },
  ["luds.test.StartOptions"] = { function() return T.start({ "true" }, { [BOGUS] = 1 }) end },
}

-- What conn:proxied() says of a conn that came through a PROXY listener
-- with a v2 header carrying addresses and one TLV (type 5, "id").
local function proxied(dir)
  local ln <close> = assert(luds.listen("unix", dir .. "/proxy.sock", { proxy = true }))
  local c <close> = assert(luds.dial("unix", ln:addr()))
  local body = "\1\2\3\4" .. "\5\6\7\8" .. string.pack(">I2I2", 80, 443) .. "\5\0\2id"
  assert(c:write("\r\n\r\n\0\r\nQUIT\n\x21\x11" .. string.pack(">I2", #body) .. body))
  local s <close> = assert(ln:accept())
  local p = s:proxied()
  lu.assertEquals({ p.version, p.command, p.net, p.src, p.dst, #p.tlvs },
    { 2, "PROXY", "tcp4", "1.2.3.4:80", "5.6.7.8:443", 1 })
  return p
end

-- What luds.worker() says in a process that is a worker (LUDS_WORKER names
-- it, with its own pid: sh execs env, which execs luds, all one pid).
local function worker_info()
  local out = H.sh(("exec env LUDS_WORKER=\"1 2 3 4 -1 $$\" %s -e %s"):format(H.q(H.LUDS),
    H.q('for k, v in pairs(require("luds").worker()) do print(k .. "=" .. v) end')))
  local t = {}
  for k, v in out:gmatch("([%w_]+)=(%-?%d+)") do t[k] = math.tointeger(tonumber(v)) end
  lu.assertEquals(t, { index = 1, count = 2, generation = 3, supervisor = 4 })
  lu.assertNil(luds.worker()) -- this process is no worker
  return t
end

-- Record classes: calls that return a table of that shape.
local SHAPES = {
  ["luds.WorkerInfo"] = { worker_info },
  ["luds.ProxyHeader"] = { proxied },
  ["luds.ProxyTLV"] = { function(dir) return proxied(dir).tlvs[1] end },
  ["luds.Stat"] = { function(dir) return luds.stat(dir) end },
  ["luds.test.Child"] = { function()
    local c = assert(T.start({ "true" }, { stdin = "pipe" }))
    lu.assertEquals({ c:wait(5), c:stop() }, { 0, 0 })
    return c
  end },
  ["luds.UserInfo"] = { function() return luds.lookup_user(0) end },
  ["luds.GroupInfo"] = { function() return luds.lookup_group(0) end },
  ["luds.Cred"] = {
    function(dir)
      local client, server, ln = H.pair(dir, "cred.sock")
      local cred = server:peer_cred()
      client:close() server:close() ln:close()
      return cred
    end,
    function(dir)
      local pc <close> = assert(luds.listen_packet("unixgram", dir .. "/cred.gram",
        { passcred = true }))
      local d <close> = assert(luds.dial("unixgram", pc:local_addr()))
      assert(d:write("x"))
      return select(3, pc:read_from())
    end },
}

-- The accepted keys (a set) and the function name that probe's error names.
local function accepted_by(probe, dir)
  local ok, err = pcall(probe, dir)
  if ok then return nil, "did not raise for the option '" .. BOGUS .. "'" end
  local list = tostring(err):match("accepted: ([%w_, ]+)")
  if not list then return nil, "raised without an accepted list: " .. tostring(err) end
  local set = {}
  for k in list:gmatch("[%w_]+") do set[k] = true end
  return set, tostring(err):match("to '([%w_.]+)'") or tostring(err):match("^([%w_.]+):")
end

-- The string literals of C array `name` in runtime file `file`.
local function c_strings(file, name)
  local src = assert(H.slurp(H.ROOT .. "/runtime/" .. file))
  local body = assert(src:match(name .. "%[[^%]]*%]%s*=%s*(%b{})"),
    name .. " not found in " .. file)
  local list = {}
  for s in body:gmatch('"([^"]*)"') do list[#list + 1] = s end
  return list, body
end

local function set_of(list)
  local set = {}
  for _, v in ipairs(list) do set[v] = true end
  return set
end

local function keys(set)
  local list = {}
  for k in pairs(set) do list[#list + 1] = k end
  table.sort(list)
  return table.concat(list, ", ")
end

-- Compares alias `name`'s literals with the set the runtime has.
local function alias_problem(anns, name, want, where)
  local got = keys(L.literals(anns, name))
  if got ~= keys(want) then
    return { ("alias %s is %s; %s has %s"):format(name, got, where, keys(want)) }
  end
  return {}
end

-- The module tables and their classes: { ann, class, runtime, label, sep }.
local function modules(anns)
  local list = {}
  for _, ann in ipairs(anns) do
    local ok, mod = pcall(require, ann.meta)
    list[#list + 1] = { ann = ann, class = ann.returns, runtime = ok and mod or {},
      label = ('require "%s"'):format(ann.meta), sep = "." }
  end
  return list
end

-- The object classes: { ann, class, runtime, label, sep }, and the kinds
-- with no class at all (as problems).
local function objects(anns, dir)
  local list, problems = {}, {}
  for name, kind in pairs(W.runtime_kinds(dir)) do
    local found
    for _, ann in ipairs(anns) do
      for cname, class in pairs(ann.classes) do
        if cname:lower() == name then
          found = true
          local runtime, entries = W.entries_of(kind.mt), {}
          for k, e in pairs(class.entries) do -- fields a C __index gives (a process's pid)
            if runtime[k] == nil and kind.object then runtime[k] = kind.object[k] end
            if runtime[k] ~= nil or kind.object or e.kind ~= "field" then entries[k] = e end
          end
          list[#list + 1] = { ann = ann, class = { name = class.name, entries = entries },
            runtime = runtime, label = kind.label, sep = ":" }
        end
      end
    end
    if not found then
      problems[#problems + 1] = ("missing from types/: a @class for %s (entries: %s)")
        :format(kind.label, keys(W.entries_of(kind.mt)))
    end
    if not (kind.object or kind.absent or name == "luds.server") then
      problems[#problems + 1] = ("W.live_objects() (spec/apiwalk.lua) makes no object of %s, so its"
        .. " fields go unchecked: add one"):format(kind.label)
    end
  end
  table.sort(list, function(a, b) return a.class.name < b.class.name end)
  table.sort(problems)
  return list, problems
end

TestAnnotations = H.suite()

function TestAnnotations:test_files_are_lua_that_luac_parses()
  for _, name in ipairs(FILES) do
    local path = TYPES .. "/" .. name
    local out, status = H.sh("luac5.4 -p " .. H.q(path) .. " 2>&1")
    lu.assertEquals({ out, status }, { "", 0 }, "luac5.4 -p " .. path)
    local chunk = assert(loadfile(path))
    lu.assertIsTable(chunk(), path .. " returns its module table")
  end
end

function TestAnnotations:test_files_keep_the_shape_the_reader_knows()
  local problems = {}
  for _, ann in ipairs(read_all()) do append(problems, ann.problems) end
  assert_none(problems)
  local metas = {}
  for _, ann in ipairs(read_all()) do metas[#metas + 1] = ann.meta end
  lu.assertEquals(metas, { "luds", "luds.test", "luds.creds" })
end

-- Running a definition file gives a table of stubs: the reader saw them all.
function TestAnnotations:test_reader_sees_every_function_the_file_defines()
  for _, ann in ipairs(read_all()) do
    local stubs = assert(loadfile(TYPES .. "/" .. ann.file:match("[^/]+$")))()
    local defined, read = {}, {}
    for k, v in pairs(stubs) do if type(v) == "function" then defined[k] = true end end
    for k, e in pairs(ann.returns.entries) do if e.kind == "function" then read[k] = true end end
    lu.assertEquals(keys(read), keys(defined), ann.file)
  end
end

function TestAnnotations:test_modules_match_the_runtime()
  local problems = {}
  for _, m in ipairs(modules(read_all())) do
    append(problems, L.compare(m.ann, m.class, m.runtime, m.label, m.sep))
  end
  assert_none(problems)
end

function TestAnnotations:test_object_kinds_match_their_metatables()
  local list, problems = objects(read_all(), self.dir)
  for _, o in ipairs(list) do
    append(problems, L.compare(o.ann, o.class, o.runtime, o.label, o.sep))
  end
  assert_none(problems)
  local names = {}
  for _, o in ipairs(list) do names[o.class.name] = true end
  for _, name in ipairs({ "luds.Channel", "luds.Cond", "luds.Conn", "luds.Event", "luds.Group",
    "luds.Listener", "luds.PacketConn", "luds.Permit", "luds.Process", "luds.Semaphore",
    "luds.Server", "luds.Task" }) do
    lu.assertTrue(names[name], name .. " was compared with no runtime kind")
  end
end

-- A class that narrows another (luds.PacketListener) declares only what
-- its parent's runtime kind has.
function TestAnnotations:test_subclasses_declare_only_their_parents_entries()
  local anns = read_all()
  local problems, seen = {}, 0
  local kinds = W.runtime_kinds(self.dir)
  for _, ann in ipairs(anns) do
    for _, class in ipairs(ann.order) do
      local kind = class.parent and kinds[class.parent:lower()]
      if kind then
        seen = seen + 1
        local runtime = W.entries_of(kind.mt)
        for name, e in pairs(class.entries) do
          if runtime[name] == nil then
            problems[#problems + 1] = ("stale in %s:%d: %s:%s (not in %s)")
              :format(ann.file, e.line, class.name, name, kind.label)
          end
        end
      end
    end
  end
  assert_none(problems)
  lu.assertEquals(seen, 1)
end

-- Runs check(ann, class, probe, i) for each probe of each class in probes
-- (PROBES or SHAPES); returns the problems found, sorted.
local function each_probe(probes, what, check)
  local anns, problems = read_all(), {}
  for cname, list in pairs(probes) do
    local class, ann = L.class(anns, cname)
    if not class then
      problems[#problems + 1] = ("missing from types/: %s class %s"):format(what, cname)
    else
      for i, probe in ipairs(list) do append(problems, check(ann, class, probe, i)) end
    end
  end
  table.sort(problems)
  return problems
end

function TestAnnotations:test_options_classes_list_exactly_the_accepted_keys()
  assert_none(each_probe(PROBES, "options", function(ann, class, probe, i)
    local set, fname = accepted_by(probe, self.dir)
    if not set then return { ("%s probe %d %s"):format(class.name, i, fname) } end
    return L.compare(ann, class, set, fname .. "'s accepted keys", ".", { names_only = true })
  end))
end

-- Every options check in the C bindings is probed above, so a new function
-- with options cannot go without its class.
function TestAnnotations:test_every_options_check_in_c_has_a_probe()
  local probed = {}
  for _, probes in pairs(PROBES) do
    for _, probe in ipairs(probes) do
      local _, fname = accepted_by(probe, self.dir)
      probed[fname] = true
    end
  end
  local missing, found = {}, {}
  local ls = H.sh("ls " .. H.q(H.ROOT .. "/runtime") .. "/*.c")
  for path in ls:gmatch("[^\n]+") do
    for fname in assert(H.slurp(path)):gmatch('lsock_checkopts%(L, %d+, [%w_]+, "([%w_]+)"%)') do
      found[fname] = true
      if not probed[fname] then missing[#missing + 1] = path .. ": " .. fname end
    end
  end
  lu.assertEquals(missing, {}, "options checks with no PROBES entry (and so perhaps no class)")
  for _, fname in ipairs({ "listen", "listen_packet", "dial", "select", "exec" }) do
    lu.assertTrue(found[fname], "no lsock_checkopts call for " .. fname .. " was found")
  end
end

function TestAnnotations:test_record_classes_match_the_tables_returned()
  H.run(function()
    assert_none(each_probe(SHAPES, "record", function(ann, class, probe, i)
      local t = probe(self.dir)
      lu.assertIsTable(t, class.name .. " probe " .. i)
      return L.compare(ann, class, t, class.name .. " probe " .. i .. "'s table", ".")
    end))
  end)
end

-- Each class is one of the kinds above, so none goes unchecked.
function TestAnnotations:test_every_class_is_checked()
  local anns = read_all()
  local kinds = W.runtime_kinds(self.dir)
  local unchecked = {}
  for _, ann in ipairs(anns) do
    for _, class in ipairs(ann.order) do
      local lower = class.name:lower()
      if not (class == ann.returns or kinds[lower] or (class.parent and kinds[class.parent:lower()])
          or PROBES[class.name] or SHAPES[class.name]) then
        unchecked[#unchecked + 1] = ("%s:%d: %s"):format(ann.file, class.line, class.name)
      end
    end
  end
  lu.assertEquals(unchecked, {}, "classes the spec does not check: add them to PROBES or SHAPES")
end

function TestAnnotations:test_every_function_is_described_with_its_parameters()
  local anns, problems = read_all(), {}
  for _, m in ipairs(modules(anns)) do
    append(problems, L.check_docs(m.ann, m.class, m.runtime, m.sep))
  end
  local list = objects(anns, self.dir)
  for _, o in ipairs(list) do append(problems, L.check_docs(o.ann, o.class, o.runtime, o.sep)) end
  for _, ann in ipairs(anns) do
    for _, class in ipairs(ann.order) do
      if class.parent then append(problems, L.check_docs(ann, class, nil, ":")) end
    end
  end
  assert_none(problems)
end

-- The aliases of networks, signals, task states and file types name exactly
-- the runtime's (the C arrays they come from).
function TestAnnotations:test_aliases_match_the_runtime()
  local anns, problems = read_all(), {}
  local _, body = c_strings("addr.c", "networks")
  local stream, packet, all = {}, {}, {}
  for name, kind in body:gmatch('{"(%w+)", AF_%w+, SOCK_(%w+), [01]}') do
    all[name] = true
    if kind == "STREAM" then stream[name] = true elseif kind == "DGRAM" then packet[name] = true end
  end
  lu.assertTrue(all.unixpacket and not stream.unixpacket and not packet.unixpacket)
  append(problems, alias_problem(anns, "luds.StreamNetwork", stream, "addr.c (SOCK_STREAM)"))
  append(problems, alias_problem(anns, "luds.PacketNetwork", packet, "addr.c (SOCK_DGRAM)"))
  append(problems, alias_problem(anns, "luds.Network", all, "addr.c"))
  append(problems, alias_problem(anns, "luds.Signal", set_of(c_strings("rt.c", "signal_names")),
    "rt.c signal_names"))
  append(problems, alias_problem(anns, "luds.TaskStatus",
    set_of(c_strings("task.c", "state_names")), "task.c state_names"))
  append(problems, alias_problem(anns, "luds.FileType", set_of(c_strings("fsperm.c", "names")),
    "fsperm.c's type names"))
  assert_none(problems)
  for n in pairs(L.literals(anns, "luds.StreamNetwork")) do
    lu.assertEquals(luds.listen(n, "\0"), nil, n) -- EINVAL: the network is accepted
  end
  for n in pairs(L.literals(anns, "luds.PacketNetwork")) do
    lu.assertEquals(luds.listen_packet(n, "\0"), nil, n)
  end
  for s in pairs(L.literals(anns, "luds.Signal")) do lu.assertTrue(luds.on_signal(s, nil), s) end
end

-- The problems of check(ann) that check(base) does not have (line numbers
-- aside): what the doctoring below caused, whatever else has drifted.
local function caused(base, ann, check)
  local had = {}
  for _, p in ipairs(check(base)) do had[p:gsub(":%d+:", ":")] = true end
  local new = {}
  for _, p in ipairs(check(ann)) do
    if not had[p:gsub(":%d+:", ":")] then new[#new + 1] = p end
  end
  return new
end

-- Every module under lua/luds/ has its own definition file, exports only
-- luds's own functions (re-exported: luds.serve is luds.server's serve), or
-- is internal.
function TestAnnotations:test_every_lua_module_is_annotated()
  local metas, problems = {}, {}
  for _, ann in ipairs(read_all()) do metas[ann.meta] = true end
  for base in H.sh("ls " .. H.q(H.ROOT .. "/lua/luds")):gmatch("([%w_]+)%.lua\n") do
    local name = "luds." .. base
    if not (metas[name] or INTERNAL_MODULES[name]) then
      for k, v in pairs(require(name)) do
        if luds[k] ~= v then
          problems[#problems + 1] = ("lua/luds/%s.lua: %s.%s is not luds.%s: %s needs"
            .. " types/%s.lua (or a place in INTERNAL_MODULES)")
            :format(base, name, k, k, name, name)
        end
      end
    end
  end
  assert_none(problems)
end

-- The checks fail, naming file, line and entry, on annotations gone stale.
function TestAnnotations:test_a_missing_or_stale_entry_is_named()
  local text = assert(H.slurp(TYPES .. "/luds.lua"))
  local base = L.parse(text, "types/luds.lua")
  local function cut(s, line)
    local i, j = s:find(line, 1, true)
    assert(i, line)
    return s:sub(1, i - 1) .. s:sub(j + 2)
  end
  text = cut(text, "function Conn:read_line() end")
  text = cut(text, "---@field remove_stale? boolean first remove a socket file at the path"
    .. " that nobody listens on")
  text = cut(text, "function luds.sleep(seconds) end")
  text = text:gsub("\nreturn luds", "\n---A stale entry.\nfunction luds.gone() end\nreturn luds")
  local ann = L.parse(text, "types/luds.lua")
  assert_none(ann.problems)
  local problems = caused(base, ann, function(a)
    return L.compare(a, a.returns, luds, 'require "luds"', ".")
  end)
  lu.assertEquals(#problems, 2)
  lu.assertEquals(problems[1],
    'missing from types/luds.lua: luds.sleep (function in require "luds")')
  lu.assertStrMatches(problems[2],
    'stale in types/luds%.lua:%d+: luds%.gone %(not in require "luds"%)')
  local conn = W.runtime_kinds(self.dir)["luds.conn"]
  lu.assertEquals(caused(base, ann, function(a)
    return L.compare(a, a.classes["luds.Conn"], W.entries_of(conn.mt), conn.label, ":")
  end), { "missing from types/luds.lua: luds.Conn:read_line"
    .. " (function in the metatable luds.conn)" })
  local set, fname = accepted_by(PROBES["luds.ListenOptions"][1], self.dir)
  lu.assertEquals(caused(base, ann, function(a)
    return L.compare(a, a.classes["luds.ListenOptions"], set, fname .. "'s accepted keys", ".",
      { names_only = true })
  end), { "missing from types/luds.lua: luds.ListenOptions.remove_stale"
    .. " (key in listen's accepted keys)" })
end

luds.exit(T.run())
