-- The guide's daily checklist item "Check scheduled maintenance tasks": for each of the
-- agent's enabled jobs (the defaults and config.lua's agent_jobs), its last scheduled time
-- and what became of it, read from the agent's history (agent_history_db). A job that did
-- not run, or whose run failed, at its last scheduled time (in its last window) is a warning.
local agent = require "opsh.agent"

return {
  description = "Scheduled maintenance tasks: did each of the agent's jobs run, and succeed, at its last scheduled time",
  categories = { "agent", "check", "daily", "safe" },
  guide = { "daily-tasks.12" },
  run = function(_, ctx)
    local results, where = agent.check_scheduled()
    if not results then
      if where and where.code == "no_history" then
        return ctx:warn("schedule.history", tostring(where.message))
      end
      return ctx:unknown("schedule.history", tostring(where))
    end
    local bad = 0
    for _, r in ipairs(results) do
      if r.verdict == "ok" then
        ctx:ok("schedule." .. r.job, r.message)
      else
        bad = bad + 1
        ctx:warn("schedule." .. r.job, r.message)
      end
    end
    if #results == 0 then ctx:ok("schedule.jobs", "no scheduled jobs are configured") end
    ctx:ok("schedule.history", string.format("%d job(s) checked in %s, %d need attention", #results, where, bad), { failing = bad })
  end,
}
