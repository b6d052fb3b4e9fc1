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

--- Runs other procedures as the parts of one report (what a checklist or the daily check does),
--- concurrently: each part is {name = "qdrant/health", args = {...}, key = "qdrant", why = "...",
--- allow_changes = true (this part only)}.
--- Their checks join ctx's in the order of `parts`, whatever order they finish in. A part that
--- cannot run is reported UNKNOWN under its key, never an error of the whole: a procedure that
--- does not exist here (part.why says where it comes from, "issue 14" say), one whose arguments
--- are wrong, one that raised. opts.allow_changes as for M.run; opts.sequential runs them one
--- after the other (parts that change things, in the guide's order); opts.skip lists keys of
--- parts to leave out; opts.deadline (seconds, concurrent parts): parts still running then are
--- stopped and reported CRITICAL ("did not finish"), after whatever they had found. Returns the sub-reports and the parts run (in the same order).
function M.parts(parts, ctx, opts)
  opts = opts or {}
  local report = require "opsh.report"
  local opsh = require "opsh"
  local skip = {}
  for _, k in ipairs(opts.skip or {}) do skip[k] = true end
  local kept = {}
  for _, p in ipairs(parts) do if not skip[p.key] then kept[#kept + 1] = p end end
  parts = kept
  local fns, subs = {}, {}
  for i, p in ipairs(parts) do
    local sub = report.new(p.name, nil, p.args, { dry_run = ctx.dry_run, verbose = ctx.verbose })
    subs[i] = sub
    fns[i] = function()
      if not catalog.load(p.name) then
        sub:unknown(p.key or p.name, "procedure " .. p.name .. " does not exist here"
          .. (p.why and (" yet (" .. p.why .. ")") or "") .. ": this part was not checked")
        return true
      end
      local ok, done, err = pcall(M.run, p.name, p.args, sub, { allow_changes = p.allow_changes or opts.allow_changes })
      if not ok then sub:unknown(p.key or p.name, p.name .. " failed: " .. tostring(done))
      elseif not done then sub:unknown(p.key or p.name, p.name .. ": " .. tostring(err)) end
      return true
    end
  end
  local late = {}
  if opts.sequential then
    for _, fn in ipairs(fns) do fn() end
  else
    local done, err = opsh.all(fns, opts.deadline and { timeout = opts.deadline } or nil)
    if done == nil and type(err) == "table" and err.code == "timeout" then
      for _, i in ipairs(err.pending or {}) do late[i] = true end
    elseif done == nil and err ~= nil then
      error(err, 0)
    end
  end
  for i, sub in ipairs(subs) do
    for _, c in ipairs(sub.checks) do ctx.checks[#ctx.checks + 1] = c end
    if late[i] then
      local p = parts[i]
      ctx:crit(p.key or p.name, string.format("%s did not finish within the %gs deadline (a stalled service?)%s", p.name,
        opts.deadline, #sub.checks > 0 and "; what it found so far is above" or ""))
    end
  end
  return subs, parts
end

--- Runs one procedure that may change things as a step of ctx's report (M.parts, one part,
--- allowed to change things: the caller's categories must say so): its checks join ctx's, one
--- that cannot run is UNKNOWN under `key`. Returns true when it ended OK or WARNING, and its report.
function M.step(name, args, ctx, key)
  local sub = M.parts({ { name = name, args = args, key = key or name, allow_changes = true } }, ctx, { sequential = true })[1]
  return sub:exit_code() <= 1, sub
end

--- Runs a maintenance run's steps one after the other, in order, each a part as for M.parts plus
--- its `title`: each step's checks, then a summary check `step.N` with the worst status of its
--- checks and the title ("1. Database optimization: OK, 3 checks"). A step that cannot run is
--- UNKNOWN and the next still runs. opts.allow_changes as for M.run; opts.skip lists keys of steps
--- to leave out (step.N counts the steps run; each title keeps the guide's number). Returns the sub-reports.
function M.steps(steps, ctx, opts)
  opts = opts or {}
  local report = require "opsh.report"
  local skip = {}
  for _, k in ipairs(opts.skip or {}) do skip[k] = true end
  local kept = {}
  for _, st in ipairs(steps) do if not skip[st.key] then kept[#kept + 1] = st end end
  local subs = {}
  for i, st in ipairs(kept) do
    local before = #ctx.checks
    subs[i] = M.parts({ st }, ctx, { allow_changes = opts.allow_changes, sequential = true })[1]
    local worst, n = 0, #ctx.checks - before
    for k = before + 1, #ctx.checks do worst = math.max(worst, report.STATUS[ctx.checks[k].status] or 3) end
    local status = report.NAMES[worst]
    local add = ({ ok = ctx.ok, warning = ctx.warn, critical = ctx.crit, unknown = ctx.unknown })[status]
    add(ctx, "step." .. i, string.format("%s: %s, %d check(s) (%s)", st.title, status:upper(), n, st.name))
  end
  return subs
end

return M
