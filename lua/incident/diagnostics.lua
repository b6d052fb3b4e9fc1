-- The guide's "gather diagnostic information" (Incident Response, step 3; its
-- collect-diagnostics.sh), as one archive:
--   containers/NAME.inspect.json   docker inspect of each container of the stack's services
--   containers/NAME.log            its last --log_lines log lines (stdout and stderr)
--   redis/info.txt                 Redis INFO (every section)
--   qdrant/telemetry.json          Qdrant's /telemetry; qdrant/collections.json and
--   qdrant/collection.NAME.json    every collection's info (status, points, segments, config)
--   system/*                       /proc/meminfo, loadavg, uptime, mounts, pressure, and df of /
--   opsh/config.txt                the effective configuration (secrets as ***)
--   opsh/backups.json              the backups in backup_dir (name, tier, time, size)
--   opsh/incidents.json            the open incident records
-- Secrets are redacted before anything is written: environment variables whose names say
-- secret (PASSWORD, SECRET, TOKEN, KEY, CREDENTIAL, AUTH) in inspect documents, passwords in
-- URLs, and "password=", "api_key=", "token=" or "Authorization:" values in log lines.
-- The archive is state_dir/diagnostics/TIMESTAMP-diagnostics/diagnostics.tar.gz, written by the
-- backup engine (so it has a manifest, SHA256SUMS and a per-file listing, and a killed run
-- leaves no half archive); its contents are listed in the report. A source that cannot be read
-- is reported and the rest is still collected.
local backup = require "opsh.backup"
local config = require "opsh.config"
local fs = require "opsh.fs"
local json = require "opsh.json"
local redis = require "opsh.redis"
local qdrant = require "opsh.qdrant"
local services = require "opsh.services"
local state = require "opsh.state"
local units = require "opsh.units"
local incidents = require "opsh.incidents"
local crypto = require "opsh.crypto"

local SECRET_NAME = { "PASSWORD", "PASSWD", "SECRET", "TOKEN", "KEY", "CREDENTIAL", "AUTH" }

local function secret_name(name)
  local upper = name:upper()
  for _, s in ipairs(SECRET_NAME) do if upper:find(s, 1, true) then return true end end
  return false
end

-- Passwords in URLs, and key=value / key: value secrets in free text.
local function redact_text(s)
  s = s:gsub("(%a[%w+.-]*://[^:/@%s]*:)[^@/%s]+@", "%1***@")
  s = s:gsub("([Aa]uthorization%s*:%s*)[^\r\n]+", "%1***")
  for _, word in ipairs { "password", "passwd", "api_key", "apikey", "api%-key", "token", "secret" } do
    s = s:gsub("(" .. word .. "[\"']?%s*[:=]%s*[\"']?)[^%s\"',;&]+", "%1***")
    s = s:gsub("(" .. word:upper() .. "[\"']?%s*[:=]%s*[\"']?)[^%s\"',;&]+", "%1***")
  end
  return s
end

local function redact_inspect(doc)
  local env = doc.Config and doc.Config.Env
  if type(env) == "table" then
    for i, kv in ipairs(env) do
      local k = kv:match("^([^=]*)=")
      if k and secret_name(k) then env[i] = k .. "=***" else env[i] = redact_text(kv) end
    end
  end
  local cmd = doc.Config and doc.Config.Cmd
  if type(cmd) == "table" then for i, a in ipairs(cmd) do cmd[i] = redact_text(a) end end
  if type(doc.Args) == "table" then for i, a in ipairs(doc.Args) do doc.Args[i] = redact_text(a) end end
  return doc
end

return {
  description = "Collects the incident diagnostics (containers, logs, Redis, Qdrant, system, opsh state) into one archive, secrets redacted",
  categories = { "incident", "diagnostics", "safe" },
  guide = { "incident-response-procedures.3" },
  notes = "Changes nothing on the stack. Writes one archive under state_dir/diagnostics (TIMESTAMP-diagnostics/) "
    .. "and removes its own staging directory; nothing under --dry-run. Archives are kept until removed by hand.",
  args = {
    { name = "incident", help = "incident id to record in the archive's manifest" },
    { name = "log_lines", type = "integer", default = 2000, help = "log lines per container" },
    { name = "project", help = "compose project (default: config compose_project)" },
    { name = "dir", help = "where archives go (default: state_dir/diagnostics)" },
  },
  run = function(args, ctx)
    if ctx.dry_run then
      return ctx:ok("diagnostics", "would collect containers, logs, Redis INFO, Qdrant telemetry and collections, system state and opsh state into one archive under "
        .. (args.dir or state.dir("diagnostics")))
    end
    local root = args.dir or state.dir("diagnostics", true)
    local stage = root .. "/.staging-" .. crypto.random_hex(6)
    local ok, merr = fs.mkdir(stage, tonumber("700", 8))
    if not ok then return ctx:crit("diagnostics", "cannot create " .. stage .. ": " .. tostring(merr)) end
    local files, problems = {}, {}
    local function put(rel, data)
      local path = stage .. "/" .. rel
      local dir = path:match("^(.*)/[^/]*$")
      fs.mkdir(dir, tonumber("700", 8))
      local wok, werr = fs.write_atomic(path, data, { mode = tonumber("600", 8) })
      if wok then files[#files + 1] = { name = rel, bytes = #data } else problems[#problems + 1] = rel .. ": " .. tostring(werr) end
    end
    local function problem(what, err) problems[#problems + 1] = what .. ": " .. tostring(err) end

    -- containers: inspect and logs
    local d, derr = services.connect()
    if not d then
      problem("docker", derr)
    else
      local project, perr = services.project(args.project, d)
      if perr then problem("compose project", perr) end
      for _, s in ipairs(perr and {} or services.resolve(d, services.names(), project)) do
        if s.err then problem("service " .. s.service, s.err)
        elseif #(s.containers or {}) == 0 then problem("service " .. s.service, "no container") end
        for _, c in ipairs(s.containers or {}) do
          local name = services.name_of(c)
          local doc, ierr = d:inspect(c.Id)
          if doc then put("containers/" .. name .. ".inspect.json", json.encode(redact_inspect(doc), { pretty = true }))
          else problem("inspect " .. name, ierr) end
          local lines = {}
          local lok, lerr = pcall(function()
            for line, stream in d:logs(c.Id, { tail = args.log_lines }) do
              lines[#lines + 1] = (stream == "stderr" and "E " or "O ") .. redact_text(line)
            end
          end)
          if not lok then problem("logs " .. name, lerr) end
          put("containers/" .. name .. ".log", table.concat(lines, "\n") .. (#lines > 0 and "\n" or ""))
        end
      end
    end

    -- Redis
    local r, rerr = redis.connect(config.get("redis_url"))
    if r then
      local info, ierr = r:call("INFO", "everything")
      if not info then info, ierr = r:call("INFO") end   -- DragonflyDB and older servers
      if info then put("redis/info.txt", info) else problem("redis INFO", ierr) end
      r:close()
    else
      problem("redis", rerr)
    end

    -- Qdrant
    local q, qerr = qdrant.connect {}
    if q then
      local t, terr = q:telemetry { details_level = 2 }
      if t then put("qdrant/telemetry.json", json.encode(t, { pretty = true })) else problem("qdrant telemetry", terr) end
      local cs, cerr = q:collections()
      if cs then
        put("qdrant/collections.json", json.encode(cs, { pretty = true }))
        for _, c in ipairs(cs) do
          local name = type(c) == "table" and c.name or c
          local info, ierr = q:collection(name)
          if info then put("qdrant/collection." .. name:gsub("[^%w._-]", "_") .. ".json", json.encode(info, { pretty = true }))
          else problem("qdrant collection " .. name, ierr) end
        end
      else
        problem("qdrant collections", cerr)
      end
    else
      problem("qdrant", qerr)
    end

    -- the host
    for _, f in ipairs { "meminfo", "loadavg", "uptime", "mounts", "pressure/cpu", "pressure/memory", "pressure/io" } do
      local text = fs.read("/proc/" .. f, 1 << 20)
      if text then put("system/" .. f:gsub("/", "-") .. ".txt", text) end
    end
    local df = fs.df("/")
    if df then put("system/df-root.json", json.encode(df, { pretty = true })) end

    -- opsh's own state
    local cfg = {}
    for _, row in ipairs(config.show()) do cfg[#cfg + 1] = row.key .. " = " .. row.value .. "   (" .. row.source .. ")" end
    put("opsh/config.txt", table.concat(cfg, "\n") .. "\n")
    local list = backup.list(config.get("backup_dir"))
    if list then
      local rows = {}
      for i, b in ipairs(list) do
        if i > 200 then break end
        rows[#rows + 1] = { name = b.name, tier = b.tier, created = b.created, complete = b.complete, bytes = b.bytes }
      end
      put("opsh/backups.json", json.encode(json.array(rows), { pretty = true }))
    end
    local open = incidents.list(true)
    put("opsh/incidents.json", json.encode(json.array(open), { pretty = true }))
    if #problems > 0 then put("problems.txt", table.concat(problems, "\n") .. "\n") end

    -- one archive, with its manifest and checksums
    local w, berr = backup.begin { root = root, tier = "diagnostics", compression = "gzip",
      meta = { incident = args.incident, problems = #problems } }
    if not w then fs.delete(stage, { recursive = true }); return ctx:crit("diagnostics", "cannot start the archive: " .. tostring(berr)) end
    local item, aerr = w:add_tree("diagnostics", stage)
    local m, cerr = nil, aerr
    if item then m, cerr = w:commit() else w:abort() end
    fs.delete(stage, { recursive = true })
    if not m then return ctx:crit("diagnostics", "the archive could not be written: " .. tostring(cerr)) end

    table.sort(files, function(a, b) return a.name < b.name end)
    local total, names = 0, {}
    for _, f in ipairs(files) do total = total + f.bytes; names[#names + 1] = f.name .. " (" .. units.bytes_text(f.bytes) .. ")" end
    local archive = m.path .. "/" .. item.file
    ctx:ok("diagnostics.archive", string.format("%s: %d files, %s before compression, %s archived", archive, #files,
      units.bytes_text(total), units.bytes_text(item.bytes)), { files = #files, bytes = item.bytes })
    ctx:ok("diagnostics.contents", table.concat(names, "\n"), { files = #files })
    if #problems > 0 then
      ctx:warn("diagnostics.incomplete", #problems .. " source(s) could not be read (listed in problems.txt): " .. table.concat(problems, "; "),
        { problems = #problems })
    end
  end,
}
