-- Connectivity from the host: the guide's `netstat -tlnp | grep -E "(6333|6379|8000)"`,
-- `nslookup qdrant` and `curl -v` reachability, natively: the listening sockets with their
-- processes (opsh.sys.listening: /proc/net/tcp, tcp6), each configured service's name resolved
-- with the system resolver (timed), and a TCP connect to each (timed, with a deadline; nothing is
-- sent). A name that does not resolve, a port that refuses and one that does not answer are told
-- apart. services/connectivity does the same from inside the containers.
local opsh = require "opsh"
local sys = require "opsh.sys"
local config = require "opsh.config"
local services = require "opsh.services"

local DEFAULT_PORTS = { http = 80, https = 443, redis = 6379, rediss = 6379, tcp = 2375 }

-- "scheme://user:pass@host:port/path" -> host, port
local function endpoint_of(url)
  local scheme, rest = url:match("^(%w+)://(.*)$")
  if not scheme then rest = url end
  rest = rest:gsub("/.*$", ""):gsub("^.*@", "")
  local host, port = rest:match("^%[(.-)%]:?(%d*)$")
  if not host then host, port = rest:match("^([^:]*):?(%d*)$") end
  if not host or host == "" then return nil end
  port = tonumber(port) or DEFAULT_PORTS[scheme or ""]
  if not port then return nil end
  return host, port
end

local function is_local(addr)
  return addr == "localhost" or addr:match("^127%.") or addr == "::1" or addr == "0.0.0.0" or addr == "::"
end

local function ms(s) return string.format("%.1f ms", s * 1000) end

return {
  description = "Connectivity from the host: ports listening (with their processes), DNS resolution and TCP reachability of each configured service",
  categories = { "system", "services", "check", "troubleshooting", "safe" },
  guide = {
    "common-issues-and-solutions.12", "common-issues-and-solutions.13",
    "common-issues-and-solutions.14",
  },
  notes = [[
Changes nothing: reads /proc/net, resolves names and opens TCP connections that it closes at
once (nothing is sent). Services: the hosts and ports of qdrant_url, redis_url and
task_queue_redis_url, prometheus_url when configured, config connectivity_endpoints
({"name=host:port", ...}) and --endpoint. Ports that must be listening: config service_ports
(qdrant 6333, dragonfly 6379 by default), the local services' ports and --port.]],
  args = {
    { name = "endpoint", type = "list", help = "more services to reach: host:port or name=host:port (repeatable)" },
    { name = "port", type = "list", help = "more ports that must be listening on this host (repeatable)" },
    { name = "timeout", type = "number", default = 3, help = "seconds for each resolution and connection" },
  },
  run = function(args, ctx)
    -- the services: name, host, port
    local targets, seen = {}, {}
    local function add(name, host, port)
      local key = host .. ":" .. port
      if seen[key] then return end
      seen[key] = true
      targets[#targets + 1] = { name = name, host = host, port = port }
    end
    for _, key in ipairs { "qdrant_url", "redis_url", "task_queue_redis_url", "prometheus_url" } do
      local url = config.get(key)
      if type(url) == "string" and (key ~= "prometheus_url" or config.source(key) ~= "default") then
        local host, port = endpoint_of(url)
        if host then add(key:gsub("_url$", ""), host, port) end
      end
    end
    local extra = {}
    for _, e in ipairs(config.get("connectivity_endpoints") or {}) do extra[#extra + 1] = e end
    for _, e in ipairs(args.endpoint or {}) do extra[#extra + 1] = e end
    for _, e in ipairs(extra) do
      local name, spec = tostring(e):match("^([^=]+)=(.+)$")
      spec = spec or tostring(e)
      local host, port = endpoint_of(spec)
      if not host then return ctx:unknown("system.connectivity", "not host:port: " .. tostring(e)) end
      add(name or spec, host, port)
    end

    -- ports listening on this host
    local listening = sys.listening()
    local by_port = {}
    local tcp = {}
    for _, s in ipairs(listening) do
      if s.port then
        by_port[s.port] = by_port[s.port] or s
        tcp[#tcp + 1] = s
      end
    end
    table.sort(tcp, function(a, b) return a.port < b.port or (a.port == b.port and a.address < b.address) end)
    local ports = {}
    for _, s in ipairs(tcp) do ports[#ports + 1] = string.format("%s:%d%s", s.address:find(":") and "[" .. s.address .. "]" or s.address,
      s.port, s.process and (" (" .. s.process .. ")") or "") end
    ctx:ok("system.listening", #tcp .. " TCP sockets listening: " .. table.concat(ports, ", "), { count = #tcp })

    local wanted, wanted_seen = {}, {}
    local function want(port, why)
      port = tonumber(port)
      if port and not wanted_seen[port] then wanted_seen[port] = true; wanted[#wanted + 1] = { port = port, why = why } end
    end
    for _, name in ipairs(services.names()) do want(services.port(name), name) end
    for _, t in ipairs(targets) do if is_local(t.host) then want(t.port, t.name) end end
    for _, p in ipairs(args.port or {}) do want(p, "--port") end
    for _, w in ipairs(wanted) do
      local s = by_port[w.port]
      if s then
        ctx:ok("system.port." .. w.port, string.format("port %d (%s) is listening on %s%s", w.port, w.why, s.address,
          s.process and string.format(", %s pid %d", s.process, s.pid) or ""), { port = w.port, pid = s.pid })
      else
        ctx:crit("system.port." .. w.port, string.format("nothing listens on port %d (%s)", w.port, w.why), { port = w.port })
      end
    end

    -- DNS and TCP for each service, all at once
    local fns = {}
    for i, t in ipairs(targets) do
      fns[i] = function()
        local r, err = sys.resolve(t.host, { timeout = args.timeout })
        local c, cerr
        if r then c, cerr = sys.connect(t.host, t.port, { timeout = args.timeout }) end
        return { r = r, err = err, c = c, cerr = cerr }
      end
    end
    local results = { opsh.all(fns) }
    for i, t in ipairs(targets) do
      local res = results[i]
      local label = string.format("%s (%s:%d)", t.name, t.host, t.port)
      if not res.r then
        ctx:crit("system.dns." .. t.name, label .. ": " .. tostring(res.err.message or res.err))
      else
        ctx:ok("system.dns." .. t.name, string.format("%s resolves to %s in %s", t.host, table.concat(res.r.addresses, ", "), ms(res.r.seconds)),
          { addresses = #res.r.addresses, seconds = res.r.seconds })
        if res.c then
          ctx:ok("system.tcp." .. t.name, string.format("%s accepts connections (%s, %s)", label, res.c.address, ms(res.c.seconds)),
            { port = t.port, seconds = res.c.seconds })
        else
          local e = res.cerr
          local what = e.code == "refused" and "refuses connections" or e.code == "timeout" and "does not answer" or "cannot be reached"
          ctx:crit("system.tcp." .. t.name, string.format("%s %s (%s): %s", label, what, e.code, e.message),
            { port = t.port, refused = e.code == "refused", timed_out = e.code == "timeout" })
        end
      end
    end
  end,
}
