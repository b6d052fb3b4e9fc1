-- queue/status: the ARQ task queue as it really is in Redis (shared/reference/origin-system.md §3):
-- the queue is a sorted set named after the queue, scored by due time in ms; jobs due later are
-- deferred; arq:in-progress:<id> marks running jobs; failed jobs exist only as arq:result:<id>
-- records (ARQ has no dead-letter queue: the guide's arq:queue:default, arq:in_progress and
-- arq:dead keys do not exist); <queue>:health-check is written by each worker every
-- health_check_interval seconds with a TTL of interval + 1 s. Reads only.
-- Worker processes and their memory: queue/workers.
-- --rate SECONDS measures the enqueue and dequeue rates: the queue's members are read every
-- 0.25 s for that long; a job present in one reading and absent in the next was dequeued
-- (taken by a worker, or cancelled), one absent then present was enqueued. A job enqueued and
-- taken between two readings is not seen, so under a fast worker both rates are lower bounds
-- (ARQ keeps no counters in Redis beyond its workers' health records). Queues deeper than
-- --rate_max_jobs are not diffed: only the net change is reported.
local redis = require "opsh.redis"
local config = require "opsh.config"
local arq = require "opsh.arq"
local time = require "opsh.time"

local function iso_ms(ms) return time.iso(ms / 1000) end

-- The queue's members as a set, or nil when it holds more than `max` (or the read failed).
local function members(r, queue, max)
  local ids, err = r:call("ZRANGE", queue, "0", tostring(max))
  if type(ids) ~= "table" then return nil, err end
  if #ids > max then return nil, "deeper than " .. max end
  local set = {}
  for _, id in ipairs(ids) do set[id] = true end
  return set
end

-- Enqueued and dequeued job counts over `seconds`, from readings every 0.25 s.
local function measure_rates(r, queue, seconds, max)
  local opsh = require "opsh"
  local start_depth = r:call("ZCARD", queue)
  local before, err = members(r, queue, max)
  if not before then return nil, err, start_depth end
  local enq, deq = 0, 0
  local started = time.monotonic()
  while time.monotonic() - started < seconds do
    opsh.sleep(math.min(0.25, seconds - (time.monotonic() - started)))
    local now_set, nerr = members(r, queue, max)
    if not now_set then return nil, nerr, start_depth end
    for id in pairs(now_set) do if not before[id] then enq = enq + 1 end end
    for id in pairs(before) do if not now_set[id] then deq = deq + 1 end end
    before = now_set
  end
  return { enqueued = enq, dequeued = deq, seconds = time.monotonic() - started }
end

local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9, Oct = 10, Nov = 11, Dec = 12 }

-- Seconds since a health record was written, from its "Mon-DD HH:MM:SS" (the worker's local time,
-- no year: the latest such time not in the future), or nil when it has none. A worker in another
-- time zone than this host shifts it by the difference.
local function record_age(value)
  local mon, d, h, mi, sec = value:match("^(%a%a%a)%-(%d%d) (%d%d):(%d%d):(%d%d)")
  if not mon or not MONTHS[mon] then return nil end
  local now = os.time()
  local year = tonumber(os.date("%Y", now))
  local t = os.time { year = year, month = MONTHS[mon], day = tonumber(d), hour = tonumber(h), min = tonumber(mi), sec = tonumber(sec) }
  if t > now + 86400 then t = os.time { year = year - 1, month = MONTHS[mon], day = tonumber(d), hour = tonumber(h), min = tonumber(mi), sec = tonumber(sec) } end
  local age = now - t
  -- a record "from the future" means the worker's clock or zone differs from this host's
  if age < -60 then return nil end
  return math.max(0, age)
end

return {
  description = "ARQ task queue: depth, deferred jobs and due times, in-progress jobs, failed results, worker health-check age",
  categories = { "queue", "check", "safe" },
  guide = {
    "daily-checklist.6", "task-queue-management.2", "task-queue-management.3",
    "task-queue-management.7", "daily-tasks.7", "daily-commands.4", "background-task-types.4",
    "background-task-types.5",
  },
  args = {
    { name = "url", help = "task-queue Redis URL (default: config task_queue_redis_url, redis://localhost:6379/1)" },
    { name = "timeout", type = "number", default = 5, help = "seconds for the connection and each command" },
    { name = "queue", help = "queue name (default: config task_queue_name, arq:queue)" },
    { name = "health_key", help = "worker health-check key (default: <queue>:health-check)" },
    { name = "health_interval", type = "number", default = 3600, help = "the workers' health_check_interval in seconds (ARQ's default 3600; the origin system uses 60)" },
    { name = "list", type = "integer", default = 10, help = "deferred and in-progress jobs listed" },
    { name = "max_results", type = "integer", default = 10000, help = "result keys read at most" },
    { name = "rate", type = "number", default = 0, help = "seconds to measure the enqueue and dequeue rates over (0: not measured)" },
    { name = "rate_max_jobs", type = "integer", default = 100000, help = "deeper queues get only their net change measured" },
    { name = "depth_warn", type = "integer", default = 1000 },
    { name = "depth_crit", type = "integer", default = 10000 },
  },
  run = function(args, ctx)
    local url = args.url or config.get("task_queue_redis_url") or "redis://localhost:6379/1"
    local queue = args.queue or config.get("task_queue_name") or arq.keys.default_queue
    local r, err = redis.connect { url = url, timeout = args.timeout }
    if not r then return ctx:crit("queue.redis", "task-queue Redis is not reachable: " .. tostring(err), { up = 0 }) end
    local refusal = require("opsh.units").redis_cluster_refusal(r, "arq")
    if refusal then r:close(); return ctx:unknown("queue.redis", refusal) end
    local now = math.floor(time.now() * 1000)

    -- depth: ready (due) and deferred
    local replies, perr = r:pipeline(function(p)
      p:call("ZCARD", queue)
      p:call("ZCOUNT", queue, "-inf", tostring(now))
      p:call("ZRANGEBYSCORE", queue, "(" .. now, "+inf", "WITHSCORES", "LIMIT", "0", tostring(args.list))
      p:call("TYPE", queue)
    end)
    if not replies then r:close(); return ctx:crit("queue.redis", "queue read failed: " .. tostring(perr)) end
    local qtype = replies[4]
    if type(qtype) == "table" then qtype = qtype.ok or qtype[1] end
    if qtype ~= "zset" and qtype ~= "none" then
      r:close()
      return ctx:crit("queue.depth", ("%s is a %s, not ARQ's sorted set: wrong queue name or database?"):format(queue, tostring(qtype)))
    end
    local depth, ready = replies[1], replies[2]
    local deferred = depth - ready
    ctx:threshold("queue.depth", depth, args.depth_warn, args.depth_crit,
      ("%s: %d job(s), %d due, %d deferred"):format(queue, depth, ready, deferred),
      { depth = depth, ready = ready, deferred = deferred })

    if args.rate > 0 then
      local rates, rerr, start_depth = measure_rates(r, queue, args.rate, args.rate_max_jobs)
      if rates then
        local enq_s, deq_s = rates.enqueued / rates.seconds, rates.dequeued / rates.seconds
        ctx:ok("queue.rate", ("%.2f job(s)/s enqueued, %.2f/s dequeued over %.1f s (%d in, %d out; lower bounds: see --help)"):format(
          enq_s, deq_s, rates.seconds, rates.enqueued, rates.dequeued),
          { enqueue_per_s = enq_s, dequeue_per_s = deq_s, enqueued = rates.enqueued, dequeued = rates.dequeued })
      else
        local after = r:call("ZCARD", queue)
        ctx:ok("queue.rate", ("rates not measured (%s): net change %+d job(s) over %.1f s"):format(tostring(rerr),
          (tonumber(after) or 0) - (tonumber(start_depth) or 0), args.rate), { net_change = (tonumber(after) or 0) - (tonumber(start_depth) or 0) })
      end
    end

    local d = replies[3]
    for i = 1, #d, 2 do
      local id, score = d[i], math.floor(tonumber(d[i + 1]))
      local raw = r:get(arq.keys.job .. id)
      local what = "job payload missing"
      if type(raw) == "string" then
        local job, jerr = arq.decode_job(raw)
        if job then
          local a = {}
          for _, v in ipairs(job.args) do a[#a + 1] = tostring(v) end
          for k, v in pairs(job.kwargs) do a[#a + 1] = tostring(k) .. "=" .. tostring(v) end
          what = job["function"] .. "(" .. table.concat(a, ", ") .. ")"
        else
          what = "undecodable: " .. tostring(jerr)
        end
      end
      ctx:ok("queue.deferred", ("%s %s due %s (in %s)"):format(id, what, iso_ms(score),
        time.format_duration((score - now) / 1000)), { due_ms = score })
    end

    -- in progress and results: SCAN, bounded
    local running, listed = 0, 0
    for key in r:scan { match = arq.keys.in_progress .. "*", count = 500 } do
      running = running + 1
      if listed < args.list then
        listed = listed + 1
        local id = key:sub(#arq.keys.in_progress + 1)
        local try = r:get(arq.keys.retry .. id)
        ctx:ok("queue.in_progress", ("%s running (try %s)"):format(id, type(try) == "string" and try or "?"))
      end
    end
    local results, failed, bad, scanned = 0, 0, 0, 0
    local by_error = {}
    for key in r:scan { match = arq.keys.result .. "*", count = 500 } do
      scanned = scanned + 1
      if scanned > args.max_results then break end
      local raw = r:get(key)
      if type(raw) == "string" then
        local res = arq.decode_result(raw)
        if not res then bad = bad + 1
        else
          results = results + 1
          if not res.success then
            failed = failed + 1
            local e = res.error or "failed"
            by_error[e] = (by_error[e] or 0) + 1
          end
        end
      end
    end
    ctx:ok("queue.in_progress_total", ("%d job(s) in progress"):format(running), { in_progress = running })
    local parts = {}
    for e, n in pairs(by_error) do parts[#parts + 1] = ("%d× %s"):format(n, e) end
    table.sort(parts)
    local msg = ("%d result(s) kept, %d failed%s%s"):format(results, failed,
      #parts > 0 and (": " .. table.concat(parts, "; ")) or "",
      bad > 0 and (", %d undecodable"):format(bad) or "")
    if failed > 0 then ctx:warn("queue.failed", msg .. " (queue/failed lists them, queue/retry re-enqueues)", { failed = failed, results = results })
    else ctx:ok("queue.failed", msg, { failed = failed, results = results }) end

    -- worker health
    local hkey = args.health_key or (queue .. arq.keys.health_check_suffix)
    local hc = r:pipeline(function(p) p:call("GET", hkey); p:call("PTTL", hkey) end)
    r:close()
    local value, pttl = hc and hc[1], hc and hc[2]
    if type(value) ~= "string" then
      return ctx:crit("queue.worker", ("no worker health record at %s: no ARQ worker running (or a different queue/database)"):format(hkey), { worker_up = 0 })
    end
    -- ARQ's record starts with the worker's local time ("Nov-29 07:06:25"): the age from it does
    -- not depend on knowing the worker's interval; the TTL (interval + 1 at each write) is the fallback
    local age = record_age(value)
    if not age and pttl and pttl > 0 then age = args.health_interval + 1 - pttl / 1000 end
    local m = { worker_up = 1, health_age_s = age }
    local text = ("%s: %s"):format(hkey, value)
    if age and age > 2 * args.health_interval + 1 then
      ctx:warn("queue.worker", text .. (" (written %.0f s ago: longer than the interval)"):format(age), m)
    else
      ctx:ok("queue.worker", text .. (age and (" (written %.0f s ago)"):format(math.max(0, age)) or ""), m)
    end
  end,
}
