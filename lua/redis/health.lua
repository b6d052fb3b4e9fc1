-- Redis/DragonflyDB health: ping latency, memory, clients, keyspace, persistence, replication.
-- Reads only (PING, INFO, CONFIG GET). A server that is down or refuses the password is a
-- CRITICAL check with the reason, not a script error.
--
-- Thresholds: an argument given on the command line wins, then `thresholds` in config.lua
-- (keys redis_memory_warn, redis_memory_crit, redis_latency_warn_ms, redis_latency_crit_ms,
-- redis_clients_warn, redis_clients_crit, redis_blocked_warn, redis_save_age_warn), then the
-- defaults in the argument help.
--
-- DragonflyDB (detected from INFO server) names some fields differently: snapshots are
-- last_success_save / rdb_changes_since_last_success_save / last_saved_file (.dfs files),
-- there is no AOF, and maxmemory_policy is reported but cannot be changed with CONFIG SET
-- (eviction is the --cache_mode start flag). Each check says so when it applies.
local redis = require "opsh.redis"
local units = require "opsh.units"
local human = units.bytes_text
local auth_hint = units.redis_auth_hint
local config = require "opsh.config"
local thresholds = require "opsh.thresholds"
local time = require "opsh.time"

local DEFAULTS = {
  memory_warn = 80, memory_crit = 90, latency_warn_ms = 10, latency_crit_ms = 100,
  clients_warn = 80, clients_crit = 95, save_age_warn = 86400,
}

local function limit(args, name) return thresholds.get(args, "redis", name, DEFAULTS[name]) end

local function num(v) return tonumber(v) end

return {
  description = "Redis/DragonflyDB health: ping latency, memory, clients, keyspace, persistence, replication",
  categories = { "redis", "check", "daily", "safe" },
  guide = { "daily-checklist.3", "daily-checklist.6", "capacity-planning.6" },
  args = {
    { name = "url", help = "Redis URL (default: the configured redis_url / REDIS_URL)" },
    { name = "timeout", type = "number", default = 5, help = "seconds for the connection and each command" },
    { name = "memory_warn", type = "number", help = "used memory % of maxmemory (or of system memory without maxmemory) for WARNING (default 80)" },
    { name = "memory_crit", type = "number", help = "used memory % for CRITICAL (default 90)" },
    { name = "latency_warn_ms", type = "number", help = "PING round trip in ms for WARNING (default 10)" },
    { name = "latency_crit_ms", type = "number", help = "PING round trip in ms for CRITICAL (default 100)" },
    { name = "clients_warn", type = "number", help = "connected clients % of maxclients for WARNING (default 80)" },
    { name = "clients_crit", type = "number", help = "connected clients % of maxclients for CRITICAL (default 95)" },
    { name = "blocked_warn", type = "integer", help = "blocked clients (BLPOP, XREAD BLOCK, ...) for WARNING (default: report only)" },
    { name = "save_age_warn", type = "number", help = "seconds since the last successful snapshot with unsaved changes for WARNING (default 86400)" },
  },
  notes = "Thresholds: a command-line argument wins, then config.lua thresholds.redis_<name>, then the default.\n"
    .. "DragonflyDB: detected from INFO; snapshot fields (last_success_save, .dfs files) and the absence of AOF are handled.",
  run = function(args, ctx)
    local url = (args.url and args.url ~= "") and args.url or config.get("redis_url")
    local r, err = redis.connect { url = url, timeout = args.timeout }
    if not r then
      return ctx:crit("redis.ping", "Redis is not reachable: " .. tostring(err) .. auth_hint(err), { up = 0 })
    end
    local ms, perr = r:ping()
    if not ms then
      r:close()
      return ctx:crit("redis.ping", "PING failed: " .. tostring(perr) .. auth_hint(perr), { up = 0 })
    end
    ctx:threshold("redis.ping", ms, limit(args, "latency_warn_ms"), limit(args, "latency_crit_ms"),
      string.format("PONG in %.2f ms", ms), { up = 1, latency_ms = ms })

    local info, ierr = r:info("everything")
    if not info then info, ierr = r:info() end
    if not info then
      r:close()
      return ctx:unknown("redis.info", "INFO failed: " .. tostring(ierr))
    end
    local dragonfly = r:is_dragonfly()
    local server = info.server or {}
    local product = dragonfly and ("DragonflyDB " .. tostring(server.dragonfly_version or server.redis_version or "?"))
      or ("Redis " .. tostring(server.redis_version or "?"))
    ctx:ok("redis.server", string.format("%s, %s mode, up %s", product, tostring(server.redis_mode or server.server_mode or "standalone"),
      time.format_duration(num(server.uptime_in_seconds) or 0)),
      { uptime_s = num(server.uptime_in_seconds) or 0, dragonfly = dragonfly })

    -- Memory
    local mem = info.memory or {}
    local used, peak = num(mem.used_memory) or 0, num(mem.used_memory_peak) or 0
    local maxmemory = num(mem.maxmemory) or 0
    local policy = mem.maxmemory_policy
    if policy == nil then
      local c = r:call("CONFIG", "GET", "maxmemory-policy")
      policy = type(c) == "table" and c[2] or "?"
    end
    local base, basis = maxmemory, "maxmemory"
    if base == 0 then base, basis = num(mem.total_system_memory) or 0, "system memory (no maxmemory set)" end
    local metrics = { used_bytes = used, peak_bytes = peak, maxmemory_bytes = maxmemory }
    local policy_note = dragonfly and " (DragonflyDB: eviction is the --cache_mode start flag, not CONFIG SET)" or ""
    local detail = string.format("used %s, peak %s, maxmemory %s, policy %s%s", human(used), human(peak),
      maxmemory > 0 and human(maxmemory) or "unset", tostring(policy), policy_note)
    if base > 0 then
      local pct = used / base * 100
      metrics.used_percent = pct
      ctx:threshold("redis.memory", pct, limit(args, "memory_warn"), limit(args, "memory_crit"),
        string.format("%.1f%% of %s; %s", pct, basis, detail), metrics)
    else
      ctx:ok("redis.memory", detail, metrics)
    end
    if maxmemory > 0 and policy == "noeviction" and (used / maxmemory) * 100 >= limit(args, "memory_warn") then
      ctx:warn("redis.memory.policy", "maxmemory-policy noeviction near the limit: writes will fail with OOM once maxmemory is reached")
    end

    -- Clients
    local cl = info.clients or {}
    local connected, blocked = num(cl.connected_clients) or 0, num(cl.blocked_clients) or 0
    local maxclients = num(cl.maxclients)
    if not maxclients then
      local c = r:call("CONFIG", "GET", "maxclients")
      maxclients = type(c) == "table" and num(c[2]) or nil
    end
    local cm = { connected = connected, blocked = blocked, maxclients = maxclients or 0 }
    local cmsg = string.format("%d connected%s, %d blocked", connected,
      maxclients and (" of " .. maxclients) or "", blocked)
    if maxclients and maxclients > 0 then
      cm.connected_percent = connected / maxclients * 100
      ctx:threshold("redis.clients", cm.connected_percent, limit(args, "clients_warn"), limit(args, "clients_crit"), cmsg, cm)
    else
      ctx:ok("redis.clients", cmsg, cm)
    end
    if args.blocked_warn and blocked >= args.blocked_warn then
      ctx:warn("redis.clients.blocked", string.format("%d clients blocked (threshold %d)", blocked, args.blocked_warn), { blocked = blocked })
    end

    -- Keyspace, per database
    local ks = info.keyspace or {}
    local dbs = {}
    for db in pairs(ks) do dbs[#dbs + 1] = db end
    table.sort(dbs)
    local total = 0
    for _, db in ipairs(dbs) do
      local v = ks[db]
      if type(v) == "string" then
        local t = {}
        for k, x in v:gmatch("(%w+)=([%d%.]+)") do t[k] = tonumber(x) end
        v = t
      end
      local keys, expires = num(v.keys) or 0, num(v.expires) or 0
      total = total + keys
      ctx:ok("redis.keyspace." .. db, string.format("%d keys, %d with a TTL, avg TTL %s", keys, expires,
        time.format_duration((num(v.avg_ttl) or 0) / 1000)),
        { keys = keys, expires = expires, avg_ttl_ms = num(v.avg_ttl) or 0 })
    end
    ctx:ok("redis.keyspace", string.format("%d keys in %d databases", total, #dbs), { keys = total, databases = #dbs })

    -- Persistence
    local p = info.persistence or {}
    local now = time.now()
    local last_save = num(p.rdb_last_save_time) or num(p.last_success_save)
    local changes = num(p.rdb_changes_since_last_save) or num(p.rdb_changes_since_last_success_save) or 0
    local status = p.rdb_last_bgsave_status
    if dragonfly and status == nil then
      status = (p.last_error and p.last_error ~= "" and p.last_error ~= "0") and "err" or "ok"
    end
    local save_cfg = r:call("CONFIG", "GET", "save")
    local schedule = type(save_cfg) == "table" and save_cfg[2] or nil
    if dragonfly then
      local c = r:call("CONFIG", "GET", "snapshot_cron")
      if type(c) == "table" and c[2] and c[2] ~= "" then schedule = "cron " .. c[2] end
    end
    local aof = num(p.aof_enabled) == 1
    local rdb_name = dragonfly and "snapshot (.dfs)" or "RDB"
    local pm = { changes_since_save = changes, aof_enabled = aof }
    if last_save and last_save > 0 then pm.last_save_age_s = now - last_save end
    local saves_configured = schedule ~= nil and schedule ~= ""
    local age_txt = pm.last_save_age_s and (time.format_duration(math.max(0, math.floor(pm.last_save_age_s))) .. " ago") or "never"
    local rmsg = string.format("%s last save %s, status %s, %d changes since, schedule %s", rdb_name, age_txt,
      tostring(status or "?"), changes, saves_configured and ("'" .. schedule .. "'") or "none")
    if status == "err" then
      ctx:crit("redis.persistence.rdb", rmsg .. ": the last background save FAILED (disk full or permissions?)", pm)
    elseif not saves_configured and not aof then
      ctx:warn("redis.persistence.rdb", rmsg .. ": no snapshots and no AOF, a restart loses users, API keys and sessions", pm)
    elseif changes > 0 and pm.last_save_age_s and pm.last_save_age_s > limit(args, "save_age_warn") and saves_configured then
      ctx:warn("redis.persistence.rdb", rmsg .. string.format(": unsaved changes older than %s",
        time.format_duration(limit(args, "save_age_warn"))), pm)
    else
      ctx:ok("redis.persistence.rdb", rmsg, pm)
    end
    if dragonfly then
      ctx:ok("redis.persistence.aof", "DragonflyDB has no AOF: durability comes from snapshots only", { aof_enabled = false })
    elseif aof then
      local rw, wr = p.aof_last_bgrewrite_status, p.aof_last_write_status
      local amsg = string.format("AOF on, last rewrite %s, last write %s", tostring(rw), tostring(wr))
      if rw == "err" or wr == "err" then ctx:crit("redis.persistence.aof", amsg, { aof_enabled = true })
      else ctx:ok("redis.persistence.aof", amsg, { aof_enabled = true }) end
    else
      ctx:ok("redis.persistence.aof", "AOF off", { aof_enabled = false })
    end

    -- Replication
    local rep = info.replication or {}
    local role = rep.role or "?"
    local replicas = num(rep.connected_slaves) or 0
    if role == "master" then
      local names = {}
      for i = 0, replicas - 1 do
        local s = rep["slave" .. i]
        if type(s) == "table" then s = string.format("%s:%s %s lag %s", tostring(s.ip), tostring(s.port), tostring(s.state), tostring(s.lag)) end
        if s then names[#names + 1] = tostring(s) end
      end
      ctx:ok("redis.replication", string.format("role master, %d connected replicas%s", replicas,
        #names > 0 and (": " .. table.concat(names, "; ")) or ""), { replicas = replicas, master = true })
    elseif role == "slave" or role == "replica" then
      local link = rep.master_link_status
      local msg = string.format("role replica of %s:%s, link %s, last I/O %ss ago", tostring(rep.master_host),
        tostring(rep.master_port), tostring(link), tostring(rep.master_last_io_seconds_ago))
      if link ~= "up" then ctx:crit("redis.replication", msg, { replicas = replicas, master = false, link_up = false })
      else ctx:ok("redis.replication", msg, { replicas = replicas, master = false, link_up = true }) end
    else
      ctx:ok("redis.replication", "role " .. tostring(role), { replicas = replicas })
    end
    r:close()
  end,
}
