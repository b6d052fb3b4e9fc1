-- The guide's automated failover (Disaster Recovery / Business Continuity, "Failover
-- Procedures"), with a way back:
--   cache      to the backup Redis (config failover.cache.backup_url): the guide's
--              `export REDIS_URL=redis://backup-redis:6379; docker-compose restart api`
--   vector_db  to the secondary Qdrant (config failover.vector_db.secondary_url): the guide's
--              `sed -i 's/primary-db:6333/secondary-db:6333/' docker-compose.yml; up -d`
-- Steps, each in the report:
--   1. the target is checked first: Redis answers PING and takes a write (a key with a 60 s
--      TTL, read back); Qdrant answers /readyz and holds every collection the primary holds
--      (when the primary still answers, with point counts compared). A target that fails is
--      not switched to.
--   2. the application's environment file (config failover.env_file, the stack's .env) gets
--      the new REDIS_URL / QDRANT_URL (the variable: failover.cache.env / vector_db.env),
--      written atomically with its mode kept; the previous file is kept beside it.
--   3. the application's containers (config failover.services, default api and task-worker)
--      are recreated with the new value in their environment (a restart does not re-read an
--      .env: `export` then `restart`, as the guide writes it, changes nothing in a container),
--      each checked running, else put back as it was.
--   4. opsh itself follows: state_dir/failover.json records the switch, and state_dir/
--      failover.env holds the endpoint in force, which opsh's configuration reads above the
--      environment until --back (`opsh config` shows the source).
-- --back reverses the last switch of that kind the same way, to the endpoint it came from.
-- --dry-run shows the plan.
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

local function state_path() return state.dir(nil, false) .. "/failover.json" end

local function load_state()
  local text = fs.read(state_path())
  if not text then return {} end
  local ok, s = pcall(json.decode, text)
  if not ok or type(s) ~= "table" then error("failover state " .. state_path() .. " is not valid JSON: fix or remove it", 0) end
  return s
end

local function check_redis(ctx, url)
  local r, err = redis.connect { url = url, timeout = 5 }
  if not r then return ctx:crit("failover.target", url .. " does not answer: " .. tostring(err)) end
  local key = "opsh:failover:probe:" .. crypto.random_hex(4)
  local ok, werr = r:call("SET", key, "1", "EX", "60")
  local back = ok and r:call("GET", key)
  if ok then r:call("DEL", key) end
  r:close()
  if not ok then return ctx:crit("failover.target", url .. " refuses a write: " .. tostring(werr) .. " (a replica? promote it first)") end
  if back ~= "1" then return ctx:crit("failover.target", url .. " did not read back what was written") end
  ctx:ok("failover.target", url .. " answers and takes writes")
  return true
end

local function check_qdrant(ctx, url, from)
  local q, err = qdrant.connect { url = url, timeout = 5 }
  local ready = q and q:ready()
  if not ready then return ctx:crit("failover.target", url .. " is not ready: " .. tostring(err or "readyz failed")) end
  local names = q:collections() or {}
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
      local a, b = p:count(n, { exact = true }), q:count(n, { exact = true })
      if a and b and b < a then behind[#behind + 1] = string.format("%s %d of %d points", n, b, a) end
    end
  end
  if #missing > 0 then
    return ctx:crit("failover.target", url .. " lacks collection(s) " .. table.concat(missing, ", ") .. ": not switched")
  end
  ctx[#behind > 0 and "warn" or "ok"](ctx, "failover.target", url .. " is ready with every collection of the primary"
    .. (#behind > 0 and ("; behind: " .. table.concat(behind, ", ")) or ""))
  return true
end

return {
  description = "Fails the cache over to the backup Redis or the vector database to the secondary Qdrant (target checked first), and back with --back",
  categories = { "dr", "failover", "intrusive" },
  guide = { "Disaster Recovery / Business Continuity (Failover Procedures)" },
  notes = "Rewrites REDIS_URL or QDRANT_URL in the application's environment file (failover.env_file; the previous "
    .. "file kept beside it), recreates the application's containers (failover.services) with the new value, and "
    .. "records the switch in state_dir/failover.json and the endpoint in force in state_dir/failover.env, which opsh's "
    .. "configuration reads. Writes a probe key with a 60 s TTL to a Redis target. Nothing under --dry-run.",
  args = {
    { name = "what", required = true, choices = { "cache", "vector_db" } },
    { name = "back", type = "boolean", default = false, help = "switch back to where the last failover came from" },
    { name = "to", help = "the target URL (default: config failover.cache.backup_url / failover.vector_db.secondary_url)" },
    { name = "project", help = "compose project (default: config compose_project)" },
  },
  run = function(args, ctx)
    local kind = KINDS[args.what]
    local cfg = (config.get("failover") or {})[args.what] or {}
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
      if to == from then return ctx:ok("failover", args.what .. " already uses " .. to) end
    end
    ctx:ok("failover.plan", string.format("%s: %s -> %s%s", args.what, from, to, args.back and " (back)" or ""))

    -- 1. the target first
    local fine = args.what == "cache" and check_redis(ctx, to) or check_qdrant(ctx, to, from)
    if not fine then return end
    if ctx.dry_run then
      return ctx:ok("failover.plan", "would set " .. env_name .. " in the environment file, recreate the application's containers, and record the switch")
    end

    -- 2. the application's environment file
    local env_file = (config.get("failover") or {}).env_file
    if env_file then
      local ok, err = dotenv.set(env_file, env_name, to, { keep = ".before-failover-" .. os.date("!%Y%m%dT%H%M%SZ") })
      if not ok then return ctx:crit("failover.env", tostring(err) .. "; nothing switched") end
      ctx:ok("failover.env", string.format("%s: %s=%s (the previous file kept as %s)", env_file, env_name, to, ok.kept))
    else
      ctx:warn("failover.env", "no failover.env_file configured: the application's environment file was not changed (its next start uses the old value)")
    end

    -- 3. the application's containers
    local d, derr = services.connect()
    local names = (config.get("failover") or {}).services or { "api", "task-worker" }
    if not d then
      ctx:crit("failover.services", "cannot recreate the application's containers: " .. tostring(derr))
    else
      local project, perr = services.project(args.project, d)
      if perr then return ctx:crit("failover.services", tostring(perr)) end
      for _, svc in ipairs(names) do
        local list = services.containers(d, svc, project) or {}
        if #list == 0 then ctx:ok("failover.service." .. svc, "no container for " .. svc .. " here: nothing to recreate") end
        for _, c in ipairs(list) do
          local r, rerr = d:recreate(c.Id, { env = { [env_name] = to }, check = function(id)
            local info = d:inspect(id)
            if info and info.State and info.State.Running then return true end
            return nil, "it is not running after the start"
          end })
          if r then ctx:ok("failover.service." .. svc, r.name .. " recreated with " .. env_name .. "=" .. to)
          else ctx:crit("failover.service." .. svc, services.name_of(c) .. ": " .. tostring(rerr)) end
        end
      end
    end

    -- 4. opsh follows: the record, and the endpoints in force for opsh's configuration
    if args.back then
      s[args.what] = { active = false, back_at = time.iso(), to = to, setting = kind.setting }
    else
      s[args.what] = { active = true, from = from, to = to, at = time.now(), at_iso = time.iso(), setting = kind.setting }
    end
    state.dir(nil, true)
    local ok, werr = fs.write_atomic(state_path(), json.encode(s, { pretty = true }), { mode = tonumber("600", 8) })
    if not ok then return ctx:crit("failover.state", "cannot record the switch in " .. state_path() .. ": " .. tostring(werr)) end
    local lines = {}
    for _, k in ipairs { "cache", "vector_db" } do
      if s[k] and s[k].active then lines[#lines + 1] = KINDS[k].setting .. "=" .. s[k].to end
    end
    local active = state.dir() .. "/failover.env"
    if #lines > 0 then ok, werr = fs.write_atomic(active, table.concat(lines, "\n") .. "\n", { mode = tonumber("600", 8) })
    elseif fs.exists(active) then ok, werr = fs.delete(active) end
    if not ok then return ctx:crit("failover.state", "cannot update " .. active .. ": " .. tostring(werr)) end
    ctx:ok("failover.state", string.format("recorded in %s; opsh's %s is %s%s", state_path(), kind.setting, to,
      args.back and "" or (" until opsh run dr/failover --what " .. args.what .. " --back (" .. active .. ")")))
  end,
}
