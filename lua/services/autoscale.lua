-- The guide's auto-scaling of workers by load (Capacity Planning / Auto-scaling Procedures:
-- `docker-compose scale worker=3` above a threshold; Performance Optimization: back down when
-- load is low). The metric is measured unless --value gives it:
--   cpu    mean CPU % of the service's running containers (one stats sample; 100 = one core)
--   queue  jobs waiting in the ARQ queue (ZCARD of task_queue_name on task_queue_redis_url)
--   load   the host's 1-minute load average per CPU, in % (/proc/loadavg)
-- For cpu and queue, above --up the service is scaled to --max containers, below --down to --min;
-- in between nothing changes. For load the direction is the guide's automatic tuning
-- (Performance Optimization): a host whose load is above --up per CPU is saturated and more
-- workers would only compete for it, so it goes DOWN to --min; below --down it goes back UP to
-- --max. The report says which way and why. New containers are copies of the service's first container (labelled
-- opsh.created=true); scaling down removes only such copies, never the service's own container.
local services = require "opsh.services"
local redis = require "opsh.redis"
local config = require "opsh.config"
local fs = require "opsh.fs"

local function measure(d, args, list)
  if args.metric == "cpu" then
    local ids = {}
    for _, c in ipairs(list) do if c.State == "running" then ids[#ids + 1] = c.Id end end
    if #ids == 0 then return 0 end
    local st, errs = d:stats(ids)
    local sum = 0
    for _, s in ipairs(st) do sum = sum + s.cpu_percent end
    return #st > 0 and sum / #st or nil, next(errs) and tostring(select(2, next(errs))) or nil
  elseif args.metric == "queue" then
    local r, err = redis.connect(config.get("task_queue_redis_url"))
    if not r then return nil, "task queue Redis: " .. tostring(err) end
    local n, zerr = r:call("ZCARD", config.get("task_queue_name") or "arq:queue")
    r:close()
    return n, zerr and tostring(zerr)
  else
    local la = fs.read("/proc/loadavg")
    local cpu = fs.read("/proc/cpuinfo") or ""
    local n = 0
    for _ in cpu:gmatch("\nprocessor%s*:") do n = n + 1 end
    if cpu:match("^processor%s*:") then n = n + 1 end
    local one = la and tonumber(la:match("^(%S+)"))
    if not one then return nil, "cannot read /proc/loadavg" end
    return one / math.max(n, 1) * 100
  end
end

return {
  description = "Scales task-worker by cpu or queue depth (high: up to max), or by host load as the guide's auto-tuning does (high: down to min)",
  categories = { "services", "scaling", "action", "intrusive" },
  guide = { "auto-scaling-procedures.1", "task-queue-management.6" },
  args = {
    { name = "service", default = "task-worker", help = "service to scale" },
    { name = "project", help = "compose project (default: config compose_project, else the compose file's project)" },
    { name = "metric", default = "cpu", choices = { "cpu", "queue", "load" }, help = "what decides" },
    { name = "value", type = "number", help = "the metric's current value (measured when absent)" },
    { name = "up", type = "number", default = 80, help = "above this, scale to --max (--metric load: to --min, as the guide's auto-tuning)" },
    { name = "down", type = "number", default = 30, help = "below this, scale to --min (--metric load: to --max)" },
    { name = "min", type = "integer", default = 1, help = "containers at low load" },
    { name = "max", type = "integer", default = 3, help = "containers at high load" },
    { name = "timeout", type = "integer", default = 30, help = "seconds for a removed worker to finish (SIGTERM, then SIGKILL)" },
  },
  run = function(args, ctx)
    if args.min < 1 or args.max < args.min then error("--min must be at least 1 and --max at least --min", 0) end
    if args.down > args.up then error("--down must not be above --up", 0) end
    local d, err = services.connect()
    if not d then return ctx:crit("docker", tostring(err)) end
    local project, prerr = services.project(args.project, d)
    if prerr then return ctx:crit("docker", tostring(prerr)) end
    local list, lerr = services.containers(d, args.service, project)
    if not list then return ctx:crit("scale." .. args.service, tostring(lerr)) end
    if #list == 0 then return ctx:crit("scale." .. args.service, "no container for service " .. args.service) end
    local value, merr = args.value, nil
    if value == nil then value, merr = measure(d, args, list) end
    if value == nil then return ctx:unknown("scale." .. args.service, "cannot measure " .. args.metric .. ": " .. tostring(merr)) end
    local running = 0
    for _, c in ipairs(list) do if c.State == "running" then running = running + 1 end end
    local target, why = running, nil
    local high, low = args.max, args.min
    if args.metric == "load" then
      high, low = args.min, args.max
      why = "the guide's auto-tuning: high host load means fewer workers, low load more"
    end
    if value > args.up then target = high elseif value < args.down then target = low end
    local m = { value = value, before = running, target = target }
    if target == running then
      return ctx:ok("scale." .. args.service, string.format("%s = %.1f (up above %g, down below %g): %d running, unchanged",
        args.metric, value, args.up, args.down, running), m)
    end
    local r, serr = d:scale_service(args.service, target, { project = project, timeout = args.timeout })
    if not r then return ctx:crit("scale." .. args.service, "scaling to " .. target .. " failed: " .. tostring(serr), m) end
    m.after = r.after
    local verb = ctx.dry_run and "would scale" or "scaled"
    local text = string.format("%s = %.1f: %s %s from %d to %d", args.metric, value, verb, args.service, running, r.after)
    if #r.started > 0 then text = text .. "; started " .. table.concat(r.started, ", ") end
    if #r.removed > 0 then text = text .. "; removed " .. table.concat(r.removed, ", ") end
    if why then text = text .. " (" .. why .. ")" end
    if r.note then return ctx:warn("scale." .. args.service, text .. "; " .. r.note, m) end
    ctx:ok("scale." .. args.service, text, m)
  end,
}
