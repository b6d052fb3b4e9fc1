--- opsh.script: the script format of docs/ARCHITECTURE.md §4: metadata validation,
--- typed arguments and per-script help. The engine uses it; custom tools may too.
local M = {}

local CATEGORY_KINDS = { safe = true, intrusive = true, destructive = true }
local ARG_TYPES = { string = true, number = true, integer = true, boolean = true, list = true }
local FIELDS = {
  description = "string", categories = "table", guide = "table", args = "table",
  run = "function", author = "string", examples = "table", notes = "string", window = "string",
  -- "group": `--target GROUP` runs it once for the whole group (opsh.fleet), not per member
  targets = "string",
}
-- the guide's maintenance windows (Sources/Schedule/MaintenanceWindow.swift)
local WINDOWS = { daily = true, weekly = true, monthly = true, quarterly = true }

local function fail(name, msg)
  error(string.format("script %s: %s", name, msg), 0)
end

--- Validates a script's metadata table; raises "script NAME: field ..." on the first problem.
---@param meta table
---@param name string
---@return table meta
function M.validate(meta, name)
  if type(meta) ~= "table" then
    fail(name, "must return a table with description, categories and run (got " .. type(meta) .. ")")
  end
  for k, v in pairs(meta) do
    local want = FIELDS[k]
    if not want then fail(name, string.format("unknown field '%s'", tostring(k))) end
    if type(v) ~= want then
      fail(name, string.format("field '%s' must be a %s, got %s", k, want, type(v)))
    end
  end
  if meta.description == nil or meta.description == "" then fail(name, "field 'description' is required") end
  if meta.run == nil then fail(name, "field 'run' is required (a function(args, ctx))") end
  if meta.targets ~= nil and meta.targets ~= "group" then fail(name, "field 'targets' must be \"group\" (or absent)") end
  meta.categories = meta.categories or {}
  local kinds = 0
  for i, c in ipairs(meta.categories) do
    if type(c) ~= "string" then fail(name, string.format("field 'categories'[%d] must be a string", i)) end
    if CATEGORY_KINDS[c] then kinds = kinds + 1 end
  end
  if #meta.categories ~= M.count(meta.categories) then fail(name, "field 'categories' must be a list") end
  if kinds == 0 then
    fail(name, "field 'categories' must include one of safe, intrusive, destructive")
  end
  if meta.window ~= nil then
    if not WINDOWS[meta.window] then
      fail(name, string.format("field 'window' must be one of daily, weekly, monthly, quarterly, got '%s'", meta.window))
    end
    if not (M.has_category(meta, "intrusive") or M.has_category(meta, "destructive")) then
      fail(name, "field 'window' is for intrusive or destructive procedures")
    end
  end
  for i, g in ipairs(meta.guide or {}) do
    if type(g) ~= "string" then fail(name, string.format("field 'guide'[%d] must be a string", i)) end
  end
  local seen = {}
  for i, a in ipairs(meta.args or {}) do
    local where = string.format("field 'args'[%d]", i)
    if type(a) ~= "table" then fail(name, where .. " must be a table") end
    if type(a.name) ~= "string" or not a.name:match("^[%a_][%w_%-]*$") then
      fail(name, where .. ".name must be an identifier")
    end
    if seen[a.name] then fail(name, where .. string.format(": argument '%s' declared twice", a.name)) end
    seen[a.name] = true
    a.type = a.type or (a.default ~= nil and M.typeof(a.default)) or "string"
    if not ARG_TYPES[a.type] then
      fail(name, string.format("%s.type '%s' is not one of string, number, integer, boolean, list", where, tostring(a.type)))
    end
    if a.default ~= nil and M.coerce(a, a.default) == nil then
      fail(name, string.format("%s.default does not match type %s", where, a.type))
    end
    if a.choices ~= nil and type(a.choices) ~= "table" then fail(name, where .. ".choices must be a list") end
    for k in pairs(a) do
      if not ({ name = 1, type = 1, default = 1, help = 1, required = 1, choices = 1 })[k] then
        fail(name, string.format("%s has unknown field '%s'", where, tostring(k)))
      end
    end
  end
  return meta
end

function M.count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

function M.typeof(v)
  local t = type(v)
  if t == "number" then return math.type(v) == "integer" and "integer" or "number" end
  if t == "table" then return "list" end
  return t
end

--- Converts a command-line string (or a default) to the argument's type; nil if it does not fit.
function M.coerce(a, v)
  local t = a.type
  if t == "string" then return type(v) == "string" and v or nil end
  if t == "number" then return tonumber(v) end
  if t == "integer" then
    local n = tonumber(v)
    return n and math.tointeger(n)
  end
  if t == "boolean" then
    if type(v) == "boolean" then return v end
    if v == "true" or v == "yes" or v == "1" then return true end
    if v == "false" or v == "no" or v == "0" then return false end
    return nil
  end
  if t == "list" then
    if type(v) == "table" then return v end
    local out = {}
    for item in tostring(v):gmatch("[^,]+") do out[#out + 1] = item end
    return out
  end
end

-- opsh's own flags (opsh [FLAGS] run NAME [SCRIPT ARGS]), with whether each takes a value
local OPSH_FLAGS = {
  json = false, prom = false, ["dry-run"] = false, verbose = false, yes = false, color = false,
  ["no-color"] = false, timeout = true, ["max-memory"] = true, config = true, ["env-file"] = true,
  set = true, path = true,
}

local function shell_word(s)
  if s:match("^[%w%./_:=,@%%+-]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- The command line that does what was meant when opsh's flags came after the script name:
-- every one the script does not take moves before `run`, with its value.
local function flags_moved(ref, argv, specs)
  local flags, rest = {}, {}
  local i = 1
  while i <= #argv do
    local w = argv[i]
    local key, inline = w:match("^%-%-([^=]+)(=?)")
    if key and OPSH_FLAGS[key] ~= nil and not specs[key] and not specs[key:gsub("%-", "_")] then
      flags[#flags + 1] = shell_word(w)
      if OPSH_FLAGS[key] and inline == "" and argv[i + 1] then
        i = i + 1
        flags[#flags + 1] = shell_word(argv[i])
      end
    else
      rest[#rest + 1] = shell_word(w)
    end
    i = i + 1
  end
  local line = "opsh " .. table.concat(flags, " ") .. " run " .. shell_word(ref)
  if #rest > 0 then line = line .. " " .. table.concat(rest, " ") end
  return line
end

local function argument_error(ref, msg)
  error(string.format("%s (see: opsh help %s)", msg, shell_word(ref)), 0)
end

--- Parses `--name value`, `--name=value`, `--flag`, `--no-flag` against meta.args.
--- Returns the typed args table, or nil and "help" when --help was given. `ref` is how a
--- command line names the script (its path when run from a file; default `name`).
function M.parse_args(meta, name, argv, ref)
  ref = ref or name
  local specs = {}
  for _, a in ipairs(meta.args or {}) do specs[a.name] = a end
  local args, i = {}, 1
  while i <= #argv do
    local word = argv[i]
    if word == "--help" or word == "-h" then return nil, "help" end
    local key, value = word:match("^%-%-([^=]+)=(.*)$")
    if not key then key = word:match("^%-%-(.+)$") end
    if not key then argument_error(ref, string.format("unexpected argument '%s': script arguments are --name value", word)) end
    local spec = specs[key] or specs[key:gsub("%-", "_")]
    local negated = false
    if not spec and key:match("^no%-") then
      spec = specs[key:sub(4)] or specs[key:sub(4):gsub("%-", "_")]
      negated = spec ~= nil and spec.type == "boolean"
      if not negated then spec = nil end
    end
    if not spec and OPSH_FLAGS[key] ~= nil then
      error(string.format("unknown argument --%s for script %s: --%s is a flag of opsh, and opsh's flags go before `run`: %s",
        key, name, key, flags_moved(ref, argv, specs)), 0)
    end
    if not spec then argument_error(ref, string.format("unknown argument --%s for script %s", key, name)) end
    if spec.type == "boolean" and value == nil then
      local nxt = argv[i + 1]
      if nxt == "true" or nxt == "false" then value = nxt; i = i + 1 else value = not negated end
    elseif value == nil then
      value = argv[i + 1]
      if value == nil then argument_error(ref, string.format("argument --%s needs a value", key)) end
      i = i + 1
    end
    local typed = M.coerce(spec, value)
    if typed == nil then
      argument_error(ref, string.format("argument --%s must be %s %s, got '%s'", spec.name,
        spec.type == "integer" and "an" or "a", spec.type, tostring(value)))
    end
    if spec.choices then
      local ok = false
      for _, c in ipairs(spec.choices) do if c == typed then ok = true end end
      if not ok then
        argument_error(ref, string.format("argument --%s must be one of %s, got '%s'", spec.name,
          table.concat(spec.choices, ", "), tostring(value)))
      end
    end
    if spec.type == "list" and args[spec.name] then
      -- a list argument given again adds to it: --file a.log --file 'b*.log'
      for _, item in ipairs(typed) do table.insert(args[spec.name], item) end
    else
      args[spec.name] = typed
    end
    i = i + 1
  end
  for _, a in ipairs(meta.args or {}) do
    if args[a.name] == nil then
      if a.default ~= nil then args[a.name] = M.coerce(a, a.default)
      elseif a.required then argument_error(ref, string.format("argument --%s is required", a.name)) end
    end
  end
  return args
end

--- The help text of a script: description, categories, guide sections, arguments.
function M.help(meta, name)
  local out = { string.format("%s: %s", name, meta.description) }
  out[#out + 1] = "categories: " .. table.concat(meta.categories or {}, ", ")
  if meta.guide and #meta.guide > 0 then
    -- the items by their section and text (opsh.guide_items), an id the inventory lacks as it is
    local ok, inventory = pcall(require, "opsh.guide_items")
    local by_id = {}
    for _, it in ipairs(ok and inventory.items or {}) do by_id[it.id] = it end
    local sections, texts = {}, {}
    for _, id in ipairs(meta.guide) do
      local it = by_id[id]
      local section = it and it.section or "(not in the guide's inventory)"
      if not texts[section] then sections[#sections + 1] = section; texts[section] = {} end
      table.insert(texts[section], it and string.format("%s [%s]", it.text, id) or id)
    end
    for i, section in ipairs(sections) do
      out[#out + 1] = (i == 1 and "guide: " or "       ") .. section .. ": " .. table.concat(texts[section], "; ")
    end
  end
  if meta.window then out[#out + 1] = "maintenance window: " .. meta.window .. " (outside it only with --force)" end
  if meta.notes then out[#out + 1] = "\n" .. meta.notes end
  out[#out + 1] = "\nusage: opsh run " .. name .. (meta.args and #meta.args > 0 and " [arguments]" or "")
  if meta.args and #meta.args > 0 then
    out[#out + 1] = "\narguments:"
    for _, a in ipairs(meta.args) do
      local flag = a.type == "boolean" and string.format("--%s / --no-%s", a.name, a.name)
        or string.format("--%s <%s>", a.name, a.type)
      local extra = {}
      if a.default ~= nil then
        extra[#extra + 1] = "default " .. (type(a.default) == "table" and table.concat(a.default, ",") or tostring(a.default))
      end
      if a.required then extra[#extra + 1] = "required" end
      if a.choices then extra[#extra + 1] = "one of " .. table.concat(a.choices, ", ") end
      out[#out + 1] = string.format("  %-28s %s%s", flag, a.help or "",
        #extra > 0 and (" (" .. table.concat(extra, "; ") .. ")") or "")
    end
  end
  if meta.examples then
    out[#out + 1] = "\nexamples:"
    for _, e in ipairs(meta.examples) do out[#out + 1] = "  " .. e end
  end
  return table.concat(out, "\n") .. "\n"
end

function M.has_category(meta, c)
  for _, x in ipairs(meta.categories or {}) do if x == c then return true end end
  return false
end

return M
