-- The guide's cache failover, done through Redis Sentinel: the primary's replica becomes the
-- primary and the old primary its replica, without losing a write acknowledged to a client.
--
-- SENTINEL FAILOVER alone promotes the replica without stopping the old primary: a write it
-- acknowledges after the replica's promotion, and before Sentinel demotes it, is lost. So:
--   1. CLIENT PAUSE WRITE on the old primary (writes wait; reads go on), for --pause seconds
--   2. wait until the replica has every byte of the primary's replication stream
--   3. SENTINEL FAILOVER, then wait until the sentinels name the replica and it says ROLE master
--   4. wait until the old primary says it is a replica, then CLIENT UNPAUSE it: the writes that
--      waited are refused with READONLY, and a client that follows Sentinel (opsh's redis_url
--      sentinel://...) sends them again to the new primary
--   5. a probe write through the Sentinel URL must land on the new primary
-- --dry-run shows the plan and changes nothing.
local redis = require "opsh.redis"
local config = require "opsh.config"
local time = require "opsh.time"
local opsh = require "opsh"

-- sentinel://[user:pass@]h1:26379,h2:26379/service[/db]: the sentinels, the service and the credentials
local function parse(url)
  local rest = tostring(url):match("^sentinel://(.+)$") or tostring(url):match("^redis%+sentinel://(.+)$")
  if not rest then return nil end
  local userinfo, hosts, service = rest:match("^(.-)@?([^@/]+)/([^/?]+)")
  if not hosts then return nil end
  local user, pass = (userinfo or ""):match("^([^:]*):(.*)$")
  if not user and userinfo ~= "" then pass = userinfo end
  local list = {}
  for h in hosts:gmatch("[^,]+") do
    local host, port = h:match("^%[?([^%]]+)%]?:(%d+)$")
    list[#list + 1] = { host = host or h, port = tonumber(port) or 26379 }
  end
  return { sentinels = list, service = service, username = user ~= "" and user or nil, password = pass ~= "" and pass or nil }
end

local function role(conn)
  local r = conn and conn:call("ROLE")
  return type(r) == "table" and r[1] or nil
end

-- Polls fn() every 100 ms until it returns a true value or `seconds` pass.
local function wait_for(seconds, fn)
  local deadline = time.monotonic() + seconds
  repeat
    local v = fn()
    if v then return v end
    opsh.sleep(0.1)
  until time.monotonic() > deadline
  return nil
end

return {
  description = "Redis Sentinel failover without losing acknowledged writes: pause writes, SENTINEL FAILOVER, wait for the new primary, check writes reach it",
  categories = { "redis", "recovery", "intrusive" },
  guide = { "business-continuity.2" },
  args = {
    { name = "url", help = "sentinel://h1:26379,h2:26379/service (default: the configured redis_url)" },
    { name = "timeout", type = "number", default = 30, help = "seconds to wait for each step" },
    { name = "pause", type = "number", default = 20, help = "seconds the old primary holds writes at most (CLIENT PAUSE WRITE); it is unpaused as soon as it is demoted" },
  },
  run = function(args, ctx)
    local url = (args.url and args.url ~= "") and args.url or config.get("redis_url")
    local s = parse(url)
    if not s then
      return ctx:crit("redis.failover.url", "not a Sentinel URL: " .. tostring(url) .. " (expected sentinel://host:port,.../service)")
    end
    local sentinel, serr
    for _, h in ipairs(s.sentinels) do
      sentinel, serr = redis.connect { host = h.host, port = h.port, timeout = 5 }
      if sentinel then s.used = h.host .. ":" .. h.port break end
    end
    if not sentinel then return ctx:crit("redis.failover.sentinel", "no sentinel answered: " .. tostring(serr)) end
    local addr, aerr = sentinel:call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.service)
    if type(addr) ~= "table" then
      return ctx:crit("redis.failover.primary", "the sentinel at " .. s.used .. " does not know " .. s.service .. ": " .. tostring(aerr or "no such service"))
    end
    local old = { host = addr[1], port = tonumber(addr[2]) }
    local old_name = old.host .. ":" .. old.port
    local replicas = sentinel:call("SENTINEL", "REPLICAS", s.service) or {}
    local good, seen = {}, {}
    for _, r in ipairs(replicas) do
      local f = {}
      for i = 1, #r - 1, 2 do f[r[i]] = r[i + 1] end
      seen[#seen + 1] = string.format("%s:%s flags %s link %s", tostring(f.ip), tostring(f.port), tostring(f.flags), tostring(f["master-link-status"]))
      if not tostring(f.flags):find("down") and not tostring(f.flags):find("disconnected") and f["master-link-status"] == "ok" then
        good[#good + 1] = f.ip .. ":" .. f.port
      end
    end
    if #good == 0 then
      return ctx:crit("redis.failover.replicas", "no replica of " .. old_name .. " is up and in sync: a failover would have nothing to promote"
        .. (#seen > 0 and (" (" .. table.concat(seen, "; ") .. ")") or (" (the sentinel at " .. s.used .. " knows none)")))
    end
    local plan = string.format("pause writes on %s (at most %gs); wait until its replica (%s) has every write; "
      .. "SENTINEL FAILOVER %s via %s; wait for a new primary and for %s to be demoted; unpause it; check a write through %s lands on the new primary",
      old_name, args.pause, table.concat(good, ", "), s.service, s.used, old_name, url)
    if ctx.dry_run then
      return ctx:ok("redis.failover.plan", "would " .. plan)
    end

    local function node(host, port) return redis.connect { host = host, port = port, username = s.username, password = s.password, timeout = 5 } end
    local primary, perr = node(old.host, old.port)
    if not primary then return ctx:crit("redis.failover.primary", "cannot reach the primary " .. old_name .. ": " .. tostring(perr)) end
    local started = time.monotonic()
    local ok, err = primary:call("CLIENT", "PAUSE", math.floor(args.pause * 1000), "WRITE")
    if not ok then return ctx:crit("redis.failover.pause", "CLIENT PAUSE WRITE on " .. old_name .. " failed: " .. tostring(err)) end
    local function unpause() primary:call("CLIENT", "UNPAUSE") end

    -- the replica has everything the primary acknowledged
    local offset = tonumber(tostring(primary:call("INFO", "replication")):match("master_repl_offset:(%d+)")) or 0
    local synced = wait_for(args.timeout, function()
      for _, g in ipairs(good) do
        local h, p = g:match("^(.*):(%d+)$")
        local c = node(h, tonumber(p))
        local got = c and tonumber(tostring(c:call("INFO", "replication")):match("slave_repl_offset:(%d+)"))
        if c then c:close() end
        if got and got >= offset then return g end
      end
    end)
    if not synced then
      unpause()
      return ctx:crit("redis.failover.sync", "no replica reached the primary's replication offset " .. offset .. " within " .. args.timeout .. "s; writes unpaused, nothing changed")
    end
    ctx:ok("redis.failover.sync", synced .. " has every write of " .. old_name .. " (offset " .. offset .. ")")

    local f, ferr = sentinel:call("SENTINEL", "FAILOVER", s.service)
    if not f then
      unpause()
      return ctx:crit("redis.failover.start", "SENTINEL FAILOVER " .. s.service .. " refused: " .. tostring(ferr) .. "; writes unpaused, nothing changed")
    end
    local new_name = wait_for(args.timeout, function()
      local a = sentinel:call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.service)
      if type(a) ~= "table" or (a[1] .. ":" .. a[2]) == old_name then return nil end
      local c = node(a[1], tonumber(a[2]))
      local r = role(c)
      if c then c:close() end
      return r == "master" and (a[1] .. ":" .. a[2]) or nil
    end)
    if not new_name then
      unpause()
      return ctx:crit("redis.failover.promote", "no new primary within " .. args.timeout .. "s; " .. old_name .. " unpaused and still the primary")
    end
    local demoted = wait_for(args.timeout, function() return role(primary) == "slave" end)
    unpause()
    if not demoted then
      return ctx:crit("redis.failover.demote", new_name .. " is the primary but " .. old_name .. " still says it is one after " .. args.timeout
        .. "s: two primaries; the sentinels should reconfigure it, check SENTINEL REPLICAS " .. s.service)
    end
    ctx:ok("redis.failover", string.format("primary of %s moved from %s to %s in %.1fs", s.service, old_name, new_name, time.monotonic() - started),
      { seconds = time.monotonic() - started })

    -- writes through the Sentinel URL reach the new primary
    local client, cerr = redis.connect(url)
    local probe = "opsh:failover:probe"
    local stamp = tostring(time.now())
    local w, werr
    if client then w, werr = client:set(probe, stamp, { ex = 60 }) end
    local h, p = new_name:match("^(.*):(%d+)$")
    local direct = node(h, tonumber(p))
    local seen = direct and direct:get(probe)
    if w and seen == stamp then
      ctx:ok("redis.failover.writes", "a write through " .. url .. " landed on " .. new_name)
    else
      ctx:crit("redis.failover.writes", "a write through " .. url .. " did not reach " .. new_name .. ": " .. tostring(werr or cerr or ("read back " .. tostring(seen))))
    end
  end,
}
