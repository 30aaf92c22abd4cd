-- Writes a C file embedding Lua modules: lua5.4 tools/embed.lua OUT.c lua/luds/x.lua ...
-- Each file lua/a/b.lua becomes module "a.b"; sources are emitted as byte arrays.
local out_path = assert(arg[1], "usage: embed.lua OUT.c FILE.lua...")

local function module_name(path)
  return (path:gsub("^lua/", ""):gsub("%.lua$", ""):gsub("/", "."))
end

local function bytes(src)
  local parts = {}
  for i = 1, #src, 16 do
    parts[#parts + 1] = "  " .. src:sub(i, i + 15):gsub(".", function(c)
      return string.byte(c) .. ","
    end)
  end
  return table.concat(parts, "\n")
end

local out = { '#include "embedded.h"\n' }
local entries = {}
for i = 2, #arg do
  local f = assert(io.open(arg[i], "rb"))
  local src = f:read("a")
  f:close()
  out[#out + 1] = ("static const char src%d[] = {\n%s\n  0};\n"):format(i, bytes(src))
  entries[#entries + 1] = ('  {"%s", "@%s", src%d, %d},'):format(module_name(arg[i]), arg[i], i, #src)
end
out[#out + 1] = "const embedded_module embedded_modules[] = {\n" .. table.concat(entries, "\n")
  .. "\n  {NULL, NULL, NULL, 0},\n};\n"
local f = assert(io.open(out_path, "wb"))
f:write(table.concat(out, "\n"))
f:close()
