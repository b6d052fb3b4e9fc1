-- The guide's security-breach lockdown (Disaster Recovery / Disaster Recovery Planning, "Security
-- Breach": `security-incident-response.sh`, emergency lockdown and recovery), each step in the
-- report, in this order:
--   1. rotate API keys     every user's key (users/rotate-all: new keys in one 0600 file whose
--                          path is printed; never on stdout, in the report or in a log)
--   2. disable users       every user but the named break-glass admin (--break_glass, config
--                          lockdown.break_glass), who must exist and be an active admin: checked
--                          before anything changes, so the lockdown never locks everyone out
--   3. Qdrant API key      a new key (64 hex digits) set in the application's environment file
--                          (lockdown.env_file, else the .env beside the compose file; atomically,
--                          the previous file kept beside it) as QDRANT__SERVICE__API_KEY (what
--                          Qdrant reads) and QDRANT_API_KEY (what the application and opsh
--                          read); the Qdrant service's containers recreated with the first, the
--                          application's (lockdown.services, default api and task-worker) with
--                          the second; then the configured Qdrant is probed: it must refuse a
--                          request without the key and take one with it, else a WARNING says
--                          it does not enforce the new key yet (a Qdrant that is not a
--                          container of this project: restart it with the key from the file)
--   4. stop ingress        the ingress services' containers of the compose project stopped
--                          (--ingress, config lockdown.ingress; none configured: a WARNING)
--   5. preserve evidence   incident/diagnostics: one archive of the containers' inspect and
--                          logs, Redis INFO, Qdrant, the host and opsh's state, secrets
--                          redacted, under the incident id
--   6. notify              incident/notify: a P1 with the incident id and what was done
-- A step that fails is reported and the next still runs: a half-done lockdown is better than
-- one that stopped at its first problem; the exit status is the worst step's.
-- --dry-run shows the plan and changes nothing.
local config = require "opsh.config"
local crypto = require "opsh.crypto"
local dotenv = require "opsh.dotenv"
local procedure = require "opsh.procedure"
local qdrant = require "opsh.qdrant"
local services = require "opsh.services"
local users = require "opsh.users"

local DEFAULT_SERVICES = { "api", "task-worker" }
local SERVER_ENV, CLIENT_ENV = "QDRANT__SERVICE__API_KEY", "QDRANT_API_KEY"

local function settings()
  local l = config.get("lockdown") or {}
  if type(l) ~= "table" then error("lockdown must be a table {break_glass =, ingress = {...}, env_file =, services = {...}, qdrant_service =}", 0) end
  return l
end

-- 3. the new Qdrant key: the file, the containers, then whether Qdrant enforces it
local function qdrant_key(ctx, d, project, l, args)
  local file = services.env_file(l.env_file)
  local qsvc = l.qdrant_service or "qdrant"
  local qlist, qnone = services.containers_of(d, { qsvc }, project)
  local alist, anone = services.containers_of(d, l.services or DEFAULT_SERVICES, project)
  if not qlist or not alist then return ctx:crit("lockdown.qdrant_key", "Docker: " .. tostring(qnone or anone)) end
  if ctx.dry_run then
    local names = {}
    for _, e in ipairs(qlist) do names[#names + 1] = services.name_of(e.c) .. " (" .. SERVER_ENV .. ")" end
    for _, e in ipairs(alist) do names[#names + 1] = services.name_of(e.c) .. " (" .. CLIENT_ENV .. ")" end
    return ctx:ok("lockdown.qdrant_key", "would set a new Qdrant API key in " .. tostring(file or "(no environment file)")
      .. " and recreate " .. (#names > 0 and table.concat(names, ", ") or "no container"))
  end
  if not file then
    return ctx:crit("lockdown.qdrant_key", "no environment file (lockdown.env_file, or .env beside the compose file): no new Qdrant key was set")
  end
  local key = crypto.random_hex(32)
  local stamp = ".before-lockdown-" .. os.date("!%Y%m%dT%H%M%SZ") .. "-" .. crypto.random_hex(2)
  local r, err = dotenv.set(file, SERVER_ENV, key, { keep = stamp })
  if r then r, err = dotenv.set(file, CLIENT_ENV, key) end
  if not r then return ctx:crit("lockdown.qdrant_key", tostring(err) .. ": no new Qdrant key was set") end
  ctx:ok("lockdown.qdrant_key", string.format("a new Qdrant API key is in %s as %s and %s (not shown; the previous file kept as %s%s)",
    file, SERVER_ENV, CLIENT_ENV, file, stamp))
  local fine = true
  for _, part in ipairs { { qlist, SERVER_ENV }, { alist, CLIENT_ENV } } do
    local done, failed = services.recreate_with_env(d, part[1], { [part[2]] = key }, args.health_timeout)
    for _, e in ipairs(done) do ctx:ok("lockdown.qdrant_key." .. e.name, e.name .. " recreated with the new " .. part[2]) end
    if failed then
      fine = false
      ctx:crit("lockdown.qdrant_key." .. failed.name, failed.name .. " not recreated with the new key: " .. tostring(failed.err))
    end
  end
  for _, svc in ipairs(qnone) do ctx:warn("lockdown.qdrant_key." .. svc, "no container for " .. svc .. " in this project: recreate Qdrant with the key yourself") end
  -- whether the configured Qdrant enforces the new key
  local without = qdrant.connect { api_key = false, timeout = 5 }
  local with = qdrant.connect { api_key = key, timeout = 5 }
  local _, e1 = without:collections()
  local ok2, e2 = with:collections()
  local url = without.url
  if e1 and e1.status == 401 and ok2 then
    ctx:ok("lockdown.qdrant_key.enforced", url .. " refuses a request without the key and takes the new one")
  elseif not e1 then
    ctx:warn("lockdown.qdrant_key.enforced", url .. " still answers WITHOUT a key: it does not run with the new key yet (restart it with "
      .. SERVER_ENV .. " from " .. file .. ")")
  else
    ctx:warn("lockdown.qdrant_key.enforced", url .. " does not take the new key yet (" .. tostring(e2 or e1) .. "): restart it with "
      .. SERVER_ENV .. " from " .. file)
  end
  return fine
end

return {
  description = "Security-breach lockdown: rotate every API key, disable all users but the break-glass admin, a new Qdrant API key, stop ingress, preserve evidence, notify",
  categories = { "dr", "security", "incident", "destructive" },
  guide = { "disaster-recovery-planning.9" },
  notes = "Changes: every user's API key (the old keys stop working; the new ones in ONE 0600 file, path printed, never\n"
    .. "shown); every user but --break_glass disabled (status in user:<name>; nothing deleted); the application's\n"
    .. "environment file gets a new QDRANT__SERVICE__API_KEY and QDRANT_API_KEY (atomically, the previous file kept\n"
    .. "beside it, mode kept), the Qdrant service's and the application's containers of the compose project recreated\n"
    .. "with it; the ingress services' containers of the project stopped (not removed); a diagnostics archive written\n"
    .. "under state_dir/diagnostics; a P1 notification sent (slack_webhook_url). Only user:* and apikey:* keys in Redis\n"
    .. "are touched, only the compose project's containers. --dry-run shows the plan and changes nothing.\n"
    .. "Config: lockdown = { break_glass = \"admin\", ingress = {\"nginx\"}, env_file =, services = {...}, qdrant_service = \"qdrant\" }.",
  args = {
    { name = "break_glass", help = "the one admin user left enabled (default: config lockdown.break_glass)" },
    { name = "ingress", type = "list", help = "ingress services to stop (default: config lockdown.ingress)" },
    { name = "key_file", help = "where the new user keys go, 'name key' per line, 0600 (default ~/.config/opsh/keys/lockdown-<time>.keys)" },
    { name = "project", help = "compose project (default: config compose_project, else the compose file's)" },
    { name = "reason", default = "security breach", help = "what happened, for the notification and the evidence" },
    { name = "health_timeout", type = "integer", default = 60, help = "seconds for a recreated container to run (and be healthy)" },
  },
  run = function(args, ctx)
    local l = settings()
    local keep = args.break_glass or l.break_glass
    local ingress = args.ingress or l.ingress or {}
    if type(ingress) == "string" then ingress = { ingress } end
    -- everything that could refuse the lockdown is checked before anything changes
    if not keep or keep == "" then
      return ctx:unknown("lockdown", "name the break-glass admin who stays enabled: --break_glass NAME (or config lockdown.break_glass); nothing changed")
    end
    local r, rerr = users.connect()
    if not r then return ctx:crit("lockdown", "Redis: " .. tostring(rerr) .. "; nothing changed") end
    local admin = users.get(r, keep)
    if not admin or admin.role ~= "admin" or admin.status == "disabled" then
      return ctx:crit("lockdown", string.format("the break-glass user %s %s: it must be an enabled admin, or the lockdown locks everyone out; nothing changed",
        keep, not admin and "is not a user" or (admin.role ~= "admin" and ("has the role " .. tostring(admin.role)) or "is disabled")))
    end
    local d, derr = services.connect()
    if not d then return ctx:crit("lockdown", "Docker: " .. tostring(derr) .. "; nothing changed") end
    local project, perr = services.project(args.project, d)
    if perr then return ctx:crit("lockdown", tostring(perr) .. "; nothing changed") end
    local incident = "INC-" .. os.date("!%Y%m%d-%H%M%S") .. "-" .. crypto.random_hex(2)
    ctx:ok("lockdown.incident", incident .. ": " .. args.reason .. (project and (" (compose project " .. project .. ")") or ""))

    -- 1. rotate every key (the break-glass admin's too: the old one may be what leaked)
    local key_file = (args.key_file and args.key_file ~= "") and args.key_file or users.default_key_path("lockdown", "keys")
    procedure.step("users/rotate-all", { key_file = key_file }, ctx, "lockdown.rotate")

    -- 2. disable every user but the break-glass admin
    local disabled = 0
    for _, name in ipairs(users.names(r)) do
      if name ~= keep then
        if procedure.step("users/disable", { name = name }, ctx, "lockdown.disable." .. name) then disabled = disabled + 1 end
      end
    end
    ctx:ok("lockdown.users", string.format("%s %d user(s); %s stays enabled (break-glass admin)", ctx.dry_run and "would disable" or "disabled", disabled, keep))
    r:close()

    -- 3. a new Qdrant API key
    qdrant_key(ctx, d, project, l, args)

    -- 4. stop ingress
    if #ingress == 0 then
      ctx:warn("lockdown.ingress", "no ingress services configured (lockdown.ingress or --ingress): no traffic was cut off")
    end
    for _, svc in ipairs(ingress) do procedure.step("services/stop", { service = svc, project = project, timeout = 10 }, ctx, "lockdown.ingress." .. svc) end

    -- 5. preserve evidence (stopped containers keep their logs)
    procedure.step("incident/diagnostics", { incident = incident, project = project }, ctx, "lockdown.evidence")

    -- 6. notify
    local bad = {}
    for _, c in ipairs(ctx.checks) do if c.status == "critical" then bad[#bad + 1] = c.name end end
    local what = string.format("security lockdown (%s): API keys rotated, %d user(s) disabled (%s kept), new Qdrant API key, ingress %s stopped, evidence archived%s",
      args.reason, disabled, keep, #ingress > 0 and table.concat(ingress, ", ") or "(none configured)",
      #bad > 0 and ("; FAILED: " .. table.concat(bad, ", ")) or "")
    procedure.step("incident/notify", { severity = "P1", id = incident, description = what }, ctx, "lockdown.notify")
  end,
}
