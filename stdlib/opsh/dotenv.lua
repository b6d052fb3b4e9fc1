--- opsh.dotenv: the KEY=VALUE environment files docker-compose reads (.env): read one, and
--- change one variable in place, keeping everything else (comments, order, other variables)
--- byte for byte.
local fs = require "opsh.fs"

local M = {}

-- KEY and the value of a line, or nil for a comment, a blank or anything else
local function parse(line)
  local l = line:gsub("^%s+", ""):gsub("^export%s+", "")
  if l == "" or l:sub(1, 1) == "#" then return nil end
  local k, v = l:match("^([%w_%.]+)%s*=%s*(.*)$")
  if not k then return nil end
  local q = v:sub(1, 1)
  if (q == '"' or q == "'") and #v >= 2 and v:sub(-1) == q then return k, v:sub(2, -2) end
  v = v:gsub("%s+#.*$", ""):gsub("%s+$", "")
  q = v:sub(1, 1)
  if (q == '"' or q == "'") and #v >= 2 and v:sub(-1) == q then v = v:sub(2, -2) end
  return k, v
end

--- The variables of an environment file as {KEY = value} (the last assignment wins), or nil, err.
function M.read(path)
  local text, err = fs.read(path, 1 << 20)
  if not text then return nil, err end
  local vars = {}
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    local k, v = parse(line)
    if k then vars[k] = v end
  end
  return vars
end

-- a value as docker-compose reads it back unchanged
local function quoted(value)
  if value:find("[%s#\"'\\$]") then return '"' .. value:gsub('[\\"$]', "\\%0") .. '"' end
  return value
end

--- Sets KEY=value in the file: every assignment of KEY is replaced (the first keeps its place,
--- later ones are removed), or the line is appended. The file is written atomically with its
--- own permission bits. opts.keep = SUFFIX first copies the file to PATH..SUFFIX. Returns
--- {changed = boolean, kept = path?}, or nil, err.
function M.set(path, key, value, opts)
  opts = opts or {}
  if type(key) ~= "string" or not key:match("^[%a_][%w_%.]*$") then return nil, "not a variable name: " .. tostring(key) end
  if type(value) ~= "string" or value:find("\n", 1, true) then return nil, "the value of " .. key .. " must be one line of text" end
  local st, serr = fs.stat(path)
  if not st then return nil, "cannot read " .. path .. ": " .. tostring(serr) end
  local text, rerr = fs.read(path, 1 << 20)
  if not text then return nil, rerr end
  local out, done, changed = {}, false, false
  local lines = {}
  for line in (text .. (text:sub(-1) == "\n" and "" or "\n")):gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
  for _, line in ipairs(lines) do
    local k, v = parse(line)
    if k == key then
      if not done then
        out[#out + 1] = key .. "=" .. quoted(value)
        done, changed = true, changed or v ~= value
      else
        changed = true
      end
    else
      out[#out + 1] = line
    end
  end
  if not done then out[#out + 1] = key .. "=" .. quoted(value); changed = true end
  local kept
  if opts.keep then
    kept = path .. opts.keep
    local ok, cerr = fs.copy(path, kept)
    if not ok then return nil, "cannot keep a copy as " .. kept .. ": " .. tostring(cerr) end
  end
  local ok, werr = fs.write_atomic(path, table.concat(out, "\n") .. "\n", { mode = st.mode & tonumber("7777", 8) })
  if not ok then return nil, "cannot write " .. path .. ": " .. tostring(werr) end
  return { changed = changed, kept = kept }
end

return M
