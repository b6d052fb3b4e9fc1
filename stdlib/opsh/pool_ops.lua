--- opsh.pool_ops: what the lua/pool/ procedures share. They run on opsh's own pools, made here
--- against the configured redis_url and qdrant_url (not the application's SQL pool), and keep
--- what must outlive one run in pool_state_dir (default ~/.local/state/opsh/pool):
---   state.json       breaker settings chosen by pool/breaker, temporary sizes set by pool/scale,
---                    and a bounded history (one entry per run of pool/health: p95, calls, load
---                    model accuracy, breaker transitions) that pool/weekly-review reads;
---   <target>.model   each pool's load predictor (model and samples), loaded before a run and
---                    saved after it, so the predictor learns across runs;
---   pool-scaling-review.json  the one-shot review pool/scale schedules.
--- Under --dry-run nothing is written (each write is reported as "would").
local pool = require "opsh.pool"
local config = require "opsh.config"
local fs = require "opsh.fs"
local json = require "opsh.json"
local time = require "opsh.time"
local opsh = require "opsh"

local M = {}

M.HISTORY_DAYS = 8
M.TARGETS = { "redis", "qdrant" }

--- The args every pool procedure takes.
M.ARGS = {
  { name = "target", default = "all", choices = { "all", "redis", "qdrant" }, help = "which of opsh's pools: redis (redis_url), qdrant (qdrant_url) or both" },
  { name = "redis_url", help = "Redis URL (default: the configured redis_url)" },
  { name = "qdrant_url", help = "Qdrant URL (default: the configured qdrant_url)" },
  { name = "max", type = "integer", default = 10, help = "the pools' maximum size" },
  { name = "agent", help = "the opsh agent's URL (default: the configured agent_url): act on the agent's long-lived pools through its API instead of this run's own" },
}

--- The agent to act through: --agent, else the configured agent_url, else nil (this run's own pools).
function M.agent_url(args)
  local u = args.agent
  if u == nil or u == "" then
    local ok, v = pcall(config.get, "agent_url")
    u = ok and v or nil
  end
  if u == nil or u == "" then return nil end
  return (tostring(u):gsub("/+$", ""))
end

--- Runs the procedure's agent form (opsh.pool_agent) when an agent is named. Returns true when it did.
function M.via_agent(name, args, ctx)
  if not M.agent_url(args) then return false end
  require("opsh.pool_agent")[name](args, ctx)
  return true
end

function M.dir()
  local d = config.get("pool_state_dir")
  if d and d ~= "" then return d end
  return (os.getenv("HOME") or ".") .. "/.local/state/opsh/pool"
end

function M.path(name) return M.dir() .. "/" .. name end

--- The state file's contents ({} when there is none yet).
function M.load_state()
  local text = fs.read(M.path("state.json"))
  if not text then return { history = {}, breaker = {}, sizes = {} } end
  local ok, s = pcall(json.decode, text)
  if not ok or type(s) ~= "table" then error("pool state " .. M.path("state.json") .. " is not valid JSON: remove it to start again", 0) end
  s.history, s.breaker, s.sizes = s.history or {}, s.breaker or {}, s.sizes or {}
  return s
end

--- Writes the state (history older than HISTORY_DAYS dropped), atomically.
function M.save_state(s)
  local keep, cutoff = {}, time.now() - M.HISTORY_DAYS * 86400
  for _, h in ipairs(s.history) do if (h.t or 0) >= cutoff then keep[#keep + 1] = h end end
  s.history = keep
  fs.mkdir(M.dir())
  return fs.write_atomic(M.path("state.json"), json.encode(s), { mode = 384 })
end

local function url_of(args, target)
  if target == "redis" then return args.redis_url or config.get("redis_url") end
  return args.qdrant_url or config.get("qdrant_url")
end

--- The pools of this run: {{target, url, pool}}, adaptive, with the breaker settings and any
--- temporary size recorded in the state, and each pool's predictor loaded from its file.
function M.open(args, state)
  local out = {}
  for _, target in ipairs(M.TARGETS) do
    if args.target == "all" or args.target == target then
      local url = url_of(args, target)
      local opts = { max = args.max, adaptive = true, acquire_timeout = 5, timeout = 5, breaker = state.breaker[target] }
      local p = target == "redis" and pool.redis(url, opts) or pool.qdrant(url, opts)
      local size = state.sizes[target]
      if size and (size["until"] or 0) > time.now() then p:resize(size.size) end
      local model = M.path(target .. ".model")
      local loaded
      if fs.exists(model) then loaded = p:load_predictor(model) end
      out[#out + 1] = { target = target, url = url, pool = p, model = model, model_loaded = loaded }
    end
  end
  return out
end

--- One probe call: PING for Redis, GET /healthz for Qdrant. Returns ok, err.
function M.probe(t)
  if t.target == "redis" then
    local v, err = t.pool:call("PING")
    return v ~= nil, err
  end
  local r, err = t.pool:health()
  return r ~= nil and r.ok, err or (r and ("HTTP " .. tostring(r.status)))
end

--- `calls` probes, `concurrency` at a time in tasks; the most connections checked out at once
--- over the size is the run's utilisation. Returns {ok, failed, peak, size, utilization, last_error}.
function M.exercise(t, calls, concurrency)
  local res = { ok = 0, failed = 0 }
  local left = calls
  local function worker()
    while left > 0 do
      left = left - 1
      local ok, err = M.probe(t)
      if ok then res.ok = res.ok + 1 else res.failed = res.failed + 1; res.last_error = err end
    end
  end
  local fns = {}
  for i = 1, math.max(1, concurrency) do fns[i] = worker end
  opsh.all(fns)
  local s = t.pool:stats()
  res.peak, res.size = s.peak_checked_out, s.size
  res.utilization = s.size > 0 and s.peak_checked_out / s.size or 0
  return res
end

--- Saves each pool's predictor (after taking this run's sample).
function M.save_models(targets)
  fs.mkdir(M.dir())
  for _, t in ipairs(targets) do
    t.pool:sample()
    t.pool:save_predictor(t.model)
  end
end

--- The predictor's accuracy at `horizon` seconds: {mae, mape, mase, source, count} or nil.
function M.accuracy(pred, horizon)
  if not pred then return nil end
  for _, a in ipairs(pred.accuracy or {}) do
    if a.horizon == horizon and a.trained then return a end
  end
  return nil
end

return M
