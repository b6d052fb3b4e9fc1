-- queue/cancel: cancels a deferred delete_collection job (the origin system's
-- QdrantAliasManager.safe_delete_collection defers the deletion by the grace period), the way
-- ARQ's own Job.abort() does, plus the part ARQ leaves to chance. One EVAL:
--   - re-checks that arq:job:<id> still holds the payload we decoded (a delete_collection job);
--   - ZADDs the id to arq:abort, ARQ's abort set (a worker started with allow_abort_jobs=True
--     cancels the job when it starts or while it runs, and records a CancelledError result);
--   - if the job is still deferred (its score is in the future) and not in progress, also removes
--     it from the queue and deletes arq:job:<id> (a copy is kept under
--     opsh:queue:cancelled:<id> for --keep seconds), so a worker without allow_abort_jobs never
--     runs it either. A job already due or running is only aborted through the abort set.
-- The abort entry stays until a worker sees the id (ARQ only trims it then).
local redis = require "opsh.redis"
local config = require "opsh.config"
local arq = require "opsh.arq"
local time = require "opsh.time"
local opsh = require "opsh"

local SCRIPT = [[
if redis.call('GET', KEYS[3]) ~= ARGV[3] then return {'changed'} end
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
if score and tonumber(score) > tonumber(ARGV[2]) and redis.call('EXISTS', KEYS[4]) == 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
  if tonumber(ARGV[4]) > 0 then redis.call('SET', KEYS[5], ARGV[3], 'EX', ARGV[4]) end
  redis.call('DEL', KEYS[3])
  return {'removed', score}
end
return {'aborted', score or ''}
]]

local function collection_of(job)
  local c = job.args[1]
  if type(c) ~= "string" then c = job.kwargs.collection_name end
  return c
end

return {
  description = "Cancels a deferred delete_collection job through ARQ's abort set, removing it from the queue while it is still deferred",
  categories = { "queue", "qdrant", "intrusive" },
  guide = {
    "background-task-types.1", "background-task-types.2", "background-task-types.3",
    "task-queue-management.7",
  },
  args = {
    { name = "id", help = "the job id (queue/status lists deferred jobs)" },
    { name = "collection", help = "instead of --id: the deferred delete_collection job(s) of this collection" },
    { name = "any_function", type = "boolean", default = false, help = "allow cancelling a job of another function" },
    { name = "keep", type = "integer", default = 7 * 86400, help = "seconds to keep the removed job under opsh:queue:cancelled:<id>" },
    { name = "url", help = "task-queue Redis URL (default: config task_queue_redis_url)" },
    { name = "queue", help = "queue name (default: config task_queue_name, arq:queue)" },
    { name = "max_jobs", type = "integer", default = 10000, help = "with --collection: deferred jobs examined at most" },
  },
  run = function(args, ctx)
    if not args.id and not args.collection then error("give --id ID or --collection NAME", 0) end
    local url = args.url or config.get("task_queue_redis_url") or "redis://localhost:6379/1"
    local queue = args.queue or config.get("task_queue_name") or arq.keys.default_queue
    local r, err = redis.connect(url)
    if not r then return ctx:crit("queue.redis", "task-queue Redis is not reachable: " .. tostring(err), { up = 0 }) end
    local refusal = require("opsh.units").redis_cluster_refusal(r, "arq")
    if refusal then r:close(); return ctx:unknown("queue.redis", refusal) end
    local now = math.floor(time.now() * 1000)

    local targets = {}   -- { id, raw, job }
    local function consider(id, quiet)
      local raw = r:get(arq.keys.job .. id)
      if type(raw) ~= "string" then
        if not quiet then ctx:crit("queue.cancel", ("no job %s (already run, cancelled or expired; queue/failed shows results)"):format(id)) end
        return
      end
      local job, derr = arq.decode_job(raw)
      if not job then
        if not quiet then ctx:crit("queue.cancel", ("job %s is not decodable: %s"):format(id, tostring(derr))) end
        return
      end
      if job["function"] ~= "delete_collection" and not args.any_function then
        if not quiet then ctx:crit("queue.cancel", ("job %s is %s, not delete_collection (--any_function to cancel it anyway)"):format(id, job["function"])) end
        return
      end
      if args.collection and collection_of(job) ~= args.collection then return end
      targets[#targets + 1] = { id = id, raw = raw, job = job }
    end

    if args.id then
      consider(args.id)
    else
      local d = r:call("ZRANGEBYSCORE", queue, "(" .. now, "+inf", "LIMIT", "0", tostring(args.max_jobs))
      for _, id in ipairs(type(d) == "table" and d or {}) do consider(id, true) end
      if #targets == 0 then
        r:close()
        return ctx:warn("queue.cancel", ("no deferred delete_collection job for collection %s on %s"):format(args.collection, queue))
      end
    end

    for _, t in ipairs(targets) do
      local check = "queue.cancel." .. t.id
      local what = ("%s(%s)"):format(t.job["function"], tostring(collection_of(t.job)))
      if opsh.dry_run then
        local score = r:call("ZSCORE", queue, t.id)
        local deferred = type(score) == "string" and tonumber(score) > now
        ctx:ok(check, ("would add %s %s to %s%s"):format(t.id, what, arq.keys.abort,
          deferred and (" and remove it from " .. queue .. " (deferred until " .. time.iso(tonumber(score) / 1000) .. ")") or " (it is due or running: abort only)"))
      else
        local out, eerr = r:eval(SCRIPT,
          { queue, arq.keys.abort, arq.keys.job .. t.id, arq.keys.in_progress .. t.id, "opsh:queue:cancelled:" .. t.id },
          { t.id, tostring(now), t.raw, tostring(args.keep) })
        if not out then
          ctx:crit(check, "cancel failed: " .. tostring(eerr))
        elseif out[1] == "removed" then
          ctx:ok(check, ("cancelled %s %s: removed from %s (was due %s) and recorded in %s"):format(t.id, what, queue,
            time.iso(tonumber(out[2]) / 1000), arq.keys.abort), { removed = 1 })
        elseif out[1] == "aborted" then
          ctx:warn(check, ("%s %s is already due or running: added to %s, so a worker with allow_abort_jobs cancels it; "
            .. "a worker without it will still run it"):format(t.id, what, arq.keys.abort), { removed = 0 })
        else
          ctx:warn(check, ("%s changed while it was read; nothing done"):format(t.id))
        end
      end
    end
    r:close()
  end,
}
