-- queue/failed: failed ARQ jobs. ARQ has no dead-letter queue: a job that failed (an exception,
-- a timeout, "max N retries exceeded", an abort) exists only as its arq:result:<id> record,
-- kept for keep_result seconds (3600 by default). This reads them all (SCAN, bounded) and
-- decodes them with opsh.arq. Reads only.
local redis = require "opsh.redis"
local config = require "opsh.config"
local arq = require "opsh.arq"
local time = require "opsh.time"

local function describe(v, depth)
  depth = depth or 0
  if type(v) ~= "table" or depth > 2 then return tostring(v) end
  if getmetatable(v) and (arq.is_bytes(v) or v.digits or v.class) then return tostring(v) end
  local parts, n = {}, 0
  for k, x in pairs(v) do
    n = n + 1
    if n > 8 then parts[#parts + 1] = "…"; break end
    parts[#parts + 1] = (math.type(k) == "integer" and "" or (tostring(k) .. "=")) .. describe(x, depth + 1)
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

return {
  description = "Failed ARQ jobs (their result records): id, function, arguments, error, try, when",
  categories = { "queue", "check", "safe" },
  guide = { "task-queue-management.8" },
  args = {
    { name = "url", help = "task-queue Redis URL (default: config task_queue_redis_url)" },
    { name = "func", help = "only jobs of this function" },
    { name = "limit", type = "integer", default = 50, help = "failed jobs listed" },
    { name = "max_results", type = "integer", default = 10000, help = "result keys read at most" },
  },
  run = function(args, ctx)
    local url = args.url or config.get("task_queue_redis_url") or "redis://localhost:6379/1"
    local r, err = redis.connect(url)
    if not r then return ctx:crit("queue.redis", "task-queue Redis is not reachable: " .. tostring(err), { up = 0 }) end
    local refusal = require("opsh.units").redis_cluster_refusal(r, "arq")
    if refusal then r:close(); return ctx:unknown("queue.redis", refusal) end
    local failed, scanned, listed = {}, 0, 0
    for key in r:scan { match = arq.keys.result .. "*", count = 500 } do
      scanned = scanned + 1
      if scanned > args.max_results then break end
      local raw = r:get(key)
      if type(raw) == "string" then
        local id = key:sub(#arq.keys.result + 1)
        local res, derr = arq.decode_result(raw)
        if not res then
          failed[#failed + 1] = { id = id, finish = 0, text = "undecodable result: " .. tostring(derr) }
        elseif not res.success and (not args.func or res["function"] == args.func) then
          failed[#failed + 1] = { id = id, finish = res.finish_time_ms, text = ("%s(%s) try %s: %s, finished %s"):format(
            res["function"], describe(res.args):sub(2, -2) .. (next(res.kwargs) and (", " .. describe(res.kwargs):sub(2, -2)) or ""),
            tostring(res.job_try), res.error or "failed", time.iso(res.finish_time_ms / 1000)) }
        end
      end
    end
    r:close()
    table.sort(failed, function(a, b) return a.finish > b.finish end)
    for _, f in ipairs(failed) do
      listed = listed + 1
      if listed > args.limit then break end
      ctx:warn("queue.failed." .. f.id, f.text)
    end
    if #failed == 0 then ctx:ok("queue.failed", ("no failed jobs among %d result(s)"):format(scanned), { failed = 0 })
    else ctx:warn("queue.failed", ("%d failed job(s)%s"):format(#failed, #failed > args.limit and (", newest %d shown"):format(args.limit) or ""),
      { failed = #failed }) end
  end,
}
