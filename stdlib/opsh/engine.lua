--- opsh.engine: runs one procedure for the opsh command (metadata, arguments,
--- confirmation, report, exit code). Internal: the host calls it; its API may change.
local script = require "opsh.script"
local report = require "opsh.report"
local host = require "opsh._host"

local M = {}

local function stderr(s) io.stderr:write(s) end

local function traceback_handler(e)
  -- an error re-raised by task:wait or opsh.all keeps the traceback of the task that raised it
  local kept = host.traceback(e)
  if type(e) ~= "string" then
    local mt = getmetatable(e)
    if mt and mt.__tostring then
      e = tostring(e)
    elseif type(e) == "table" then
      e = tostring(e.message or e.code or e)   -- an error table of the nil, err channel
    else
      return e
    end
  end
  return { message = e, traceback = kept or debug.traceback(e, 2) }
end

local function split_error(e)
  if type(e) == "table" and e.message then return e.message, e.traceback end
  return tostring(e), nil
end

-- The report of the run in progress, so the host can still print it after a stop.
M.current = nil

-- What calls refused under --dry-run would have done (the host's dry-run channel), redacted
-- as the rest of the report is.
local function would_actions()
  local redact = require("opsh.log").redact
  local out = host.would()
  for i, w in ipairs(out) do out[i] = redact(w) end
  return out
end

local function build(ctx, err)
  local status = ctx:exit_code()
  if err then status = 3 end
  return {
    script = ctx.name, description = ctx.description, args = ctx.args, checks = ctx.checks,
    dry_run = ctx.dry_run, started_at = ctx.started_at,
    duration_ms = (host.monotonic() - ctx.started_clock) * 1000,
    finished_unix = host.now(),
    status = report.NAMES[status], exit_code = status,
    would = would_actions(),
    error = err,
  }
end

local function emit(rep, flags)
  if flags.json then
    io.stdout:write(report.json(rep))
  elseif flags.prom then
    io.stdout:write(report.prom(rep))
  else
    io.stdout:write(report.text(rep, flags.color))
    if rep.error and rep.error.traceback and flags.verbose then stderr(rep.error.traceback .. "\n") end
  end
  io.stdout:flush()
end

local function confirm(name, meta, flags)
  if not script.has_category(meta, "destructive") or flags.yes or flags.dry_run then return true end
  if not flags.tty then
    stderr(string.format("opsh: %s is destructive (%s); pass --yes to run it without a terminal, or --dry-run to see what it would do\n",
      name, meta.description))
    return false
  end
  stderr(string.format("%s is destructive: %s\nContinue? [y/N] ", name, meta.description))
  local answer = io.stdin:read("l")
  return answer ~= nil and answer:lower():match("^y") ~= nil
end

-- An intrusive or destructive procedure that declares a maintenance window (meta.window)
-- starts only inside it, unless --force (or --dry-run, which changes nothing, or
-- maintenance_windows = "off"). The window is read in maintenance_timezone (default UTC).
local function window_allows(name, meta, flags)
  if not meta.window or flags.force or flags.dry_run then return true end
  if not (script.has_category(meta, "intrusive") or script.has_category(meta, "destructive")) then return true end
  local config = require "opsh.config"
  if tostring(config.get("maintenance_windows", "enforce")) == "off" then return true end
  local w, err = require("opsh.agent").window(meta.window)
  if not w then stderr("opsh: " .. tostring(err) .. "\n"); return false end
  if w.open then return true end
  stderr(string.format("opsh: %s may only run in the %s maintenance window (%s %s); the next one opens %s (in %s); pass --force to run it now\n",
    name, w.name, w.when, w.timezone, w.start_iso or "never", w.opens_in or "-"))
  return false
end

--- Runs a procedure. job = { name, ref (how a command line names it), chunk | meta, argv, flags }.
--- Returns the exit code.
function M.run(job)
  local flags = job.flags or {}
  local name = job.name
  local meta = job.meta
  if meta == nil then
    local ok, m = xpcall(job.chunk, traceback_handler)
    if not ok then
      local msg, tb = split_error(m)
      stderr("opsh: " .. msg .. "\n")
      if flags.verbose and tb then stderr(tb .. "\n") end
      return 3
    end
    meta = m
  end
  local okv, verr = pcall(script.validate, meta, name)
  if not okv then stderr("opsh: " .. tostring(verr) .. "\n"); return 3 end
  local oka, args, help = pcall(script.parse_args, meta, name, job.argv or {}, job.ref)
  if not oka then stderr("opsh: " .. tostring(args) .. "\n"); return 3 end
  if help == "help" then io.stdout:write(script.help(meta, name)); return 0 end
  if not window_allows(name, meta, flags) then return 3 end
  if not confirm(name, meta, flags) then return 3 end
  if flags.target then return require("opsh.fleet").run(name, meta, args, flags, { build = build, emit = emit }) end

  local ctx = report.new(name, meta, args, {
    dry_run = flags.dry_run, verbose = flags.verbose,
    started_at = host.iso_now(), started_clock = host.monotonic(),
  })
  M.current = { ctx = ctx, flags = flags }
  local ok, err = xpcall(meta.run, traceback_handler, args, ctx)
  if ok then
    local dok, derr = pcall(host.drain) -- tasks the script spawned and did not wait for
    if not dok then ok, err = false, { message = tostring(derr) } end
  end
  if not ok and err == "not enough memory" then
    err = host.memory_limit_hit() or err   -- name the --max-memory limit the run hit
  end
  if ok then
    -- a task that failed when nothing waited for it makes the run fail (UNKNOWN)
    local lost = host.unobserved()
    if lost then ok, err = false, lost end
  end
  local rep = build(ctx, not ok and { message = split_error(err), traceback = select(2, split_error(err)) } or nil)
  M.current = nil
  emit(rep, flags)
  return rep.exit_code
end

--- After a stop (timeout, Ctrl-C) the host prints the partial report with this.
function M.finish_stopped(message)
  local cur = M.current
  if not cur then return nil end
  M.current = nil
  local rep = build(cur.ctx, { message = message })
  emit(rep, cur.flags)
  return rep.exit_code
end

--- Loads every catalog entry's metadata; returns rows sorted by name.
function M.catalog(entries)
  local rows = {}
  for _, e in ipairs(entries) do
    local row = { name = e.name, origin = e.origin, path = e.path }
    local fn, lerr = load(e.source, e.chunkname, "t", setmetatable({}, { __index = _G }))
    local ok, meta = false, lerr
    if fn then ok, meta = pcall(fn) end
    if ok then ok, meta = pcall(script.validate, meta, e.name) end
    if ok then
      row.description, row.categories, row.guide = meta.description, meta.categories, meta.guide
    else
      row.error = tostring(meta)
    end
    rows[#rows + 1] = row
  end
  table.sort(rows, function(a, b) return a.name < b.name end)
  return rows
end

--- `opsh list --guide [--json|--markdown]`: the guide's items and the procedures that do them
--- (opsh.coverage); exit 1, with the errors on stderr, when a procedure claims an item the
--- inventory does not have or an item has no procedure, plan or reason.
local function guide_coverage(rows, format)
  local coverage = require "opsh.coverage"
  local cov, errors = coverage.build(rows)
  for _, r in ipairs(rows) do
    if r.error then errors[#errors + 1] = r.name .. " is broken: " .. r.error end
  end
  if format == "json" then
    local json = require "opsh.json"
    local out = json.array {}
    for i, r in ipairs(cov) do
      out[i] = { id = r.item.id, section = r.item.section, text = r.item.text, line = r.item.line, state = r.state,
        procedures = json.array(r.procedures), tests = json.array(r.tests), planned = r.item.planned or json.null,
        issue = r.item.issue or json.null, cannot = r.item.cannot or json.null, differs = r.item.differs or json.null }
    end
    io.stdout:write(json.encode({ items = out, errors = json.array(errors) }, { pretty = true, sort_keys = true }), "\n")
  elseif format == "markdown" then
    io.stdout:write(coverage.markdown(cov))
  else
    io.stdout:write(coverage.text(cov))
  end
  for _, e in ipairs(errors) do stderr("opsh: " .. e .. "\n") end
  return #errors > 0 and 1 or 0
end

--- `opsh list [CATEGORY]`; with guide ("text", "json" or "markdown"), the guide's coverage.
function M.list(entries, category, as_json, guide)
  local rows = M.catalog(entries)
  if guide then return guide_coverage(rows, guide) end
  local shown = {}
  for _, r in ipairs(rows) do
    local keep = category == nil
    for _, c in ipairs(r.categories or {}) do if c == category then keep = true end end
    if keep then shown[#shown + 1] = r end
  end
  if as_json then
    local json = require "opsh.json"
    local out = json.array {}
    for i, r in ipairs(shown) do
      out[i] = { name = r.name, description = r.description or json.null,
        categories = r.categories and json.array(r.categories) or json.array {},
        origin = r.origin, error = r.error or json.null }
    end
    io.stdout:write(json.encode(out, { pretty = true, sort_keys = true }), "\n")
    return 0
  end
  local width = 8
  for _, r in ipairs(shown) do if #r.name > width then width = #r.name end end
  for _, r in ipairs(shown) do
    if r.error then
      io.stdout:write(string.format("%-" .. width .. "s  (broken: %s)\n", r.name, r.error))
    else
      local origin = r.origin ~= "built-in" and ("  [" .. r.origin .. "]") or ""
      io.stdout:write(string.format("%-" .. width .. "s  %-30s %s%s\n", r.name,
        "[" .. table.concat(r.categories, ",") .. "]", r.description, origin))
    end
  end
  if #shown == 0 then
    io.stderr:write(category and ("opsh: no procedure in category '" .. category .. "'\n") or "opsh: no procedures found\n")
    return category and 1 or 0
  end
  return 0
end

--- `opsh help NAME` for a procedure.
function M.help(name, chunk)
  local ok, meta = pcall(chunk)
  if ok then ok, meta = pcall(script.validate, meta, name) end
  if not ok then stderr("opsh: " .. tostring(meta) .. "\n"); return 3 end
  io.stdout:write(script.help(meta, name))
  return 0
end

return M
