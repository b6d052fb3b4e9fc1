-- queue/events: the deployment:events stream that run_canary_deployment writes
-- (deployment_started / _completed / _failed): XINFO STREAM (length, first and last entry),
-- XINFO GROUPS (the deployment_monitor consumer group's pending and lag), and the newest
-- entries (XREVRANGE, bounded by --count) or those after --since (XREAD). Reads only.
local redis = require "opsh.redis"
local config = require "opsh.config"

local function pairs_of(flat)
  local t = {}
  if type(flat) ~= "table" then return t end
  for i = 1, #flat - 1, 2 do t[flat[i]] = flat[i + 1] end
  return t
end

local function fields_text(f)
  local keys = {}
  for k in pairs(f) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. tostring(f[k]) end
  return table.concat(parts, " ")
end

return {
  description = "Deployment event stream: length, consumer groups (pending, lag), newest events; failed deployments flagged",
  categories = { "queue", "deployment", "check", "safe" },
  guide = { "background-task-types.7", "background-task-types.8", "background-task-types.9" },
  args = {
    { name = "stream", default = "deployment:events" },
    { name = "count", type = "integer", default = 20, help = "entries shown (at most 1000)" },
    { name = "since", help = "show entries after this stream id (XREAD) instead of the newest" },
    { name = "url", help = "Redis URL (default: config task_queue_redis_url, where the task writes it)" },
  },
  run = function(args, ctx)
    local count = math.max(1, math.min(args.count, 1000))
    local url = args.url or config.get("task_queue_redis_url") or "redis://localhost:6379/1"
    local r, err = redis.connect(url)
    if not r then return ctx:crit("events.redis", "Redis is not reachable: " .. tostring(err), { up = 0 }) end
    local info, ierr = r:call("XINFO", "STREAM", args.stream)
    if not info then
      r:close()
      if tostring(ierr):find("no such key", 1, true) then
        return ctx:ok("events.stream", args.stream .. " does not exist (no deployment has run)", { length = 0 })
      end
      return ctx:crit("events.stream", "XINFO STREAM failed: " .. tostring(ierr))
    end
    local s = pairs_of(info)
    ctx:ok("events.stream", ("%s: %d entries, last id %s"):format(args.stream, tonumber(s.length) or 0, tostring(s["last-generated-id"])),
      { length = tonumber(s.length) or 0, groups = tonumber(s.groups) or 0 })
    local groups = r:call("XINFO", "GROUPS", args.stream)
    for _, g in ipairs(type(groups) == "table" and groups or {}) do
      local gi = pairs_of(g)
      local pending = tonumber(gi.pending) or 0
      local lag = tonumber(gi.lag)
      local msg = ("group %s: %s consumer(s), %d pending, last delivered %s%s"):format(tostring(gi.name), tostring(gi.consumers),
        pending, tostring(gi["last-delivered-id"]), lag and (", lag " .. lag) or "")
      if pending > 0 then ctx:warn("events.group." .. tostring(gi.name), msg, { pending = pending, lag = lag })
      else ctx:ok("events.group." .. tostring(gi.name), msg, { pending = pending, lag = lag }) end
    end
    local entries = {}
    if args.since then
      local res, xerr = r:xread({ [args.stream] = args.since }, { count = count })
      if res == nil then r:close(); return ctx:crit("events.read", "XREAD failed: " .. tostring(xerr)) end
      for _, e in ipairs(type(res) == "table" and res[args.stream] or {}) do entries[#entries + 1] = e end
    else
      local res, xerr = r:call("XREVRANGE", args.stream, "+", "-", "COUNT", tostring(count))
      if not res then r:close(); return ctx:crit("events.read", "XREVRANGE failed: " .. tostring(xerr)) end
      for i = #res, 1, -1 do entries[#entries + 1] = { id = res[i][1], fields = pairs_of(res[i][2]) } end
    end
    r:close()
    local failed = 0
    for _, e in ipairs(entries) do
      local text = e.id .. " " .. fields_text(e.fields)
      local kind = e.fields.event_type or e.fields.type or e.fields.event or ""
      if tostring(kind):find("fail", 1, true) then failed = failed + 1; ctx:warn("events.entry", text)
      else ctx:ok("events.entry", text) end
    end
    ctx:ok("events.read", ("%d entr%s shown"):format(#entries, #entries == 1 and "y" or "ies"), { shown = #entries, failed = failed })
  end,
}
