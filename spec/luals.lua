-- A line-based reader of the LuaLS definition files in types/ (there is no
-- lua-language-server package to ask), and the comparisons of what they
-- declare with tables the runtime has. Every function returns a list of
-- problems, each a sentence naming the file, the line and the entry, so a
-- failing spec says exactly what is missing or stale. The files keep to a
-- strict shape so that this reader can be simple: doc blocks of `---` lines,
-- `local X = {}` after a class, `function X.f(...) end` or
-- `function X:m(...) end` on one line, `return X` last.
local M = {}

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

-- The state of one file being read.
local function new_ann(file)
  return { file = file, classes = {}, order = {}, aliases = {}, vars = {}, problems = {} }
end

local function problem(ann, line, fmt, ...)
  ann.problems[#ann.problems + 1] = ("%s:%d: "):format(ann.file, line) .. fmt:format(...)
end

local function add_entry(ann, class, name, entry)
  local old = class.entries[name]
  if old and not (old.kind == "operator" or entry.kind == "operator") then
    problem(ann, entry.line, "%s.%s declared twice (also line %d)", class.name, name, old.line)
  end
  if not old or old.kind == "operator" then class.entries[name] = entry end
end

local function new_class(ann, name, parent, line)
  if ann.classes[name] then problem(ann, line, "class %s declared twice", name) end
  local class = { name = name, parent = parent ~= "" and parent or nil, entries = {}, line = line }
  ann.classes[name] = class
  ann.order[#ann.order + 1] = class
  return class
end

-- The alias's members (after `---@alias name` or on `---|` lines), comments cut.
local function add_alias_members(alias, text)
  text = text:gsub("#.*$", "")
  for part in text:gmatch("[^|]+") do
    local t = trim(part)
    if t ~= "" then alias[#alias + 1] = t end
  end
end

-- One doc line of a block: what it declares goes into b.
local function read_doc(ann, b, text, line)
  local meta = text:match("^%-%-%-@meta%s+(%S+)")
  if meta then ann.meta = meta return end
  local cname, rest = text:match("^%-%-%-@class%s+([%w_.]+)(.*)$")
  if cname then
    if b.class then problem(ann, line, "@class %s in the doc block of %s", cname, b.class.name) end
    b.class = new_class(ann, cname, rest:match("^%s*:%s*([%w_.]+)") or "", line)
    return
  end
  local fname, opt, ftype = text:match("^%-%-%-@field%s+([%w_]+)(%??)%s+(%S+)")
  if fname then
    if not b.class then return problem(ann, line, "@field %s outside a class", fname) end
    return add_entry(ann, b.class, fname,
      { kind = "field", type = ftype, optional = opt == "?", line = line })
  end
  local op = text:match("^%-%-%-@operator%s+(%w+)")
  if op then
    if not b.class then return problem(ann, line, "@operator %s outside a class", op) end
    return add_entry(ann, b.class, "__" .. op, { kind = "operator", line = line })
  end
  local pname = text:match("^%-%-%-@param%s+([%w_]+)%??%s")
    or text:match("^%-%-%-@param%s+(%.%.%.)%s")
  if pname then b.params[#b.params + 1] = pname return end
  local aname, arest = text:match("^%-%-%-@alias%s+([%w_.]+)(.*)$")
  if aname then
    b.alias = {}
    ann.aliases[aname] = b.alias
    return add_alias_members(b.alias, arest)
  end
  local more = text:match("^%-%-%-|(.*)$")
  if more then
    if not b.alias then return problem(ann, line, "---| outside an alias") end
    return add_alias_members(b.alias, more)
  end
  if text:match("^%-%-%-@") then return end -- @return, @overload, @generic: not compared
  if trim(text:sub(4)) ~= "" then b.desc = true end
end

local function param_list(text)
  local list = {}
  for p in text:gmatch("[^,]+") do list[#list + 1] = trim(p) end
  return list
end

-- The code line after a doc block (or after nothing): a table, a function, the return.
local function read_code(ann, b, text, line)
  local var = text:match("^local%s+([%w_]+)%s*=%s*{}%s*$")
  if var then
    if not b.class then return problem(ann, line, "local %s = {} without a @class above", var) end
    ann.vars[var] = b.class
    return
  end
  local v, sep, name, params = text:match("^function%s+([%w_]+)([.:])([%w_]+)%(([^)]*)%)%s*end%s*$")
  if v then
    local class = ann.vars[v]
    if not class then return problem(ann, line, "function %s%s%s on no class", v, sep, name) end
    return add_entry(ann, class, name, { kind = "function", method = sep == ":", line = line,
      params = param_list(params), doc_params = b.params, desc = b.desc })
  end
  local ret = text:match("^return%s+([%w_]+)%s*$")
  if ret then ann.returns = ann.vars[ret] return end
  if trim(text) ~= "" and not text:match("^%-%-") then
    problem(ann, line, "a line this reader does not know: %s", text)
  end
end

-- Reads one definition file's text; returns what it declares (problems included).
function M.parse(text, file)
  local ann = new_ann(file)
  local b = { params = {} }
  local n = 0
  for text_line in (text:gsub("\n?$", "\n")):gmatch("(.-)\n") do
    n = n + 1
    if text_line:match("^%-%-%-") then
      read_doc(ann, b, text_line, n)
    else
      read_code(ann, b, text_line, n)
      b = { params = {} }
    end
  end
  if not ann.meta then problem(ann, 1, "no ---@meta line") end
  if not ann.returns then problem(ann, n, "no `return X` of an annotated table") end
  return ann
end

-- The string literals an alias stands for, through the aliases it names.
function M.literals(anns, name, seen)
  seen = seen or {}
  local set = {}
  for _, ann in ipairs(anns) do
    for _, t in ipairs(ann.aliases[name] or {}) do
      local lit = t:match('^"(.*)"$')
      if lit then
        set[lit] = true
      elseif not seen[t] then
        seen[t] = true
        for l in pairs(M.literals(anns, t, seen)) do set[l] = true end
      end
    end
  end
  return set
end

-- The class named name in any of anns, and the file declaring it.
function M.class(anns, name)
  for _, ann in ipairs(anns) do
    if ann.classes[name] then return ann.classes[name], ann end
  end
end

local PLAIN = { string = "string", number = "number", integer = "number", boolean = "boolean",
  table = "table" }

-- Whether value v fits an annotated field type (plain types and literals only;
-- anything fancier is not checked).
local function fits(ftype, v)
  local lits, all = {}, true
  for part in ftype:gmatch("[^|]+") do
    local lit = part:match('^"([^"]*)"$')
    if lit then lits[lit] = true else all = false end
  end
  if all then return lits[v] == true end
  local want = PLAIN[ftype] or (ftype:match("%[%]$") and "table")
  if not want then return true end
  if ftype == "integer" then return math.type(v) == "integer" end
  return type(v) == want
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- Compares a class's entries with a runtime table's keys (`runtime`: name ->
-- value, the metamethods that are not entries already left out). `label`
-- names the runtime side in messages, `sep` joins class and entry names;
-- opts.names_only compares the names alone (an options class against the
-- set of keys accepted); otherwise an optional field may be absent.
function M.compare(ann, class, runtime, label, sep, opts)
  local problems = {}
  local function say(fmt, ...) problems[#problems + 1] = fmt:format(...) end
  local typed = not (opts and opts.names_only)
  for _, k in ipairs(sorted_keys(runtime)) do
    local e, v = class.entries[k], runtime[k]
    local name = class.name .. sep .. k
    if not e then
      say("missing from %s: %s (%s in %s)", ann.file, name, typed and type(v) or "key", label)
    elseif typed and e.kind == "field" and not fits(e.type, v) then
      say("%s:%d: %s is annotated %s but is %s (%s) in %s", ann.file, e.line, name, e.type,
        type(v), tostring(v), label)
    elseif typed and e.kind ~= "field" and type(v) ~= "function" then
      say("%s:%d: %s is annotated as a function but is a %s in %s", ann.file, e.line, name,
        type(v), label)
    end
  end
  for _, k in ipairs(sorted_keys(class.entries)) do
    if runtime[k] == nil and not (typed and class.entries[k].optional) then
      say("stale in %s:%d: %s%s%s (not in %s)", ann.file, class.entries[k].line, class.name, sep,
        k, label)
    end
  end
  return problems
end

-- The parameter names of Lua function f, as the runtime has them.
function M.lua_params(f)
  local info = debug.getinfo(f, "u")
  local names = {}
  for i = 1, info.nparams do names[i] = debug.getlocal(f, i) end
  if info.isvararg then names[#names + 1] = "..." end
  return names
end

-- Each function entry has a description and a @param for each of its
-- parameters, no other; a method's runtime Lua function (when it is Lua)
-- takes the same names, self first.
function M.check_docs(ann, class, runtime, sep)
  local problems = {}
  local function say(e, fmt, ...)
    local where = ("%s:%d: %s%s"):format(ann.file, e.line, class.name, sep)
    problems[#problems + 1] = where .. fmt:format(...)
  end
  for _, name in ipairs(sorted_keys(class.entries)) do
    local e = class.entries[name]
    if e.kind == "function" then
      if not e.desc then say(e, "%s has no description line", name) end
      local declared, doc = table.concat(e.params, ", "), table.concat(e.doc_params, ", ")
      if declared ~= doc then say(e, "%s(%s) has @param for (%s)", name, declared, doc) end
      local f = runtime and runtime[name]
      if type(f) == "function" and debug.getinfo(f, "S").what == "Lua" then
        local want = e.method and "self, " .. declared or declared
        local got = table.concat(M.lua_params(f), ", ")
        if (want:gsub(", $", "")) ~= got then
          say(e, "%s is annotated (%s) but takes (%s)", name, (want:gsub(", $", "")), got)
        end
      end
    end
  end
  return problems
end

return M
