-- The guide's automated failover (Disaster Recovery / Business Continuity, "Failover
-- Procedures"), with a way back:
--   cache      to the backup Redis (config failover.cache.backup_url): the guide's
--              `export REDIS_URL=redis://backup-redis:6379; docker-compose restart api`
--   vector_db  to the secondary Qdrant (config failover.vector_db.secondary_url): the guide's
--              `sed -i 's/primary-db:6333/secondary-db:6333/' docker-compose.yml; up -d`
-- Steps, each in the report:
--   1. the target is checked first: Redis answers PING and takes a write (a key with a 60 s
--      TTL, read back and deleted); Qdrant answers /readyz and holds every collection the
--      primary holds (when the primary still answers, with point counts compared). A target
--      that fails is not switched to, and nothing is changed.
--   2. the application's environment file (config failover.env_file, else the .env beside the
--      compose file) gets the new REDIS_URL / QDRANT_URL (the variable: failover.cache.env /
--      failover.vector_db.env), written atomically with its mode kept; the previous file is
--      kept beside it (.env.before-failover-<UTC time>).
--   3. the application's containers (config failover.services, default api and task-worker) of
--      the compose project (services.project: never another project's) are recreated with the
--      new value in their environment: a restart does not re-read an .env, so the guide's
--      `export` then `restart` changes nothing inside a container. Each must run (and be
--      healthy when it has a health check) within --health_timeout, else it is put back as it
--      was; then every container already switched and the environment file go back too.
--   4. opsh itself follows: state_dir/failover.json records the switch, and state_dir/
--      failover.env holds the endpoint in force, which opsh's configuration reads above the
--      environment until --back (`opsh config` shows the source).
-- --back reverses the last switch of that kind the same way, to the endpoint it came from (the
-- primary is checked first like any target). --dry-run shows the plan and changes nothing.
local config = require "opsh.config"
local redis = require "opsh.redis"
local qdrant = require "opsh.qdrant"
local services = require "opsh.services"
local fs = require "opsh.fs"
local json = require "opsh.json"
local time = require "opsh.time"
local state = require "opsh.state"
local crypto = require "opsh.crypto"
local dotenv = require "opsh.dotenv"

local KINDS = {
  cache = { setting = "redis_url", env = "REDIS_URL", target = "backup_url" },
  vector_db = { setting = "qdrant_url", env = "QDRANT_URL", target = "secondary_url" },
}
local DEFAULT_SERVICES = { "api", "task-worker" }

local function settings()
  local f = config.get("failover") or {}
  if type(f) ~= "table" then error("failover must be a table {env_file =, services =, cache = {...}, vector_db = {...}}", 0) end
  return f
end

local function state_path() return state.dir() .. "/failover.json" end

local function load_state()
  local text = fs.read(state_path())
  if not text then return {} end
  local ok, s = pcall(json.decode, text)
  if not ok or type(s) ~= "table" then error("failover state " .. state_path() .. " is not valid JSON: fix or remove it", 0) end
  return s
end

local function check_redis(ctx, url)
  local r, err = redis.connect { url = url, timeout = 5 }
  if not r then ctx:crit("failover.target", url .. " does not answer: " .. tostring(err)); return false end
  local pong, perr = r:call("PING")
  if pong ~= "PONG" then r:close(); ctx:crit("failover.target", url .. " does not answer PING: " .. tostring(perr or pong)); return false end
  if ctx.dry_run then
    r:close()
    ctx:ok("failover.target", url .. " answers PING (the write probe is not made under --dry-run)")
    return true
  end
  local key = "opsh:failover:probe:" .. crypto.random_hex(4)
  local ok, werr = r:call("SET", key, "1", "EX", "60")
  local back = ok and r:call("GET", key)
  if ok then r:call("DEL", key) end
  r:close()
  if not ok then ctx:crit("failover.target", url .. " refuses a write: " .. tostring(werr) .. " (a replica? promote it first)"); return false end
  if back ~= "1" then ctx:crit("failover.target", url .. " did not read back what was written"); return false end
  ctx:ok("failover.target", url .. " answers and takes writes")
  return true
end

local function check_qdrant(ctx, url, from)
  local q = qdrant.connect { url = url, timeout = 5 }
  local ready, err = q:ready()
  if not (ready and ready.ok) then
    ctx:crit("failover.target", url .. " is not ready: " .. tostring(err or ("readyz answered HTTP " .. tostring(ready.status))))
    return false
  end
  local names, nerr = q:collections()
  if not names then ctx:crit("failover.target", url .. " does not list its collections: " .. tostring(nerr)); return false end
  local have = {}
  for _, n in ipairs(names) do have[n] = true end
  local p = from and qdrant.connect { url = from, timeout = 5 }
  local primary = p and p:collections()
  if not primary then
    ctx:warn("failover.target.collections", string.format("%s holds %d collection(s); the primary does not answer, so they are not compared", url, #names))
    return true
  end
  local missing, behind = {}, {}
  for _, n in ipairs(primary) do
    if not have[n] then missing[#missing + 1] = n
    else
      local a, b = p:count(n), q:count(n)
      if type(a) == "number" and type(b) == "number" and b < a then behind[#behind + 1] = string.format("%s %d of %d points", n, b, a) end
    end
  end
  if #missing > 0 then
    ctx:crit("failover.target", url .. " lacks collection(s) " .. table.concat(missing, ", ") .. " the primary holds: not switched")
    return false
  end
  ctx[#behind > 0 and "warn" or "ok"](ctx, "failover.target", url .. " is ready with every collection of the primary"
    .. (#behind > 0 and ("; behind: " .. table.concat(behind, ", ")) or ""))
  return true
end

-- writes the failover record and the endpoints in force for opsh's configuration
local function record(s)
  state.dir(nil, true)
  local ok, err = fs.write_atomic(state_path(), json.encode(s, { pretty = true }), { mode = tonumber("600", 8) })
  if not ok then return nil, "cannot record the switch in " .. state_path() .. ": " .. tostring(err) end
  local lines = {}
  for _, k in ipairs { "cache", "vector_db" } do
    if s[k] and s[k].active then lines[#lines + 1] = KINDS[k].setting .. "=" .. s[k].to end
  end
  local active = state.dir() .. "/failover.env"
  if #lines > 0 then ok, err = fs.write_atomic(active, table.concat(lines, "\n") .. "\n", { mode = tonumber("600", 8) })
  elseif fs.exists(active) then ok, err = fs.delete(active) end
  if not ok then return nil, "cannot update " .. active .. ": " .. tostring(err) end
  return active
end

return {
  description = "Fails the cache over to the backup Redis or the vector database to the secondary Qdrant (target checked first), and back with --back",
  categories = { "dr", "failover", "intrusive" },
  guide = { "business-continuity.2" },
  notes = "Changes: REDIS_URL (cache) or QDRANT_URL (vector_db) in the application's environment file (failover.env_file,\n"
    .. "else the .env beside the compose file; rewritten atomically, the previous file kept as .env.before-failover-<time>-<hex>);\n"
    .. "the application's containers (failover.services, default api and task-worker) of the compose project only, each\n"
    .. "recreated with the new value (same name, image, mounts, labels; put back when it does not come up, and then the\n"
    .. "others and the file go back too); state_dir/failover.json (the record) and state_dir/failover.env (the endpoint\n"
    .. "opsh itself uses until --back). A Redis target gets a probe key with a 60 s TTL, deleted at once. Nothing else:\n"
    .. "the failed primary is not touched, no data is copied. A target that fails its check changes nothing.\n"
    .. "--dry-run checks the target read-only and shows the plan. Config: failover = { env_file =, services = {...},\n"
    .. "cache = { backup_url =, env = \"REDIS_URL\" }, vector_db = { secondary_url =, env = \"QDRANT_URL\" } }.",
  args = {
    { name = "what", required = true, choices = { "cache", "vector_db" } },
    { name = "back", type = "boolean", default = false, help = "switch back to where the last failover of this kind came from" },
    { name = "to", help = "the target URL (default: config failover.cache.backup_url / failover.vector_db.secondary_url)" },
    { name = "project", help = "compose project (default: config compose_project, else the compose file's)" },
    { name = "health_timeout", type = "integer", default = 60, help = "seconds for a recreated container to run (and be healthy)" },
  },
  run = function(args, ctx)
    local kind = KINDS[args.what]
    local f = settings()
    local cfg = f[args.what] or {}
    local env_name = cfg.env or kind.env
    local s = load_state()
    local from = config.get(kind.setting)
    local to
    if args.back then
      local last = s[args.what]
      if not last or not last.active then return ctx:crit("failover", "no " .. args.what .. " failover is in force: nothing to go back from") end
      to = last.from
    else
      to = args.to or cfg[kind.target]
      if not to then return ctx:unknown("failover", "no target: set failover." .. args.what .. "." .. kind.target .. " or pass --to") end
      if to == from then return ctx:ok("failover", args.what .. " already uses " .. to .. ": nothing to switch") end
      if s[args.what] and s[args.what].active then
        return ctx:crit("failover", string.format("a %s failover to %s is already in force: go --back first", args.what, s[args.what].to))
      end
    end
    ctx:ok("failover.plan", string.format("%s: %s -> %s%s", args.what, tostring(from), to, args.back and " (back)" or ""))

    -- 1. the target first: nothing changes when it fails
    local fine
    if args.what == "cache" then fine = check_redis(ctx, to) else fine = check_qdrant(ctx, to, from) end
    if not fine then return ctx:crit("failover", "not switched: the target failed its check; nothing was changed") end

    local d, derr = services.connect()
    if not d then return ctx:crit("failover.services", "cannot reach Docker to recreate the application's containers: " .. tostring(derr) .. "; nothing was changed") end
    local project, perr = services.project(args.project, d)
    if perr then return ctx:crit("failover.services", tostring(perr) .. "; nothing was changed") end
    local list, none = services.containers_of(d, f.services or DEFAULT_SERVICES, project)
    if not list then return ctx:crit("failover.services", tostring(none) .. "; nothing was changed") end
    for _, svc in ipairs(none) do ctx:ok("failover.service." .. svc, "no container for " .. svc .. (project and (" in project " .. project) or "") .. ": nothing to recreate") end
    local file = services.env_file(f.env_file)

    if ctx.dry_run then
      ctx:ok("failover.plan", file and ("would set " .. env_name .. "=" .. to .. " in " .. file .. ", keeping the previous file beside it")
        or "no environment file (failover.env_file, or .env beside the compose file): none would change")
      for _, e in ipairs(list) do
        ctx:ok("failover.service." .. e.service, "would recreate " .. services.name_of(e.c) .. " with " .. env_name .. "=" .. to)
      end
      return ctx:ok("failover.plan", "would record the switch in " .. state_path() .. " and " .. state.dir() .. "/failover.env")
    end

    -- 2. the application's environment file
    local kept
    if file then
      local r, err = dotenv.set(file, env_name, to, { keep = ".before-failover-" .. os.date("!%Y%m%dT%H%M%SZ") .. "-" .. crypto.random_hex(2) })
      if not r then return ctx:crit("failover.env", tostring(err) .. "; nothing switched") end
      kept = r.kept
      ctx:ok("failover.env", string.format("%s: %s=%s (the previous file kept as %s)", file, env_name, to, kept))
    else
      ctx:warn("failover.env", "no environment file (failover.env_file, or .env beside the compose file): the containers are switched, "
        .. "but a later `docker compose up` would bring the old value back")
    end

    -- 3. the application's containers, each health-checked; on a failure everything goes back
    local done, failed = services.recreate_with_env(d, list, { [env_name] = to }, args.health_timeout)
    for _, e in ipairs(done) do
      ctx:ok("failover.service." .. e.service, e.name .. " recreated with " .. env_name .. "=" .. to .. ", running")
    end
    if failed then
      ctx:crit("failover.service." .. failed.service, failed.name .. ": " .. tostring(failed.err))
      for _, e in ipairs(done) do
        local back, bad = services.recreate_with_env(d, { { service = e.service, c = { Id = e.id, Names = { e.name } } } },
          { [env_name] = from }, args.health_timeout)
        if #back == 1 then ctx:warn("failover.undo." .. e.service, e.name .. " put back on " .. env_name .. "=" .. tostring(from))
        else ctx:crit("failover.undo." .. e.service, e.name .. " could not be put back: " .. tostring(bad and bad.err)) end
      end
      if kept then
        local text = fs.read(kept, 1 << 20)
        local st = fs.stat(kept)
        local ok, werr = text and fs.write_atomic(file, text, { mode = st and (st.mode & tonumber("7777", 8)) or nil })
        if ok then ctx:warn("failover.undo.env", file .. " put back as it was")
        else ctx:crit("failover.undo.env", "could not put " .. file .. " back from " .. kept .. ": " .. tostring(werr)) end
      end
      return ctx:crit("failover", "not switched: " .. failed.name .. " did not come up with the new endpoint; the switch was undone")
    end

    -- 4. opsh follows: the record, and the endpoint in force for opsh's configuration
    if args.back then
      s[args.what] = { active = false, back_at = time.iso(), from = s[args.what].to, to = to, setting = kind.setting }
    else
      s[args.what] = { active = true, from = from, to = to, at = time.now(), at_iso = time.iso(), setting = kind.setting,
        env_file = file, kept = kept }
    end
    local active, werr = record(s)
    if not active then return ctx:crit("failover.state", werr) end
    ctx:ok("failover.state", string.format("recorded in %s; opsh's %s is %s%s", state_path(), kind.setting, to,
      args.back and "" or (" until opsh run dr/failover --what " .. args.what .. " --back (" .. active .. ")")))
  end,
}
