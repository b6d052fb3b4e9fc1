---@meta
--- The opsh agent as procedures see it (docs/agent.md): its jobs, the run history, one-shot
--- jobs (the guide's `at`), the maintenance windows: `local agent = require "opsh.agent"`.
--- Reads the configuration (agent_* keys) and the history database (agent_history_db).
local agent = {}

--- The fencing script of the job locks (KEYS[1] fence key, ARGV[1] token, ARGV[2...] the
--- command): opsh.fence runs shared writes through it.
agent.FENCE_SCRIPT = ""

--- The scheduler's settings: {agent_id, history, lock_url, lock_ttl, retention_days, maintenance_timezone}.
---@return table|nil settings, table? err
function agent.settings() end

--- The configured jobs (the guide's defaults and config.lua's agent_jobs), in order:
--- {name, procedure, args, schedule, timezone, timeout, max_memory, enabled, next_run, next_run_iso}.
---@return table[]|nil jobs, table? err
function agent.jobs() end

--- Recorded runs, newest first: {id, job, procedure, agent, trigger, status, started_at,
--- finished_at, scheduled_at, exit_code, message, fence_token[, report]}. An empty list when
--- no agent has written a history here.
---@param opts? {job?: string, limit?: integer, report?: boolean}
---@return table[]|nil runs, table? err
function agent.runs(opts) end

--- The daily check's view: for each enabled job, its last scheduled time and whether it ran
--- and succeeded then ({job, verdict = "ok"|"warning", message, last_due, status}), and the
--- history's path; nil, {code = "no_history"} when there is no history.
---@return table[]|nil results, string|table history_or_err
function agent.check_scheduled() end

--- Schedules `opsh run PROCEDURE ARGS` once, `seconds` from now, on the agent (the guide's
--- `at now + 1 hour`); returns its id (the agent's job once:ID). Nothing under --dry-run.
---@param seconds number
---@param procedure string
---@param args? string[]
---@return integer|nil id, table? err
function agent.at(seconds, procedure, args) end

--- The pending one-shot jobs: {id, procedure, args, due, created_by, state}.
---@return table[]|nil list, table? err
function agent.oneshots() end

--- A maintenance window (daily, weekly, monthly, quarterly) in maintenance_timezone: open now,
--- its current or next opening: {name, when, timezone, open, start, start_iso, opens_in, finish, text}.
---@param name string
---@return table|nil window, table? err
function agent.window(name) end

return agent
