-- Configuration versioning: a copy of the configuration directory, docker-compose.yml and .env
-- (0600) with the guide's metadata.json (version, timestamp, operator, description), as a
-- verified backup of tier "config" under BACKUP_DIR/config. `backup/restore --dir
-- BACKUP_DIR/config` (or opsh.backup.restore) puts a version back. Nothing is deleted here: the
-- versions have their own retention (the config tier's, last 30), applied by backup/retention.
local backup = require "opsh.backup"
local config = require "opsh.config"
local retention = require "opsh.retention"
local json = require "opsh.json"
local fs = require "opsh.fs"

return {
  description = "Versions the configuration: config dir, compose file, .env (0600) and metadata.json, verified",
  categories = { "config", "backup", "intrusive" },
  guide = {
    "backup-strategy.2", "configuration-versioning.1", "configuration-versioning.2",
    "configuration-deployment.2",
  },
  args = {
    { name = "config_dir", default = "/app/config" },
    { name = "compose_file", default = "docker-compose.yml" },
    { name = "env_file", default = ".env" },
    { name = "description", default = "Configuration backup before changes" },
    { name = "dir", help = "backup root (default: config backup_dir; versions go to DIR/config)" },
  },
  run = function(args, ctx)
    local root = retention.root(args.dir or config.get("backup_dir"), "config")
    local version = os.date("!%Y%m%d_%H%M%S")
    local operator = os.getenv("SUDO_USER") or os.getenv("USER") or os.getenv("LOGNAME") or "unknown"
    local meta = { version = version, timestamp = os.date("!%Y-%m-%dT%H:%M:%SZ"), operator = operator, description = args.description }
    local w, err = backup.begin { root = root, tier = "config", meta = meta }
    if not w then return ctx:crit("config.version", tostring(err)) end
    local function add(ok, e)
      if not ok then w:abort(); error(e, 0) end
    end
    local ok, e = pcall(function()
      if fs.exists(args.config_dir) then add(w:add_tree("config", args.config_dir)) else ctx:warn("config.version", args.config_dir .. " does not exist") end
      if fs.exists(args.compose_file) then add(w:add_file("docker-compose.yml", args.compose_file)) end
      if fs.exists(args.env_file) then add(w:add_file("env", args.env_file, { mode = tonumber("600", 8) })) end
      add(w:add_data("metadata.json", json.encode(meta, { pretty = true }) .. "\n", { mode = tonumber("644", 8) }))
    end)
    if not ok then return ctx:crit("config.version", "nothing kept: " .. tostring(e)) end
    local m, cerr = w:commit()
    if not m then return ctx:crit("config.version", tostring(cerr)) end
    if m.dry_run then return ctx:ok("config.version", "would version the configuration into " .. root) end
    local v = backup.verify(m.path)
    if not v.ok then return ctx:crit("config.version", "does not verify: " .. tostring(v.problems[1])) end
    ctx:ok("config.version", string.format("version %s by %s: %s (%d items)", version, operator, m.path, #m.items), { items = #m.items })
  end,
}
