-- The guide's security-configuration audit (its ./scripts/security-config-audit.sh, which does not
-- exist): Redis's requirepass, protected-mode and bind (CONFIG GET); Qdrant's API key (does it
-- answer without one?) and where its API is published; .env readable only by its owner (0600)
-- and no secrets written into the compose file; privileged containers, containers with the
-- Docker socket mounted, ports published on every interface (Engine API inspect of every
-- container, stopped ones too: their configuration applies when they start); TLS on the
-- public endpoints. Each finding is a check with its severity ([critical]/[high]: CRITICAL,
-- [medium]/[low]: WARNING) and the fix. Changes nothing: it only reads.
local redis = require "opsh.redis"
local http = require "opsh.http"
local fs = require "opsh.fs"
local tls = require "opsh.tls"
local config = require "opsh.config"
local opsh = require "opsh"
local docker = require "opsh.docker"
local security = require "opsh.security"
local units = require "opsh.units"

local finding = security.finding

-- a bind address reachable from other hosts: anything but loopback ("-" marks an optional address)
local function public_addresses(bind)
  local out = {}
  if bind == nil or bind:match("^%s*$") then return { "all interfaces" } end
  for a in bind:gmatch("%S+") do
    a = a:gsub("^%-", "")
    if not (a:match("^127%.") or a == "::1" or a == "localhost") then out[#out + 1] = a end
  end
  return out
end

local function audit_redis(ctx, url)
  local shown = security.redact_url(url)
  -- refused for want of a password: requirepass is evidently set, the rest cannot be read
  local function refused(err)
    ctx:ok("audit.redis.requirepass", "Redis refuses clients without the right password (requirepass is set)")
    return ctx:unknown("audit.redis", "cannot audit protected-mode and bind without the password: " .. tostring(err)
      .. " (give redis_url / --url with it)")
  end
  local r, err = redis.connect(url)
  if not r then
    if units.redis_auth_hint(err) ~= "" then return refused(err) end
    return ctx:unknown("audit.redis", "Redis at " .. shown .. " is not reachable: " .. tostring(err))
  end
  local function get(name)
    local v, e = r:call("CONFIG", "GET", name)
    if not v then return nil, e end
    if type(v) ~= "table" then return nil, "unexpected reply to CONFIG GET " .. name end
    if v[2] ~= nil then return tostring(v[2]) end      -- RESP2: {name, value}
    if v[name] ~= nil then return tostring(v[name]) end -- RESP3: {[name] = value}
    return nil, "no parameter " .. name
  end
  local pass, perr = get("requirepass")
  if not pass then
    r:close()
    if units.redis_auth_hint(perr) ~= "" then return refused(perr) end
    return ctx:unknown("audit.redis", "CONFIG GET requirepass on " .. shown .. " failed (CONFIG renamed or disabled?): " .. tostring(perr))
  end
  local protected = get("protected-mode")
  local bind = get("bind")
  r:close()
  local open = pass == ""
  if open then
    finding(ctx, "audit.redis.requirepass", "critical", "Redis at " .. shown .. " accepts every client without a password (requirepass is empty)",
      "set requirepass in redis.conf (or --requirepass in the compose command, from .env), restart, and put the password in REDIS_URL")
  else
    ctx:ok("audit.redis.requirepass", "requirepass is set")
  end
  if protected == "no" then
    finding(ctx, "audit.redis.protected_mode", open and "high" or "low",
      "protected-mode is off" .. (open and " and there is no password: any host that reaches the port has full access" or ""),
      "CONFIG SET protected-mode yes and protected-mode yes in redis.conf (or set a password)")
  elseif protected then
    ctx:ok("audit.redis.protected_mode", "protected-mode is " .. protected)
  end
  if bind then
    local pub = public_addresses(bind)
    if #pub > 0 then
      finding(ctx, "audit.redis.bind", open and "critical" or "medium",
        string.format("Redis listens on %s (bind \"%s\")%s", table.concat(pub, ", "), bind, open and " without a password" or ""),
        "bind 127.0.0.1 -::1 (or the private network's address only) in redis.conf; in Docker, publish the port on 127.0.0.1 or not at all")
    else
      ctx:ok("audit.redis.bind", "bound to loopback only (bind \"" .. bind .. "\")")
    end
  end
end

local function audit_qdrant(ctx, url, key)
  -- a request without the key: answered means anyone who reaches the port can read and write
  local res, err = http.get(url .. "/collections", { timeout = 10, retries = 0, allow_status = true })
  if not res then return ctx:unknown("audit.qdrant", "Qdrant is not reachable at " .. url .. ": " .. tostring(err)) end
  if res.status == 401 or res.status == 403 then
    ctx:ok("audit.qdrant.api_key", string.format("Qdrant refuses requests without an API key (HTTP %d)", res.status))
  elseif res.status >= 200 and res.status < 300 then
    finding(ctx, "audit.qdrant.api_key", "critical", "Qdrant at " .. url .. " answers without an API key" ..
      (key and " (qdrant_api_key is configured, but the server does not require it)" or ""),
      "set service.api_key (QDRANT__SERVICE__API_KEY from .env) on the server, restart it, and set QDRANT_API_KEY for opsh")
  else
    ctx:unknown("audit.qdrant.api_key", string.format("GET %s/collections answered HTTP %d", url, res.status))
  end
  local host = url:match("^%a+://%[?([^/%]]+)%]?") or ""
  host = host:gsub(":%d+$", "")
  local loopback = host == "localhost" or host:match("^127%.") or host == "::1"
  if not loopback and url:match("^http://") then
    finding(ctx, "audit.qdrant.transport", "medium", "Qdrant is reached over plain HTTP at " .. url ..
      " (the API key and the data cross the network unencrypted)",
      "enable service.enable_tls on Qdrant (or put it behind a TLS proxy) and use https:// in QDRANT_URL")
  end
end

local function audit_files(ctx, env_file, compose_file)
  local st = fs.stat(env_file)
  if not st then
    ctx:ok("audit.env.mode", env_file .. " does not exist")
  elseif st.mode & 0x3f ~= 0 then   -- any bit for group or others
    finding(ctx, "audit.env.mode", "high", string.format("%s holds secrets and is mode %04o (readable by %s)", env_file, st.mode & 0xfff,
      st.mode & 0x7 ~= 0 and "everyone" or "its group"), "chmod 600 " .. env_file)
  else
    ctx:ok("audit.env.mode", string.format("%s is mode %04o", env_file, st.mode & 0xfff))
  end
  local text = fs.read(compose_file, 4 << 20)
  if not text then return ctx:ok("audit.compose.secrets", compose_file .. " does not exist") end
  local found, n = {}, 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    local body = line:gsub("^%s*%-?%s*", ""):gsub("%s+#.*$", "")
    -- KEY: value or KEY=value whose name says secret and whose value is written out, not ${VAR}
    local name, value = body:match("^[\"']?([%w_%.%-]+)[\"']?%s*[:=]%s*(.-)%s*$")
    local secretish = name and (name:upper():match("PASS") or name:upper():match("SECRET") or name:upper():match("TOKEN")
      or name:upper():match("API_?KEY") or name:upper():match("PRIVATE_?KEY") or name:upper():match("ACCESS_?KEY"))
    value = value and value:gsub("^[\"']", ""):gsub("[\"']$", "")
    if secretish and value ~= "" and not value:match("^%$") and not value:match("^[|>]") then
      found[#found + 1] = string.format("line %d (%s)", n, name)
    elseif line:match("%-%-requirepass%s+[^%s$\"']") then
      found[#found + 1] = string.format("line %d (--requirepass)", n)
    elseif line:match("%a+://[^%s/:@]*:[^%s/@$]+@") then
      found[#found + 1] = string.format("line %d (a password in a URL)", n)
    end
  end
  if #found > 0 then
    finding(ctx, "audit.compose.secrets", "high", string.format("%s has %d secret(s) written in it: %s", compose_file, #found,
      table.concat(found, ", ")), "move them to .env (mode 0600) and refer to them as ${NAME} in the compose file")
  else
    ctx:ok("audit.compose.secrets", compose_file .. ": no secret values written in it")
  end
end

local DATA_PORTS = { ["6379"] = "Redis", ["6333"] = "Qdrant", ["6334"] = "Qdrant gRPC" }

local function audit_containers(ctx, filter)
  local d, err = docker.connect()
  if not d then return ctx:unknown("audit.docker", tostring(err)) end
  local list, lerr = d:containers(filter)
  if not list then return ctx:unknown("audit.docker", "cannot list containers: " .. tostring(lerr)) end
  local ids = {}
  for _, c in ipairs(list) do ids[#ids + 1] = c.Id end
  local docs = #ids > 0 and d:inspect_all(ids) or {}
  local flagged = 0
  for _, c in ipairs(list) do
    local doc = docs[c.Id]
    if doc then
      local issues = 0
      local name = (doc.Name or c.Id):gsub("^/", "")
      local hc = doc.HostConfig or {}
      if hc.Privileged == true then
        issues = issues + 1
        finding(ctx, "audit.docker." .. name .. ".privileged", "critical", "container " .. name .. " runs privileged (root on the host)",
          "remove privileged: true; grant only the capabilities it needs (cap_add)")
      end
      for _, m in ipairs(opsh.is_null(doc.Mounts) and {} or doc.Mounts or {}) do
        local src = m.Source or ""
        if src == "/var/run/docker.sock" or src == "/run/docker.sock" then
          issues = issues + 1
          finding(ctx, "audit.docker." .. name .. ".docker_socket", "critical", "container " .. name .. " has the Docker socket mounted ("
            .. src .. " at " .. tostring(m.Destination) .. "): it controls every container and the host",
            "remove the mount; if it must watch Docker, use a read-only socket proxy that allows only the calls it needs")
        end
      end
      local open = {}
      local data = nil
      for port, binds in pairs(opsh.is_null(hc.PortBindings) and {} or hc.PortBindings or {}) do
        for _, b in ipairs(opsh.is_null(binds) and {} or binds) do
          local ip = b.HostIp or ""
          if ip == "" or ip == "0.0.0.0" or ip == "::" then
            open[#open + 1] = string.format("%s:%s->%s", ip == "" and "0.0.0.0" or ip, (b.HostPort ~= "" and b.HostPort) or "(any)", port)
            data = data or DATA_PORTS[port:match("^(%d+)")]
          end
        end
      end
      if #open > 0 then
        table.sort(open)
        issues = issues + 1
        finding(ctx, "audit.docker." .. name .. ".published", data and "high" or "medium",
          string.format("container %s publishes %s on every interface%s", name, table.concat(open, ", "),
            data and (" (" .. data .. " reachable from other hosts)") or ""),
          "publish on 127.0.0.1 (ports: \"127.0.0.1:HOST:CONTAINER\") or only on the private network, or drop the port if only other containers use it")
      end
      if issues > 0 then flagged = flagged + 1 end
    end
  end
  ctx:ok("audit.docker", string.format("%d container(s) inspected, %d with findings", #list, flagged),
    { containers = #list, with_findings = flagged })
end

local function audit_public(ctx, urls, timeout)
  local probes = {}
  for i, url in ipairs(urls) do
    probes[i] = function()
      local scheme, hostport = url:match("^(%a+)://([^/]+)")
      if scheme == "https" then
        local target = hostport:match(":%d+$") and hostport or (hostport .. ":443")
        return { url = url, report = { tls.endpoint(target, { timeout = timeout }) } }
      end
      return { url = url, scheme = scheme }
    end
  end
  local results = #probes > 0 and { opsh.all(probes) } or {}
  for _, res in ipairs(results) do
    local check = "audit.tls." .. res.url
    if not res.report then
      finding(ctx, check, "high", res.url .. " is served without TLS", "serve it over https:// (a TLS proxy in front) and redirect http to https")
    else
      local r, err = res.report[1], res.report[2]
      if not r then
        finding(ctx, check, "high", res.url .. ": no TLS: " .. tostring(err), "serve it over https:// with a valid certificate")
      elseif r.expired or not r.verified or r.hostname_ok == false then
        finding(ctx, check, "high", string.format("%s: the certificate %s", res.url,
          r.expired and "has expired" or (r.hostname_ok == false and ("is not valid for " .. tostring(r.hostname)) or ("does not verify: " .. tostring(r.verify_error)))),
          "install a certificate for this name from a trusted CA (e.g. Let's Encrypt) with its full chain")
      else
        ctx:ok(check, string.format("TLS %s, certificate valid for %s, %.0f days left", tostring(r.protocol), tostring(r.hostname), r.days_left))
      end
    end
  end
end

return {
  description = "Security-configuration audit: Redis auth/bind, Qdrant API key, .env mode, compose secrets, containers, TLS (changes nothing)",
  categories = { "security", "check", "safe" },
  guide = { "security-monitoring.4", "vulnerability-management.4" },
  args = {
    { name = "url", help = "Redis URL (default: the configured redis_url / REDIS_URL)" },
    { name = "qdrant_url", help = "Qdrant URL (default: the configured qdrant_url)" },
    { name = "env_file", default = ".env", help = "the .env file that must be mode 0600" },
    { name = "compose_file", default = "docker-compose.yml", help = "compose file that must hold no secrets" },
    { name = "project", help = "audit only this compose project's containers (default: config compose_project, else all)" },
    { name = "label", type = "list", help = "audit only containers with these labels (k=v)" },
    { name = "public_url", type = "list", help = "public endpoints that must be behind TLS (default: config public_urls)" },
    { name = "timeout", type = "number", default = 10, help = "seconds per TLS probe" },
    { name = "skip", type = "list", help = "parts to leave out: redis, qdrant, files, docker, tls" },
  },
  run = function(args, ctx)
    local skip = {}
    for _, k in ipairs(args.skip or {}) do skip[k] = true end
    local parts = {}
    if not skip.redis then
      parts[#parts + 1] = { name = "audit.redis", run = function(sub)
        audit_redis(sub, (args.url and args.url ~= "") and args.url or config.get("redis_url"))
      end }
    end
    if not skip.qdrant then
      parts[#parts + 1] = { name = "audit.qdrant", run = function(sub)
        audit_qdrant(sub, (args.qdrant_url or config.get("qdrant_url")):gsub("/+$", ""), config.get("qdrant_api_key"))
      end }
    end
    if not skip.files then
      parts[#parts + 1] = { name = "audit.files", run = function(sub) audit_files(sub, args.env_file, args.compose_file) end }
    end
    if not skip.docker then
      parts[#parts + 1] = { name = "audit.docker", run = function(sub)
        audit_containers(sub, { all = true, project = args.project or config.get("compose_project"), label = args.label })
      end }
    end
    if not skip.tls then
      local urls = args.public_url or security.list_setting("public_urls")
      parts[#parts + 1] = { name = "audit.tls", run = function(sub)
        if #urls == 0 then return sub:ok("audit.tls", "no public endpoints configured (public_urls / --public-url)") end
        audit_public(sub, urls, args.timeout)
      end }
    end
    security.concurrently(ctx, parts)
  end,
}
