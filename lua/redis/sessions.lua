-- Sessions report: how many `session:*` keys there are (SCAN, never KEYS), how many have no
-- TTL (those never expire: redis/sessions-cleanup removes them), and creation/deletion rates.
--
-- Rates, and why this mechanism. The guide runs `redis-cli monitor | grep`, but MONITOR
-- streams every command of every client and costs the server about half its throughput while
-- it runs; keyspace notifications are exact but need `CONFIG SET notify-keyspace-events`, a
-- server-wide change that makes every write publish a message. So by default this script
-- samples: it remembers the session keys seen by one SCAN pass, waits --window seconds, scans
-- again and diffs the two sets (created = new names, deleted = names gone). It changes nothing
-- on the server and costs two SCAN passes. It is a lower bound: a session created and deleted
-- inside the window is seen by neither pass, and SCAN may or may not return a key created or
-- deleted while a pass runs. Above --max-tracked keys only the net change is reported.
-- With --use-notifications it instead enables keyspace events for the window (adding the flags
-- K g x e n to whatever is configured), counts `new` (created) and `del`/`expired`/`evicted`
-- (deleted) events for the pattern on a separate connection, and restores the previous
-- notify-keyspace-events value afterwards, also when the subscription fails. That is exact,
-- costs one pub/sub message per write while enabled, and needs Redis >= 7 for `n` events.
-- Under --dry-run the CONFIG SET is refused, so the script says what it would do and samples.
local redis = require "opsh.redis"
local units = require "opsh.units"
local auth_hint = units.redis_auth_hint
local config = require "opsh.config"
local time = require "opsh.time"
local opsh = require "opsh"

-- One SCAN pass; TTLs pipelined per SCAN page. Returns count, without_ttl, set (or nil past max).
local function pass(r, match, count, max_tracked, want_ttl)
  local seen, n, no_ttl, page = {}, 0, 0, {}
  local function flush()
    if #page == 0 then return end
    if want_ttl then
      local replies = assert(r:pipeline(function(p) for _, k in ipairs(page) do p:call("TTL", k) end end))
      for _, ttl in ipairs(replies) do if ttl == -1 then no_ttl = no_ttl + 1 end end
    end
    page = {}
  end
  for key in r:scan { match = match, count = count } do
    if seen and not seen[key] then
      seen[key] = true
      n = n + 1
      page[#page + 1] = key
      if n > max_tracked then seen = nil end
    elseif not seen then
      n = n + 1
      page[#page + 1] = key
    end
    if #page >= 500 then flush() end
  end
  flush()
  return n, no_ttl, seen
end

local function current_db(r, url)
  local ci = r:call("CLIENT", "INFO")
  if type(ci) == "string" then
    local db = ci:match("db=(%d+)")
    if db then return tonumber(db) end
  end
  local db = tostring(url or ""):match("^rediss?://[^/]*/(%d+)") or tostring(url or ""):match("[?&]db=(%d+)")
  return tonumber(db) or 0
end

-- Keyspace notifications for the window; restores the previous setting. Returns created, deleted or nil, err.
local function by_notifications(r, url, match, window)
  local old = r:call("CONFIG", "GET", "notify-keyspace-events")
  if type(old) ~= "table" then return nil, "CONFIG GET notify-keyspace-events failed: " .. tostring(select(2, r:call("PING")) or "") end
  old = old[2] or ""
  local flags = old
  for f in ("Kgxen"):gmatch(".") do if not flags:find(f, 1, true) and not (f ~= "K" and f ~= "n" and flags:find("A", 1, true)) then flags = flags .. f end end
  local ok, err = r:call("CONFIG", "SET", "notify-keyspace-events", flags)
  if not ok then return nil, "CONFIG SET notify-keyspace-events " .. flags .. " refused: " .. tostring(err) end
  local created, deleted = 0, 0
  local sub, serr = redis.connect(url)
  local pok, perr = false, serr
  if sub then
    pok, perr = pcall(function()
      local pattern = string.format("__keyspace@%d__:%s", current_db(r, url), match)
      for _, event in sub:psubscribe({ pattern }, { max = 100000000, duration = window }) do
        if event == "new" then created = created + 1
        elseif event == "del" or event == "expired" or event == "evicted" then deleted = deleted + 1 end
      end
    end)
    sub:close()
  end
  local rok, rerr = r:call("CONFIG", "SET", "notify-keyspace-events", old)
  if not rok then
    return nil, string.format("could not restore notify-keyspace-events to '%s': %s (set it by hand)", old, tostring(rerr))
  end
  if not pok then return nil, "subscription failed: " .. tostring(perr) .. " (notify-keyspace-events restored)" end
  return created, deleted, old
end

return {
  description = "Counts sessions (SCAN), those without a TTL, and session creation/deletion rates over a window",
  categories = { "redis", "sessions", "check", "safe" },
  guide = { "daily-tasks.6", "user-session-management.1", "user-session-management.3" },
  args = {
    { name = "url", help = "Redis URL (default: the configured redis_url / REDIS_URL)" },
    { name = "match", default = "session:*", help = "session key pattern" },
    { name = "count", type = "integer", default = 1000, help = "SCAN COUNT hint per page" },
    { name = "window", type = "number", default = 10, help = "seconds over which to measure creation/deletion rates (0: skip)" },
    { name = "use_notifications", type = "boolean", default = false,
      help = "measure rates with keyspace notifications (temporarily changes notify-keyspace-events, restored after) instead of sampling" },
    { name = "max_tracked", type = "integer", default = 500000, help = "largest number of session names remembered for the sampled rates" },
    { name = "no_ttl_warn", type = "integer", default = 1, help = "sessions without a TTL for WARNING (0: never warn)" },
  },
  notes = "Rates: two SCAN passes --window seconds apart, diffed (default; changes nothing), or keyspace\n"
    .. "notifications with --use-notifications (exact; enables K,g,x,e,n events for the window and restores the\n"
    .. "previous setting). MONITOR is never used: it halves the server's throughput.",
  run = function(args, ctx)
    local url = (args.url and args.url ~= "") and args.url or config.get("redis_url")
    local r, err = redis.connect(url)
    if not r then return ctx:crit("sessions", "Redis is not reachable: " .. tostring(err) .. auth_hint(err), { up = 0 }) end
    local t0 = time.monotonic()
    local ok, n, no_ttl, set1 = pcall(pass, r, args.match, args.count, args.max_tracked, true)
    if not ok then r:close(); return ctx:crit("sessions", "SCAN failed: " .. tostring(n)) end
    local t1 = time.monotonic()
    ctx:ok("sessions.count", string.format("%d keys match %s", n, args.match), { sessions = n, scan_s = t1 - t0 })
    local msg = string.format("%d of %d sessions have no TTL and never expire", no_ttl, n)
    if args.no_ttl_warn > 0 and no_ttl >= args.no_ttl_warn then
      ctx:warn("sessions.no_ttl", msg .. ": run redis/sessions-cleanup", { without_ttl = no_ttl })
    else
      ctx:ok("sessions.no_ttl", msg, { without_ttl = no_ttl })
    end
    if args.window <= 0 then r:close(); return end

    if args.use_notifications and not ctx.dry_run then
      local created, deleted, old = by_notifications(r, url, args.match, args.window)
      r:close()
      if not created then return ctx:unknown("sessions.rate", "keyspace notifications: " .. tostring(deleted)) end
      return ctx:ok("sessions.rate", string.format(
        "keyspace notifications over %s: %d created, %d deleted or expired (%.2f/%.2f per minute); notify-keyspace-events restored to '%s'",
        time.format_duration(args.window), created, deleted, created / args.window * 60, deleted / args.window * 60, old),
        { created = created, deleted = deleted, created_per_min = created / args.window * 60,
          deleted_per_min = deleted / args.window * 60, window_s = args.window })
    end
    if args.use_notifications then
      ctx:ok("sessions.rate.notifications", "would: CONFIG SET notify-keyspace-events (+Kgxen) for the window; sampling instead under --dry-run")
    end
    opsh.sleep(args.window)
    local t2 = time.monotonic()
    local ok2, n2, _, set2 = pcall(pass, r, args.match, args.count, args.max_tracked, false)
    local t3 = time.monotonic()
    r:close()
    if not ok2 then return ctx:crit("sessions.rate", "second SCAN failed: " .. tostring(n2)) end
    local span = ((t2 + t3) - (t0 + t1)) / 2
    if set1 and set2 then
      local created, deleted = 0, 0
      for k in pairs(set2) do if not set1[k] then created = created + 1 end end
      for k in pairs(set1) do if not set2[k] then deleted = deleted + 1 end end
      ctx:ok("sessions.rate", string.format(
        "sampled over %s: %d created, %d deleted or expired (%.2f/%.2f per minute; a lower bound: sessions that lived less than the window are not seen)",
        time.format_duration(span), created, deleted, created / span * 60, deleted / span * 60),
        { created = created, deleted = deleted, created_per_min = created / span * 60,
          deleted_per_min = deleted / span * 60, window_s = span, net = n2 - n })
    else
      ctx:ok("sessions.rate", string.format(
        "more than %d sessions: net change only, %+d over %s (%.2f per minute); use --use-notifications for created/deleted",
        args.max_tracked, n2 - n, time.format_duration(span), (n2 - n) / span * 60),
        { net = n2 - n, net_per_min = (n2 - n) / span * 60, window_s = span })
    end
  end,
}
