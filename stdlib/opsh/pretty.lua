--- opsh.pretty: readable, nested rendering of Lua values (the REPL prints with it).
local M = {}

local function is_identifier(k)
  return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil
end

local function sorted_keys(t)
  local keys, n = {}, #t
  for k in pairs(t) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    if ta == "number" or ta == "string" then return a < b end
    return tostring(a) < tostring(b)
  end)
  return keys, n
end

local function scalar(v)
  local t = type(v)
  if t == "string" then return string.format("%q", v):gsub("\\\n", "\\n") end
  if t == "number" and math.type(v) == "float" then
    local s = string.format("%.15g", v)
    if tonumber(s) ~= v then s = string.format("%.16g", v) end
    if tonumber(s) ~= v then s = string.format("%.17g", v) end
    if not s:find("[%.eEn]") then s = s .. ".0" end
    return s
  end
  local mt = getmetatable(v)
  if (t == "userdata" or t == "table") and type(mt) == "table" and rawget(mt, "__tostring") then return tostring(v) end
  return tostring(v)
end

--- Formats a value: tables nested and indented, keys sorted, cycles marked <cycle>.
---@param v any
---@param opts? {indent?: string, depth?: integer}
---@return string
function M.format(v, opts)
  opts = opts or {}
  local indent = opts.indent or "  "
  local max_depth = opts.depth or 12
  local out = {}
  local seen = {}
  local function emit(x, level)
    if type(x) ~= "table" then out[#out + 1] = scalar(x); return end
    local mt = getmetatable(x)
    if type(mt) == "table" and rawget(mt, "__tostring") then out[#out + 1] = tostring(x); return end
    if seen[x] then out[#out + 1] = "<cycle>"; return end
    if level >= max_depth then out[#out + 1] = "{...}"; return end
    local keys, n = sorted_keys(x)
    if n == 0 and #keys == 0 then
      local name = type(mt) == "table" and rawget(mt, "__name")
      out[#out + 1] = name and ("{} --[[" .. tostring(name) .. "]]") or "{}"
      return
    end
    seen[x] = true
    local pad = string.rep(indent, level + 1)
    out[#out + 1] = "{\n"
    for i = 1, n do
      out[#out + 1] = pad
      emit(x[i], level + 1)
      out[#out + 1] = ",\n"
    end
    for _, k in ipairs(keys) do
      out[#out + 1] = pad
      if is_identifier(k) then out[#out + 1] = k else
        out[#out + 1] = "["; emit(k, level + 1); out[#out + 1] = "]"
      end
      out[#out + 1] = " = "
      emit(x[k], level + 1)
      out[#out + 1] = ",\n"
    end
    out[#out + 1] = string.rep(indent, level) .. "}"
    seen[x] = nil
  end
  emit(v, 0)
  return table.concat(out)
end

--- Prints each argument formatted (strings as they are), like print.
function M.print(...)
  local parts = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    parts[i] = type(v) == "string" and v or M.format(v)
  end
  io.stdout:write(table.concat(parts, "\t"), "\n")
end

return M
