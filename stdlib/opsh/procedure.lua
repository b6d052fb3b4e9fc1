--- opsh.procedure: other procedures, run from a script: `local procedure = require "opsh.procedure"`.
--- A procedure is found as `opsh run NAME` finds it (--path, $OPSH_PATH, ~/.config/opsh/scripts,
--- then the built-ins), so an ejected or local copy is the one run.
local catalog = require "opsh._catalog"
local script = require "opsh.script"

local M = {}

--- The procedure's metadata table (validated), or nil, err.
function M.load(name)
  assert(type(name) == "string", "bad argument #1 to 'load' (string expected)")
  local chunk, where = catalog.load(name)
  if not chunk then return nil, where end
  local ok, meta = pcall(chunk)
  if not ok then return nil, tostring(meta) end
  local vok, verr = pcall(script.validate, meta, name)
  if not vok then return nil, tostring(verr) end
  return meta
end

-- {name = value} -> {"--name=value", ...}, so the procedure's own argument rules type and check them
local function argv(args)
  local out = {}
  for k, v in pairs(args or {}) do
    if v == true then
      out[#out + 1] = "--" .. k
    elseif v == false then
      out[#out + 1] = "--no-" .. k
    elseif type(v) == "table" then
      out[#out + 1] = "--" .. k .. "=" .. table.concat(v, ",")
    else
      out[#out + 1] = "--" .. k .. "=" .. tostring(v)
    end
  end
  table.sort(out)
  return out
end

--- Runs procedure `name` with args ({name = value}, checked and typed by its own argument
--- list, defaults filled in) reporting into ctx, the caller's report: its checks join the
--- caller's. A procedure whose categories say it changes or deletes anything is refused unless
--- opts.allow_changes: the caller's own categories must say so. Returns true, or nil, err
--- when the procedure cannot be loaded or its arguments are wrong; an error inside the
--- procedure is raised as it would be by `opsh run`.
function M.run(name, args, ctx, opts)
  opts = opts or {}
  local meta, err = M.load(name)
  if not meta then return nil, err end
  local safe = false
  for _, c in ipairs(meta.categories) do if c == "safe" then safe = true end end
  if not safe and not opts.allow_changes then
    return nil, name .. " is not a safe procedure: pass allow_changes = true (and say so in your categories)"
  end
  local ok, parsed = pcall(script.parse_args, meta, name, argv(args))
  if not ok then return nil, tostring(parsed) end
  meta.run(parsed, ctx)
  return true
end

return M
