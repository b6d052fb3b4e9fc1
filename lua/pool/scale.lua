-- The guide's emergency pool scaling on opsh's own pools: when more than `threshold`% of a
-- pool's connections are checked out under this run's load (`concurrency` probe calls in
-- flight), its size goes up by `increase` (the guide's +10), temporarily, and a review is
-- scheduled for `review_after` seconds later (the guide's `at now + 1 hour`).
--
-- How the review is scheduled: as a one-shot job of the opsh agent (opsh.agent.at: the agent
-- runs `pool/scale --action review` when it is due; `opsh agent history once:ID` shows it),
-- and as a one-shot file, pool_state_dir/pool-scaling-review.json ({due, target, url, from,
-- to, utilization, reason}) that the temporary size is read from: it stays in force for every
-- pool procedure until the review is due, after which the pools start from their normal size
-- again. Run pool/scale --action review to see it.
local ops = require "opsh.pool_ops"
local fs = require "opsh.fs"
local json = require "opsh.json"
local time = require "opsh.time"
local agent = require "opsh.agent"

local args = {
  { name = "action", default = "check", choices = { "check", "review" }, help = "check: measure and scale if needed; review: show the scheduled review" },
  { name = "concurrency", type = "integer", default = 5, help = "probe calls in flight while measuring" },
  { name = "calls", type = "integer", default = 40, help = "probe calls while measuring" },
  { name = "threshold", type = "number", default = 85, help = "utilisation % above which it scales (the guide's 85%)" },
  { name = "increase", type = "integer", default = 10, help = "connections added (the guide's +10)" },
  { name = "review_after", type = "number", default = 3600, help = "seconds until the review (the guide's 1 hour)" },
}
for _, a in ipairs(ops.ARGS) do args[#args + 1] = a end

return {
  description = "Emergency scaling of opsh's pools above 85% utilisation (+10, temporary), with a one-shot review file",
  categories = { "pool", "maintenance", "safe" },
  guide = { "2-emergency-database-scaling.1" },
  args = args,
  notes = "Changes nothing on the servers (PING / GET /healthz only). When it scales, it writes the temporary size to "
    .. "pool_state_dir/state.json (in force for pool procedures until the review is due) and the review to "
    .. "pool_state_dir/pool-scaling-review.json, and schedules the review as a one-shot job in the agent's history "
    .. "(agent_history_db); nothing under --dry-run. It does not touch the application's own pool.",
  run = function(a, ctx)
    if ops.via_agent("scale", a, ctx) then return end
    local review_path = ops.path("pool-scaling-review.json")
    if a.action == "review" then
      local text = fs.read(review_path)
      if not text then return ctx:ok("pool.scale.review", "no scaling review is scheduled") end
      local r = json.decode(text)
      local due = r.due_unix <= time.now()
      local check = due and ctx.warn or ctx.ok
      return check(ctx, "pool.scale.review", string.format("%s pool %s: %d -> %d at %.0f%% utilisation; review %s %s",
        r.target, r.url, r.from, r.to, r.utilization * 100, due and "was due" or "due", r.due), { due = due and 1 or 0 })
    end
    local state = ops.load_state()
    local targets = ops.open(a, state)
    local scaled = {}
    for _, t in ipairs(targets) do
      local name = "pool." .. t.target .. ".scale"
      local r = ops.exercise(t, a.calls, a.concurrency)
      local pct = r.utilization * 100
      local usage = string.format("%d/%d checked out at peak (%.0f%%)", r.peak, r.size, pct)
      if r.ok == 0 then
        ctx:unknown(name, "cannot measure: every probe failed: " .. tostring(r.last_error))
      elseif pct > a.threshold then
        local to = r.size + a.increase
        local done = t.pool:resize(to)
        local due = time.now() + a.review_after
        state.sizes[t.target] = { size = to, ["until"] = due, from = r.size }
        scaled[#scaled + 1] = { target = t.target, url = t.url, from = r.size, to = to, utilization = r.utilization,
          due_unix = due, due = time.iso(due), reason = string.format("%s above %g%%", usage, a.threshold),
          scheduled_by = "opsh pool/scale", how = "one-shot agent job (pool/scale --action review) and this file; the temporary size lapses at due" }
        ctx:warn(name, string.format("emergency scaling: %s above %g%%: size %d -> %d (temporary, review due %s)%s", usage, a.threshold,
          r.size, to, time.iso(due), type(done) == "table" and done.dry_run and " [dry run]" or ""), { utilization_pct = pct, from = r.size, to = to })
      else
        ctx:ok(name, string.format("%s: at most %g%%, no scaling", usage, a.threshold), { utilization_pct = pct, size = r.size })
      end
    end
    if #scaled > 0 then
      ops.save_state(state)
      fs.mkdir(ops.dir())
      fs.write_atomic(review_path, json.encode(#scaled == 1 and scaled[1] or scaled[1]), { mode = 384 })
      local id, aerr = agent.at(a.review_after, "pool/scale", { "--action", "review" })
      local job = math.type(id) == "integer" and ("; agent job once:" .. id) or (aerr and ("; not on the agent: " .. tostring(aerr)) or "")
      ctx:ok("pool.scale.review", "review scheduled: " .. review_path .. " (due " .. scaled[1].due .. ")" .. job)
    end
    ops.save_models(targets)
  end,
}
