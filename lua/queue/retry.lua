-- queue/retry: re-enqueues failed ARQ jobs. ARQ refuses to enqueue an id whose arq:result:<id>
-- exists (enqueue_job checks EXISTS job, result), and a failed job has only that result left
-- (the worker deleted arq:job:<id>). So, per job, one EVAL:
--   - re-reads the result and goes on only if it is still the failed result we decoded
--     (a result rewritten meanwhile is never deleted), and only if no job or in-progress key
--     exists for the id (never two copies of one job);
--   - keeps the old result under opsh:queue:retried:<id> (--keep seconds) for the record;
--   - deletes the result and the try counter, writes arq:job:<id> (the function, args and
--     kwargs byte-for-byte as pickled, job_try None so the worker's max_tries starts again,
--     enqueued now) with ARQ's own expiry, and ZADDs the id to the queue at now (+ --defer).
-- Under --dry-run nothing is written and the report says what would be.
local redis = require "opsh.redis"
local config = require "opsh.config"
local arq = require "opsh.arq"
local time = require "opsh.time"
local opsh = require "opsh"

local SCRIPT = [[
local res = redis.call('GET', KEYS[1])
if res ~= ARGV[1] then return 'changed' end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'queued' end
if redis.call('EXISTS', KEYS[4]) == 1 then return 'running' end
if tonumber(ARGV[6]) > 0 then redis.call('SET', KEYS[6], ARGV[1], 'EX', ARGV[6]) end
redis.call('DEL', KEYS[1], KEYS[5])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[5])
return 'ok'
]]

local EXPIRES_EXTRA_MS = 86400000   -- arq.constants.expires_extra_ms

return {
  description = "Retries failed ARQ jobs: atomically replaces each failed result by the job again (ARQ refuses ids whose result exists)",
  categories = { "queue", "intrusive" },
  guide = { "task-queue-management.9" },
  args = {
    { name = "id", type = "list", help = "job ids to retry (see queue/failed)" },
    { name = "all", type = "boolean", default = false, help = "retry every failed job (with --func: of that function)" },
    { name = "func", help = "with --all: only jobs of this function" },
    { name = "defer", type = "number", default = 0, help = "seconds before the retried job is due" },
    { name = "keep", type = "integer", default = 7 * 86400, help = "seconds to keep the old result under opsh:queue:retried:<id> (0: not kept)" },
    { name = "include_successful", type = "boolean", default = false, help = "also re-run jobs that succeeded" },
    { name = "url", help = "task-queue Redis URL (default: config task_queue_redis_url)" },
    { name = "queue", help = "queue name (default: config task_queue_name, arq:queue)" },
    { name = "max_results", type = "integer", default = 10000, help = "with --all: result keys read at most" },
  },
  run = function(args, ctx)
    if not args.all and (not args.id or #args.id == 0) then error("give --id ID[,ID...] or --all", 0) end
    local url = args.url or config.get("task_queue_redis_url") or "redis://localhost:6379/1"
    local queue = args.queue or config.get("task_queue_name") or arq.keys.default_queue
    local r, err = redis.connect(url)
    if not r then return ctx:crit("queue.redis", "task-queue Redis is not reachable: " .. tostring(err), { up = 0 }) end
    local refusal = require("opsh.units").redis_cluster_refusal(r, "arq")
    if refusal then r:close(); return ctx:unknown("queue.redis", refusal) end
    local ids = {}
    if args.all then
      local n = 0
      for key in r:scan { match = arq.keys.result .. "*", count = 500 } do
        n = n + 1
        if n > args.max_results then break end
        ids[#ids + 1] = key:sub(#arq.keys.result + 1)
      end
      table.sort(ids)
    else
      ids = args.id
    end
    local retried, skipped = 0, 0
    for _, id in ipairs(ids) do
      local check = "queue.retry." .. id
      local rkey = arq.keys.result .. id
      local raw, gerr = r:get(rkey)
      if raw == nil then r:close(); return ctx:crit(check, "reading " .. rkey .. " failed: " .. tostring(gerr)) end
      if type(raw) ~= "string" then
        if not args.all then ctx:crit(check, "no result " .. rkey .. " (expired, never failed, or still queued)") end
        skipped = skipped + 1
        goto next
      end
      do
        local res, derr = arq.decode_result(raw)
        if not res then ctx:crit(check, "result not decodable, not retried: " .. tostring(derr)); skipped = skipped + 1; goto next end
        if args.all and args.func and res["function"] ~= args.func then goto next end
        if res.success and not args.include_successful then
          if not args.all then ctx:warn(check, ("%s succeeded; not retried (--include_successful to re-run it)"):format(id)) end
          skipped = skipped + 1
          goto next
        end
        local now = math.floor(time.now() * 1000)
        local score = now + math.floor(args.defer * 1000)
        local payload, job = arq.retry_payload(raw, { enqueue_time_ms = now })
        if not payload then ctx:crit(check, "cannot rebuild the job: " .. tostring(job)); skipped = skipped + 1; goto next end
        local what = ("%s %s (%s)"):format(id, job["function"], res.error or "succeeded")
        if opsh.dry_run then
          ctx:ok(check, ("would re-enqueue %s on %s, due %s, and move its result to opsh:queue:retried:%s"):format(
            what, queue, time.iso(score / 1000), id))
          retried = retried + 1
          goto next
        end
        local out, eerr = r:eval(SCRIPT,
          { rkey, arq.keys.job .. id, queue, arq.keys.in_progress .. id, arq.keys.retry .. id, "opsh:queue:retried:" .. id },
          { raw, payload, tostring(score - now + EXPIRES_EXTRA_MS), tostring(score), id, tostring(args.keep) })
        if out == "ok" then
          retried = retried + 1
          ctx:ok(check, ("re-enqueued %s on %s, due %s"):format(what, queue, time.iso(score / 1000)), { score_ms = score })
        elseif out == nil then
          ctx:crit(check, "retry failed: " .. tostring(eerr)); skipped = skipped + 1
        else
          skipped = skipped + 1
          ctx:warn(check, ({ changed = "the result changed while we read it; not retried",
            queued = "a job with this id is already queued; not retried",
            running = "a job with this id is running; not retried" })[out] or tostring(out))
        end
      end
      ::next::
    end
    r:close()
    ctx:ok("queue.retry", ("%s%d job(s) re-enqueued, %d skipped"):format(opsh.dry_run and "dry run: " or "", retried, skipped),
      { retried = retried, skipped = skipped })
  end,
}
