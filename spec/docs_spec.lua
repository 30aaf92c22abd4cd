-- doc/ against the runtime (issue 16 item 4): every function and field of
-- the luds, luds.test and luds.creds tables, every method and field of every
-- object kind (spec/apiwalk.lua walks them on live objects) and every
-- declaration of runtime/luds.h has an entry in doc/ and a line in the man
-- page doc/luds.3; every entry names something that exists; every relative
-- link of README.md and doc/*.md resolves, #anchors included; both man pages
-- render without a warning; embedding.md's example program compiles and
-- runs; doc/layout.md names every source file.
--
-- An entry, in doc/*.md, is an inline code span in a heading, or in the
-- first cell of a row of a table whose first column is headed "call" (Lua)
-- or "name" (C), whose text is, exactly:
--   a call:  `luds.listen(...`, `T.tempdir(...`, `conn:read(...` (the name
--            followed by "(")
--   a field: `luds.version`, `ln.kind`, `p.pid`
--   C:       `luds_step` (a heading, its declaration in the ```c block after
--            it), `enum luds_status` (a heading), `LUDS_OK` (a table row)
-- A method's receiver is the name the pages use for its kind (RECEIVERS); a
-- module's prefix is W.MODULES's. In doc/luds.3 an entry is a line
-- `.B luds.listen(network, address [, opts])` (a call) or `.B ln.kind` (a field).
-- Metamethods (__close, __len, __tostring) are no entries: the pages say
-- them in prose (`<close>`, `#ch`, `tostring`), kind by kind.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lu = require "luaunit"
local luds = require "luds"
local H = require "helper"
local T = require "luds.test"
local W = require "apiwalk"

-- The receiver each object kind's methods are documented with.
local RECEIVERS = {
  ["luds.listener"] = "ln", ["luds.conn"] = "conn", ["luds.packetconn"] = "pc",
  ["luds.task"] = "task", ["luds.channel"] = "ch", ["luds.event"] = "ev", ["luds.cond"] = "cv",
  ["luds.semaphore"] = "sem", ["luds.permit"] = "permit", ["luds.group"] = "g",
  ["luds.process"] = "p", ["luds.server"] = "srv",
}

local DOC = H.ROOT .. "/doc"

local function assert_none(problems)
  table.sort(problems)
  if #problems > 0 then lu.fail(#problems .. " problem(s):\n" .. table.concat(problems, "\n")) end
end

local function pages()
  local list = {}
  for name in H.sh("ls " .. H.q(DOC)):gmatch("([%w_.-]+%.md)\n") do
    list[#list + 1] = { file = "doc/" .. name, text = assert(H.slurp(DOC .. "/" .. name)) }
  end
  return list
end

-- The lines of text outside fenced code blocks, as { line =, n = }.
-- A table row also gets `column`, the heading of its table's first column.
local function prose_lines(text)
  local list, fenced, n, column = {}, false, 0, nil
  for line in (text .. "\n"):gmatch("(.-)\n") do
    n = n + 1
    if line:match("^%s*```") then
      fenced = not fenced
    elseif not fenced then
      if not line:match("^|") then
        column = nil
      elseif not column then
        column = line:match("^|%s*([^|]-)%s*|") or ""
      end
      list[#list + 1] = { line = line, n = n, column = column }
    end
  end
  return list
end

-- The code spans of a line that can hold entries: a heading's, or those of
-- a table row's first cell (a `|` inside a span does not end the cell).
local function entry_spans(line, column)
  local from
  if line:match("^#+%s") then
    from = line
  elseif (column == "call" or column == "name") and line:match("^| ")
      and not line:match("^| %-%-%-") then
    local cell, i, code = {}, 2, false
    while i <= #line do
      local ch = line:sub(i, i)
      if ch == "`" then code = not code end
      if ch == "|" and not code and line:sub(i - 1, i - 1) ~= "\\" then break end
      cell[#cell + 1] = ch
      i = i + 1
    end
    from = table.concat(cell)
  else
    return {}
  end
  local spans = {}
  for s in from:gmatch("`([^`]+)`") do spans[#spans + 1] = s end
  return spans
end

-- What a span documents: "call", qualifier, separator, name; or "field", ...
local function lua_name(span)
  local q, sep, name = span:match("^([%a_][%w_]*)([.:])([%a_][%w_]*)%(")
  if q then return "call", q, sep, name end
  q, name = span:match("^([%a_][%w_]*)%.([%a_][%w_]*)$")
  if q then return "field", q, ".", name end
end

-- Every name the runtime has, keyed "luds.listen" / "conn:read" / "ln.kind",
-- each { what = "call"|"field", label = where it was found }; and the kinds.
local function runtime_names(dir)
  local names = {}
  for _, m in ipairs(W.MODULES) do
    for k, v in pairs(require(m.name)) do
      local what = type(v) == "function" and "call" or "field"
      names[m.prefix .. "." .. k] = { what = what, label = 'require "' .. m.name .. '"' }
    end
  end
  local kinds, problems = W.runtime_kinds(dir), {}
  for kname, kind in pairs(kinds) do
    local recv = RECEIVERS[kname]
    if not recv then
      problems[#problems + 1] = ("%s has no receiver name in RECEIVERS"):format(kind.label)
    else
      for k, v in pairs(W.entries_of(kind.mt)) do
        if not k:match("^__") then
          local call = type(v) == "function"
          names[recv .. (call and ":" or ".") .. k] =
            { what = call and "call" or "field", label = kind.label }
        end
      end
    end
  end
  return names, kinds, problems
end

-- Whether `recv.field` is a field a live object of that kind has (the fields
-- a C __index gives, as a process's pid, are not in any table); taken on
-- trust where the kind could not be made (no pidfd_open under valgrind).
local function object_field(kinds, q, name)
  for kname, recv in pairs(RECEIVERS) do
    local kind = kinds[kname]
    if recv == q and kind and (kind.absent or kind.object and kind.object[name] ~= nil) then
      return true
    end
  end
  return false
end

-- The Lua entries of doc/*.md: key -> { what, at = "file:line" } (the first).
local function doc_entries()
  local found = {}
  for _, page in ipairs(pages()) do
    for _, l in ipairs(prose_lines(page.text)) do
      for _, span in ipairs(entry_spans(l.line, l.column)) do
        local what, q, sep, name = lua_name(span)
        if what then
          local key = q .. sep .. name
          found[key] = found[key] or { what = what, at = page.file .. ":" .. l.n }
        end
      end
    end
  end
  return found
end

-- The Lua entries of doc/luds.3, the same way.
local function man_entries()
  local found, n = {}, 0
  for line in assert(H.slurp(DOC .. "/luds.3")):gmatch("([^\n]*)\n") do
    n = n + 1
    local span = line:match("^%.B (.+)$")
    local what, q, sep, name = lua_name(span and span:gsub('^"', "") or "")
    if what then
      local key = q .. sep .. name
      found[key] = found[key] or { what = what, at = "doc/luds.3:" .. n }
    end
  end
  return found
end

local function is_module(q)
  for _, m in ipairs(W.MODULES) do if m.prefix == q then return true end end
  return false
end

local function is_receiver(q)
  for _, recv in pairs(RECEIVERS) do if recv == q then return true end end
  return false
end

local function is_prefix(q) return is_module(q) or is_receiver(q) end

-- What is documented in found but does not exist, or as the wrong thing.
local function stale(found, names, kinds, where)
  local problems = {}
  for key, e in pairs(found) do
    local q, name = key:match("^([%w_]+)[.:]([%w_]+)$")
    local has = names[key]
    if is_prefix(q) then
      if e.what == "field" and not has and object_field(kinds, q, name) then
        has = { what = "field" }
      end
      if not has then
        problems[#problems + 1] = ("stale in %s: %s (no such %s)"):format(e.at, key,
          e.what == "call" and "function" or "field")
      elseif has.what ~= e.what then
        problems[#problems + 1] = ("wrong in %s: %s is a %s, documented as a %s"):format(e.at, key,
          has.what == "call" and "function" or "field", e.what == "call" and "call" or "field")
      end
    elseif e.what == "call" then
      problems[#problems + 1] = ("unknown in %s: %s (the receiver %s is no module or kind's; %s)")
        :format(e.at, key, q, where)
    end
  end
  return problems
end

local function missing(found, names, where)
  local problems = {}
  for key, n in pairs(names) do
    if not found[key] then
      problems[#problems + 1] = ("missing from %s: %s (%s in %s)"):format(where, key,
        n.what == "call" and "function" or "field", n.label)
    end
  end
  return problems
end

-- runtime/luds.h: { name = { what = "function"|"macro"|"constant"|"type", decl = } }.
local function header()
  local src = assert(H.slurp(H.ROOT .. "/runtime/luds.h"))
  local decls = {}
  for decl, name in src:gmatch("\n(LUDS_API [^;(]-([%w_]+)%([^;]*%);)") do
    decls[name] = { what = "function", decl = decl:gsub("%s+", " ") }
  end
  for name in src:gmatch("\n#define ([%w_]+)") do
    if name ~= "LUDS_H" then decls[name] = { what = "macro" } end
  end
  for name, body in src:gmatch("\nenum ([%w_]+) (%b{})") do
    decls["enum " .. name] = { what = "type" }
    for c in body:gmatch("([%u_]+) = %d+") do decls[c] = { what = "constant" } end
  end
  return decls
end

-- embedding.md's C entries: name -> { at =, heading = true|nil, body = the
-- text up to the next heading }.
local function c_entries()
  local text = assert(H.slurp(DOC .. "/embedding.md"))
  local prose = {}
  for _, l in ipairs(prose_lines(text)) do prose[l.n] = l end
  local found, current, n = {}, nil, 0
  for line in (text .. "\n"):gmatch("(.-)\n") do
    n = n + 1
    local l = prose[n]
    if l and line:match("^#") then current = nil end
    if current then current.body = current.body .. line .. "\n" end
    local name = l and line:match("^###+ `([%w_ ]+)`$")
    if name then
      current = { at = "doc/embedding.md:" .. n, heading = true, body = "" }
      found[name] = found[name] or current
    elseif l and line:match("^| `") then
      for _, span in ipairs(entry_spans(line, l.column)) do
        if span:match("^[%u_]+$") then found[span] = found[span] or { at = "doc/embedding.md:" .. n } end
      end
    end
  end
  return found
end

-- GitHub's anchor of a heading: the text as shown (no backticks, link
-- targets or emphasis), lower case, with punctuation (but - and _) dropped
-- and each space a -; a repeated anchor gets -1, -2...
local PUNCT_UTF8 = { "\226\128\148", "\226\128\147", "\226\128\166", "\195\151", "\226\128\153" }
local function anchor(heading)
  local s = heading:gsub("%[([^%]]*)%]%b()", "%1"):gsub("[`*]", ""):lower()
  for _, p in ipairs(PUNCT_UTF8) do s = s:gsub(p, "") end
  s = s:gsub("[^%w_%- \128-\255]", "")
  return (s:gsub(" ", "-"))
end

local function anchors(text)
  local set, seen = {}, {}
  for _, l in ipairs(prose_lines(text)) do
    local h = l.line:match("^#+%s+(.-)%s*$")
    if h then
      local a = anchor(h)
      if seen[a] then
        seen[a] = seen[a] + 1
        a = a .. "-" .. seen[a]
      else
        seen[a] = 0
      end
      set[a] = true
    end
  end
  return set
end

-- "doc/../README.md" -> "README.md"
local function normalize(path)
  local parts = {}
  for p in path:gmatch("[^/]+") do
    if p == ".." then parts[#parts] = nil elseif p ~= "." then parts[#parts + 1] = p end
  end
  return table.concat(parts, "/")
end

-- The problems of the relative links of file (a path from the root).
local function link_problems(file, text)
  local problems = {}
  local dir = file:match("^(.*)/[^/]*$")
  for _, l in ipairs(prose_lines(text)) do
    local line = l.line:gsub("`[^`]*`", "")
    for target in line:gmatch("%]%(([^)%s]+)%)") do
      if not target:match("^%a[%w+.-]*:") then
        local path, frag = target:match("^([^#]*)#?(.*)$")
        local rel = path == "" and file or normalize((dir and dir .. "/" or "") .. path)
        local at = ("%s:%d: %s"):format(file, l.n, target)
        local content = H.slurp(H.ROOT .. "/" .. rel)
        if not H.exists(H.ROOT .. "/" .. rel) then
          problems[#problems + 1] = at .. " (no such file)"
        elseif frag ~= "" and rel:match("%.md$") and not anchors(content)[frag] then
          problems[#problems + 1] = at .. " (no such heading)"
        end
      end
    end
  end
  return problems
end

TestDocs = H.suite()

function TestDocs:test_every_function_and_field_has_an_entry_in_doc()
  local names, _, problems = runtime_names(self.dir)
  local found = doc_entries()
  for _, p in ipairs(missing(found, names, "doc/")) do problems[#problems + 1] = p end
  assert_none(problems)
  lu.assertNotNil(found["luds.listen"])
  lu.assertNotNil(found["conn:read_line"])
end

function TestDocs:test_every_entry_in_doc_exists()
  local names, kinds = runtime_names(self.dir)
  assert_none(stale(doc_entries(), names, kinds, "add it to RECEIVERS or fix the name"))
end

-- Outside entries too, a call of luds.x or of a method of a known receiver
-- anywhere in prose must be one that exists: a renamed function leaves none behind.
function TestDocs:test_every_call_named_in_prose_exists()
  local names, kinds = runtime_names(self.dir)
  local problems = {}
  local files = pages()
  files[#files + 1] = { file = "README.md", text = assert(H.slurp(H.ROOT .. "/README.md")) }
  for _, page in ipairs(files) do
    for _, l in ipairs(prose_lines(page.text)) do
      for span in l.line:gmatch("`([^`]+)`") do
        for q, sep, name in span:gmatch("([%a_][%w_]*)([.:])([%a_][%w_]*)%(") do
          local key = q .. sep .. name
          local checked = sep == ":" and is_receiver(q) or sep == "." and is_module(q)
          if checked and not (names[key] and names[key].what == "call") then
            problems[#problems + 1] = ("%s:%d: %s is no function of %s"):format(page.file, l.n,
              key, q)
          end
        end
      end
    end
  end
  assert_none(problems)
  lu.assertNotNil(kinds["luds.conn"])
end

function TestDocs:test_every_function_and_field_has_a_line_in_luds_3()
  local names, kinds, problems = runtime_names(self.dir)
  local found = man_entries()
  for _, p in ipairs(missing(found, names, "doc/luds.3")) do problems[#problems + 1] = p end
  for _, p in ipairs(stale(found, names, kinds, "in doc/luds.3")) do problems[#problems + 1] = p end
  assert_none(problems)
end

function TestDocs:test_every_declaration_of_luds_h_has_an_entry()
  local decls, found, problems = header(), c_entries(), {}
  for name, d in pairs(decls) do
    local e = found[name]
    if not e then
      problems[#problems + 1] = ("missing from doc/embedding.md: %s (a %s of runtime/luds.h)")
        :format(name, d.what)
    elseif d.what == "function" then
      local body = e.body and e.body:gsub("%s+", " ") or ""
      if not e.heading then
        problems[#problems + 1] = ("%s: %s needs a heading of its own"):format(e.at, name)
      elseif not body:find(d.decl, 1, true) then
        problems[#problems + 1] = ("%s: the declaration of %s is not luds.h's: %s"):format(e.at,
          name, d.decl)
      end
      for param in d.decl:match("%((.*%))"):gmatch("([%w_]+)%s*[,)]") do
        if param ~= "L" and param ~= "void" and not (body:find("`" .. param .. "`", 1, true)
            or body:find("`*" .. param .. "`", 1, true)) then
          problems[#problems + 1] = ("%s: %s's parameter %s is not described (as `%s`)")
            :format(e.at, name, param, param)
        end
      end
    end
  end
  for name, e in pairs(found) do
    if not decls[name] then
      problems[#problems + 1] = ("stale in %s: %s (not in runtime/luds.h)"):format(e.at, name)
    end
  end
  assert_none(problems)
  lu.assertEquals(decls.luds_step.decl, "LUDS_API int luds_step(lua_State *L, int timeout_ms, int *code);")
  lu.assertEquals(decls.LUDS_EXIT.what, "constant")
end

-- The entry rules catch what they are for: a misspelt entry is stale and
-- leaves its function missing; a heading's anchor follows GitHub's rule.
function TestDocs:test_the_rules_catch_a_typo()
  local what, q, sep, name = lua_name("conn:raed_line()")
  lu.assertEquals({ what, q, sep, name }, { "call", "conn", ":", "raed_line" })
  local names, kinds = runtime_names(self.dir)
  local found = { ["conn:raed_line"] = { what = "call", at = "x.md:1" } }
  lu.assertEquals(stale(found, names, kinds, "-"),
    { "stale in x.md:1: conn:raed_line (no such function)" })
  local gaps = missing(found, { ["conn:read_line"] = names["conn:read_line"] }, "doc/")
  lu.assertEquals(gaps, { "missing from doc/: conn:read_line (function in the metatable luds.conn)" })
  lu.assertEquals(stale({ ["ln.kind"] = { what = "call", at = "y.md:2" } }, names, kinds, "-"),
    { "wrong in y.md:2: ln.kind is a field, documented as a call" })
  lu.assertEquals(entry_spans("| `a:b(x \\| y)`, `c.d` | `not.this()` |", "call"),
    { "a:b(x \\| y)", "c.d" })
  lu.assertEquals(entry_spans("| `a:b()` | |", "promise"), {})
  lu.assertEquals(entry_spans("text `luds.x()`", "call"), {})
  lu.assertEquals(prose_lines("| call | |\n| --- | --- |\n| `x` | |\n\n| code |\n")[3].column, "call")
  lu.assertEquals(anchor("Channels, select and synchronisation"), "channels-select-and-synchronisation")
  lu.assertEquals(anchor("`luds_step`"), "luds_step")
  lu.assertEquals(anchor("1. A script server"), "1-a-script-server")
  lu.assertEquals(anchor("A five-minute tour — [links](x.md)"), "a-five-minute-tour--links")
  lu.assertEquals(anchors("# A\n## A\n```\n# not\n```\n## A"), { a = true, ["a-1"] = true, ["a-2"] = true })
end

function TestDocs:test_every_relative_link_resolves()
  local problems = link_problems("README.md", assert(H.slurp(H.ROOT .. "/README.md")))
  for _, page in ipairs(pages()) do
    for _, p in ipairs(link_problems(page.file, page.text)) do problems[#problems + 1] = p end
  end
  assert_none(problems)
  lu.assertEquals(link_problems("doc/x.md", "[a](sockets.md#no-such-heading) [b](nofile.md)"
    .. " [c](#nothing) [d](../README.md#a-five-minute-tour) `[e](no.md)`"),
    { "doc/x.md:1: sockets.md#no-such-heading (no such heading)",
      "doc/x.md:1: nofile.md (no such file)", "doc/x.md:1: #nothing (no such file)" })
end

-- The keys a function's options check accepts (from the error it raises).
local function accepted(f)
  local ok, err = pcall(f)
  lu.assertFalse(ok)
  local set = {}
  for k in assert(tostring(err):match("accepted: ([%w_, ]+)"), err):gmatch("[%w_]+") do set[k] = true end
  return set
end

-- sockets.md's table of options names, for listen, listen_packet and dial,
-- exactly the keys each accepts.
function TestDocs:test_the_options_table_is_what_each_function_accepts()
  local path = self.dir .. "/o.sock"
  local want = {
    listen = accepted(function() return luds.listen("unix", path, { bogus = 1 }) end),
    listen_packet = accepted(function() return luds.listen_packet("unixgram", path, { bogus = 1 }) end),
    dial = accepted(function() return luds.dial("unix", path, { bogus = 1 }) end),
  }
  local got = { listen = {}, listen_packet = {}, dial = {} }
  for _, l in ipairs(prose_lines(assert(H.slurp(DOC .. "/sockets.md")))) do
    if l.column == "option" and l.line:match("^| `") then
      local first, second = l.line:match("^|([^|]*)|([^|]*)|")
      for f in second:gmatch("[%w_]+") do
        if got[f] then
          for key in first:gmatch("`([%w_]+)`") do got[f][key] = true end
        end
      end
    end
  end
  lu.assertEquals(got, want)
end

-- Codes of runtime/lerror.c's table that no script gets as a triple.
local INTERNAL_CODES = { DEADLOCK = "the scheduler's verdict, reported as a message (luds_run)" }

-- Every code of luds's own (lerror.c's table, less errno names) has a row
-- in the table of sockets.md's Errors section, and every row there is a code.
function TestDocs:test_every_code_of_luds_own_is_explained()
  local src = assert(H.slurp(H.ROOT .. "/runtime/lerror.c"))
  local errnos = {}
  for name in H.sh("python3 -c 'import errno; print(\" \".join(errno.errorcode.values()))'")
      :gmatch("[%u%d]+") do
    errnos[name] = true
  end
  lu.assertTrue(errnos.ENOENT and errnos.EISCONN, "python3's errno names")
  local codes = {}
  for code in src:gmatch("{LERR_[%u_]+, \"([%u_]+)\",") do
    if not errnos[code] and not INTERNAL_CODES[code] then codes[code] = true end
  end
  lu.assertTrue(codes.TIMEOUT and codes.ENOTFOUND and codes.SIGNALED)
  local text = assert(H.slurp(DOC .. "/sockets.md"))
  local section = assert(text:match("\n## Errors\n(.-)\n## "))
  local rows, problems = {}, {}
  for _, l in ipairs(prose_lines(section)) do
    if l.column == "code" and l.line:match("^| `") then
      for _, span in ipairs(entry_spans(l.line, "call")) do rows[span] = true end
    end
  end
  for code in pairs(codes) do
    if not rows[code] then
      problems[#problems + 1] = "doc/sockets.md's Errors table has no row for " .. code
    end
  end
  for code in pairs(rows) do
    if not codes[code] then
      problems[#problems + 1] = "doc/sockets.md's Errors table explains " .. code
        .. ", which is no code of runtime/lerror.c's own"
    end
  end
  assert_none(problems)
end

-- README's table links every page of doc/.
function TestDocs:test_readme_links_every_page()
  local readme = assert(H.slurp(H.ROOT .. "/README.md"))
  local problems = {}
  local list = pages()
  for _, page in ipairs(list) do
    if not readme:find("\n| [" .. page.file .. "](" .. page.file .. ") |", 1, true) then
      problems[#problems + 1] = "README.md's table of pages has no row for " .. page.file
    end
  end
  assert_none(problems)
  lu.assertTrue(#list >= 10)
end

-- doc/layout.md names every C file of runtime/, every Lua module and every
-- directory at the top, and names no runtime file that is gone.
function TestDocs:test_layout_names_every_file()
  local text = assert(H.slurp(DOC .. "/layout.md"))
  local problems = {}
  local function need(name, where)
    if not text:find("`" .. name .. "`", 1, true) then
      problems[#problems + 1] = ("missing from doc/layout.md: `%s` (%s)"):format(name, where)
    end
  end
  for f in H.sh("cd " .. H.q(H.ROOT) .. " && ls runtime/*.c"):gmatch("runtime/([%w_]+%.c)\n") do
    need(f, "runtime/")
  end
  for f in H.sh("cd " .. H.q(H.ROOT) .. " && ls lua/luds"):gmatch("([%w_]+%.lua)\n") do
    need(f, "lua/luds/")
  end
  for d in H.sh("cd " .. H.q(H.ROOT) .. " && git ls-files | sed -n 's|/.*||p' | sort -u")
      :gmatch("([%w_.-]+)\n") do
    need(d .. "/", "a directory")
  end
  for f in text:gmatch("\n| `([%w_]+%.[ch])` |") do
    if not H.exists(H.ROOT .. "/runtime/" .. f) then
      problems[#problems + 1] = ("stale in doc/layout.md: %s (no runtime/%s)"):format(f, f)
    end
  end
  assert_none(problems)
end

function TestDocs:test_man_pages_render_without_warnings()
  for _, page in ipairs({ "luds.1", "luds.3" }) do
    local out, status = H.sh("groff -man -ww -z " .. H.q(DOC .. "/" .. page) .. " 2>&1")
    lu.assertEquals({ out, status }, { "", 0 }, "groff -man -ww -z doc/" .. page)
  end
  local out = H.sh("groff -man -Tascii -P-cbou " .. H.q(DOC .. "/luds.3"))
  lu.assertStrContains(out, "luds.listen(network, address [, opts])")
end

function TestDocs:test_the_example_program_of_embedding_md_runs()
  local text = assert(H.slurp(DOC .. "/embedding.md"))
  local program = text:match("\n## An example program\n.-\n```c\n(.-)```\n")
  lu.assertNotNil(program, "embedding.md has no ```c block under ## An example program")
  local src, exe = self.dir .. "/host.c", self.dir .. "/host"
  H.spit(src, program)
  local cc = ("cc -std=c11 -Wall -Wextra -Werror $(pkg-config --cflags lua5.4) -I%s %s %s"
    .. " $(pkg-config --libs lua5.4) -lm -ldl -pthread -o %s 2>&1"):format(H.q(H.ROOT .. "/runtime"),
    H.q(src), H.q(H.ROOT .. "/build/libluds.a"), H.q(exe))
  local out, status = H.sh(cc)
  lu.assertEquals({ out, status }, { "", 0 }, cc)
  local stdout, stderr, code = H.exec(H.q(exe))
  lu.assertEquals({ stdout, stderr, code }, { "hello host: 42\n", "", 0 })
end

luds.exit(T.run())
