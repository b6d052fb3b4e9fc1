-- Weekly full backup: the stack is stopped gracefully (SIGTERM, the engine escalates after
-- --stop_timeout), every named volume its containers mount is archived through the Docker
-- archive API (no `docker run ... tar`), with the configuration sources of the daily backup,
-- then the containers that were running are started again, whatever happened, and the
-- backup is verified; then the weekly tier's retention (opsh.retention). Named volumes are
-- never removed, and no other tier's backups are ever deleted.
local backup = require "opsh.backup"
local config = require "opsh.config"
local docker = require "opsh.docker"
local retention = require "opsh.retention"
local sources = require "opsh.backup_sources"
local units = require "opsh.units"

return {
  description = "Weekly full backup: stop the stack gracefully, archive its volumes and configuration, start it again, verify, then its tier's retention",
  categories = { "backup", "destructive" },
  guide = {
    "backup-strategy.6", "backup-strategy.7", "backup-strategy.8", "backup-strategy.9",
    "scheduled-maintenance.6",
  },
  notes = [[
Changes: stops the project's running containers (SIGTERM, then the engine's SIGKILL after
--stop_timeout) and starts them again, whatever happens. Writes one new weekly backup directory.
Deletes (unless --no-retention): older weekly backups that the weekly tier's policy no longer
keeps (opsh.retention: weekly 4, monthly 6 unless config.lua's backup.retention says otherwise;
the newest is always kept), and leftovers of interrupted backups. Never deletes: volumes,
containers, backups of other tiers (daily, emergency), configuration versions, log archives, or
anything in the root that is not a backup opsh wrote.]],
  args = {
    { name = "project", help = "compose project (default: config compose_project, else ai-docs)" },
    { name = "dir", help = "backup root (default: config backup_dir)" },
    { name = "volumes", type = "list", help = "only these volumes (default: every named volume the project's containers mount)" },
    { name = "config_dirs", type = "list" }, { name = "files", type = "list" }, { name = "env_file" }, { name = "app_data", type = "list" },
    { name = "stop_timeout", type = "integer", default = 30 },
    { name = "compression", default = "gzip", choices = { "gzip", "zstd" } },
    { name = "weekly", type = "integer", help = "retention: keep the newest of each of N ISO weeks (default: the tier's policy)" },
    { name = "monthly", type = "integer", help = "retention: ... of N months (default: the tier's policy)" },
    { name = "retention", type = "boolean", default = true },
  },
  run = function(args, ctx)
    local root = args.dir or config.get("backup_dir")
    local project = args.project or config.get("compose_project") or "ai-docs"
    local d, derr = docker.connect()
    if not d then return ctx:crit("backup.weekly", "Docker: " .. tostring(derr)) end
    local containers, cerr = d:containers { all = true, project = project }
    if not containers then return ctx:crit("backup.weekly", "Docker: " .. tostring(cerr)) end
    if #containers == 0 then return ctx:crit("backup.weekly", "no containers of compose project " .. project) end
    -- the named volumes they mount
    local vols, seen = {}, {}
    for _, c in ipairs(containers) do
      for _, m in ipairs(c.Mounts or {}) do
        if m.Type == "volume" and m.Name and not seen[m.Name] then seen[m.Name] = true; vols[#vols + 1] = m.Name end
      end
    end
    if args.volumes then vols = args.volumes end
    table.sort(vols)
    local list = {}
    for _, v in ipairs(vols) do list[#list + 1] = sources.docker_volume(v) end
    for _, s in ipairs(sources.from_config { config_dirs = args.config_dirs, files = args.files, env_file = args.env_file,
      app_data = args.app_data, redis = false, qdrant_collections = {} }) do list[#list + 1] = s end
    -- stop gracefully, remembering what ran
    local running = {}
    for _, c in ipairs(containers) do if c.State == "running" then running[#running + 1] = c end end
    for _, c in ipairs(running) do
      local ok, err = d:stop(c.Id, { timeout = args.stop_timeout })
      if not ok then ctx:warn("backup.weekly.stop", tostring((c.Names or {})[1]) .. ": " .. tostring(err)) end
    end
    ctx:ok("backup.weekly.stop", string.format("stopped %d containers of %s", #running, project), { stopped = #running })
    local okb, m, err = pcall(sources.take, root, "weekly", list, ctx, { compression = args.compression, meta = { project = project } })
    -- start again, whatever happened
    local started, failed = 0, {}
    for _, c in ipairs(running) do
      local ok, serr = d:start(c.Id)
      if ok then started = started + 1 else failed[#failed + 1] = tostring((c.Names or {})[1]) .. ": " .. tostring(serr) end
    end
    if #failed > 0 then ctx:crit("backup.weekly.start", "not started again: " .. table.concat(failed, "; "))
    else ctx:ok("backup.weekly.start", string.format("started %d containers again", started), { started = started }) end
    if not okb then return ctx:crit("backup.weekly", "backup failed, nothing kept: " .. tostring(m)) end
    if not m then return ctx:crit("backup.weekly", "backup failed, nothing kept: " .. tostring(err)) end
    if m.dry_run then return ctx:ok("backup.weekly", "would archive " .. #vols .. " volumes of " .. project) end
    local v = backup.verify(m.path, { depth = "archives" })
    if not v.ok then return ctx:crit("backup.verify", "does not verify: " .. tostring(v.problems[1])) end
    ctx:ok("backup.weekly", string.format("%s: %d volumes, %d items, %s, verified", m.path, #vols, #m.items, units.bytes_text(m.total_bytes)),
      { volumes = #vols, bytes = m.total_bytes })
    if args.retention then
      local policy = retention.policy("weekly", { weekly = args.weekly, monthly = args.monthly })
      if not policy then return ctx:ok("backup.retention", "tier weekly has no retention policy: nothing deleted") end
      local r, rerr = backup.retention(root, { tiers = { weekly = policy } })
      if not r then return ctx:warn("backup.retention", tostring(rerr)) end
      ctx:ok("backup.retention", string.format("weekly (%s): kept %d, deleted %d", retention.describe(policy), #r.kept, #r.deleted),
        { kept = #r.kept, deleted = #r.deleted })
    end
  end,
}
