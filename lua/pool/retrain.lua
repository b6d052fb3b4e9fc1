-- The guide's load-model retraining, on the predictors of opsh's own pools (one per
-- configured endpoint, kept in pool_state_dir between runs). The guide's triggers, made
-- meaningful: "accuracy below 0.7" becomes MASE above 1 on the last window at the 25 s
-- horizon (the model does worse than "the load stays as it is"; the guide's 1 - MAE is always
-- above 0.7 for loads in [0, 1]); "more than 5,000 training samples" becomes 5,000 samples since
-- the last training; --force trains now. Training runs here, to the end (well under a second
-- for a day of samples), and its report is the "completed" or "failed" the guide polls for.
local ops = require "opsh.pool_ops"

local args = {
  { name = "force", type = "boolean", default = false, help = "retrain whatever the triggers say" },
  { name = "new_samples", type = "integer", default = 5000, help = "samples since the last training that trigger it (the guide's 5,000)" },
  { name = "max_mase", type = "number", default = 1, help = "MASE on the last window above which it retrains" },
}
for _, a in ipairs(ops.ARGS) do args[#args + 1] = a end

return {
  description = "Load model retraining for opsh's pools: triggered by MASE above 1 or 5,000 new samples (or --force), followed to the end",
  categories = { "pool", "maintenance", "safe" },
  guide = { "2-ml-model-retraining-procedures.1", "2-ml-model-retraining-procedures.2" },
  args = args,
  notes = "Changes nothing on the servers. Retrains the predictor of each of opsh's pools and saves it to "
    .. "pool_state_dir/<target>.model (atomically); nothing is trained or written under --dry-run.",
  run = function(a, ctx)
    if ops.via_agent("retrain", a, ctx) then return end
    local state = ops.load_state()
    local targets = ops.open(a, state)
    for _, t in ipairs(targets) do
      local name = "pool." .. t.target .. ".retrain"
      t.pool:sample()
      local pred = t.pool:predictor()
      local acc = ops.accuracy(pred, 25)
      local trained_on = pred.last_training and pred.last_training.samples or 0
      local since = pred.samples - trained_on
      local why
      if a.force then why = "forced"
      elseif acc and acc.source == "live" and acc.mase and acc.mase > a.max_mase then
        why = string.format("MASE %.2f above %g on the last window", acc.mase, a.max_mase)
      elseif since >= a.new_samples then why = string.format("%d samples since the last training (>= %d)", since, a.new_samples) end
      local current = acc and acc.mase and string.format("MASE %.2f (%s)", acc.mase, acc.source) or "no accuracy yet"
      if not why then
        ctx:ok(name, string.format("not needed: %s, %d samples (%d since the last training)", current, pred.samples, since),
          { samples = pred.samples, mase = acc and acc.mase })
      else
        local rep = t.pool:retrain()
        if rep == nil or (type(rep) == "table" and rep.dry_run) then
          ctx:ok(name, "would retrain (" .. why .. ")", { samples = pred.samples })
        else
          local after = ops.accuracy({ accuracy = rep.accuracy }, 25)
          if after and after.mase then
            ctx:ok(name, string.format("completed (%s): %d samples in %.1f ms; held-out MASE %.2f, MAE %.3f at 25 s", why, rep.samples,
              rep.duration * 1000, after.mase, after.mae or 0), { samples = rep.samples, mase = after.mase, duration_s = rep.duration })
          else
            ctx:warn(name, string.format("completed (%s) on %d samples, but no horizon has enough history for a model yet (60 samples: one per run, at most every 5 s)",
              why, rep.samples), { samples = rep.samples })
          end
        end
      end
    end
    ops.save_models(targets)
  end,
}
