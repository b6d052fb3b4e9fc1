--- `opsh run --target GROUP NAME`: a procedure run once per member of a named group of targets
--- from the configuration, the members concurrently (at most `targets_concurrency`, default 8,
--- at a time), in one report grouped by member with the worst exit code. Internal: the engine
--- calls it.
---
--- config.lua:
---   targets = { prod = { redis = { "redis://a:6379", cache = "redis://b:6379" },
---                        qdrant = { "http://q1:6333", "http://q2:6333" },
---                        docker = { "unix:///var/run/docker.sock", "tcp://h2:2375" } } }
--- Members are a list (named by their URL) or name = URL pairs. Which list a procedure takes is
--- its area: redis/ and queue/ procedures the redis list, qdrant/ the qdrant list, docker/ and
--- services/ the docker list. Each member's URL is given to the procedure as its --url argument
--- (--host for docker); a procedure with neither cannot run per target.
---
--- A procedure whose meta says `targets = "group"` (qdrant/snapshot: one backup of every node)
--- runs once for the whole group instead: args.targets = { {name=, url=}, ... } and args.target =
--- the group's name; its report is the usual single one.
local M = {}

local config = require "opsh.config"
local report = require "opsh.report"
local opsh = require "opsh"
local host = require "opsh._host"

local AREAS = { redis = "redis", queue = "redis", qdrant = "qdrant", docker = "docker", services = "docker" }

--- The members of `group` for procedure `name`: { {name=, url=}, ... } sorted by name, or nil, why.
function M.members(group, name)
  local targets = config.get("targets")
  if type(targets) ~= "table" then return nil, "no targets in the configuration (targets = { " .. group .. " = { redis = {...} } } in config.lua)" end
  local g = targets[group]
  if type(g) ~= "table" then
    local names = {}
    for k in pairs(targets) do names[#names + 1] = tostring(k) end
    table.sort(names)
    return nil, string.format("no target group %q (groups: %s)", group, #names > 0 and table.concat(names, ", ") or "none")
  end
  local area = AREAS[name:match("^([%w_-]+)/") or ""]
  if not area then return nil, name .. " belongs to no target area (redis/, queue/, qdrant/, docker/, services/)" end
  local list = g[area]
  if type(list) ~= "table" then return nil, string.format("target group %q has no %s members", group, area) end
  local out = {}
  for k, v in pairs(list) do
    if type(v) ~= "string" then return nil, string.format("targets.%s.%s: member %s is not a URL string", group, area, tostring(k)) end
    out[#out + 1] = { name = type(k) == "number" and v or tostring(k), url = v, order = type(k) == "number" and k or math.huge }
  end
  table.sort(out, function(a, b) if a.order ~= b.order then return a.order < b.order end return a.name < b.name end)
  if #out == 0 then return nil, string.format("target group %q has no %s members", group, area) end
  return out, nil, area
end

--- The argument a member's URL goes to, or nil.
local function url_argument(meta, area)
  local names = {}
  for _, a in ipairs(meta.args or {}) do names[a.name] = true end
  if names.url then return "url" end
  if area == "docker" and names.host then return "host" end
  return nil
end

--- Runs `meta` once per member; prints the grouped report; returns the worst exit code.
--- engine: { build = function(ctx, err) -> report, emit = function(report, flags) }
function M.run(name, meta, args, flags, engine)
  local members, why, area = M.members(flags.target, name)
  if not members then io.stderr:write("opsh: --target " .. flags.target .. ": " .. why .. "\n"); return 3 end
  if meta.targets == "group" then
    local margs = {}
    for key, v in pairs(args) do margs[key] = v end
    margs.targets, margs.target = {}, flags.target
    for i, m in ipairs(members) do margs.targets[i] = { name = m.name, url = m.url } end
    local ctx = report.new(name, meta, margs, {
      dry_run = flags.dry_run, verbose = flags.verbose,
      started_at = host.iso_now(), started_clock = host.monotonic(),
    })
    local ok, err = pcall(meta.run, margs, ctx)
    local r = engine.build(ctx, not ok and { message = tostring(type(err) == "table" and (err.message or err.code) or err) } or nil)
    engine.emit(r, flags)
    return r.exit_code
  end
  local arg = url_argument(meta, area)
  if not arg then
    io.stderr:write("opsh: " .. name .. " takes no --url argument: it cannot run once per target\n")
    return 3
  end
  local bound = tonumber(config.get("targets_concurrency")) or 8
  local reports = {}
  local function one(k)
    local m = members[k]
    local margs = {}
    for key, v in pairs(args) do margs[key] = v end
    margs[arg] = m.url
    local ctx = report.new(name, meta, margs, {
      dry_run = flags.dry_run, verbose = flags.verbose,
      started_at = host.iso_now(), started_clock = host.monotonic(),
    })
    local ok, err = pcall(meta.run, margs, ctx)
    reports[k] = engine.build(ctx, not ok and { message = tostring(type(err) == "table" and (err.message or err.code) or err) } or nil)
  end
  local k = 1
  while k <= #members do
    local batch = {}
    for i = k, math.min(k + bound - 1, #members) do batch[#batch + 1] = function() one(i) end end
    opsh.all(batch)
    k = k + bound
  end
  local worst = 0
  for _, r in ipairs(reports) do if r.exit_code > worst then worst = r.exit_code end end
  if flags.json then
    local json = require "opsh.json"
    local list = json.array {}
    for i, m in ipairs(members) do list[i] = { member = m.name, url = require("opsh.log").redact(m.url), report = report.json_table(reports[i]) } end
    io.stdout:write(json.encode({
      schema = "opsh.fleet/v1", script = name, target = flags.target, area = area,
      status = report.NAMES[worst], exit_code = worst, members = list,
    }, { pretty = true, sort_keys = true }) .. "\n")
    io.stdout:flush()
  else
    for i, m in ipairs(members) do
      io.stdout:write(string.format("== %s: %s\n", flags.target, m.name))
      engine.emit(reports[i], flags)
    end
    io.stdout:write(string.format("%s on %d members of %s: %s\n", name, #members, flags.target, string.upper(report.NAMES[worst])))
    io.stdout:flush()
  end
  return worst
end

return M
