-- Log rotation audit. The guide's "Rotate Docker logs" step (`docker system prune -f --volumes
-- --filter until=24h`) rotates nothing: it deletes stopped containers, unused networks, dangling
-- images and unused volumes (data!). Container logs are rotated by the logging driver's options
-- instead; this reports every container whose json-file (or local) logs have no max-size or
-- max-file, and the size its log has reached. Nothing is changed or deleted: the options are set
-- where the container is created (compose `logging:`, scripts/stack, or daemon.json log-opts).
local services = require "opsh.services"
local units = require "opsh.units"
local fs = require "opsh.fs"

return {
  description = "Reports containers whose logs are not rotated (no max-size/max-file); replaces the guide's prune, which rotates nothing",
  categories = { "services", "logs", "check", "safe" },
  guide = { "log-management.4" },
  args = {
    { name = "all", type = "boolean", default = true, help = "every container, not only the services'" },
    { name = "size_warn", default = "100mb", help = "log file size for WARNING" },
  },
  run = function(args, ctx)
    local d, err = services.connect()
    if not d then return ctx:crit("docker", tostring(err)) end
    local list, lerr = d:containers { all = true }
    if not list then return ctx:crit("docker", tostring(lerr)) end
    local limit = units.parse_bytes(args.size_warn) or error("--size_warn: not a size", 0)
    local wanted = {}
    if not args.all then for _, s in ipairs(services.names()) do wanted[s] = true end end
    local ids = {}
    for _, c in ipairs(list) do
      local svc = (c.Labels or {})["com.docker.compose.service"] or services.name_of(c)
      if args.all or wanted[svc] then ids[#ids + 1] = c.Id end
    end
    local infos = d:inspect_all(ids)
    local unrotated = 0
    for _, id in ipairs(ids) do
      local info = infos[id]
      if info then
        local name = services.name_of(info)
        local lc = info.HostConfig.LogConfig or {}
        local cfg = lc.Config or {}
        local size = info.LogPath and info.LogPath ~= "" and (fs.stat(info.LogPath) or {}).size or nil
        local sz = size and (", log " .. units.bytes_text(size)) or ""
        if lc.Type == "none" then
          ctx:ok("logrotate." .. name, name .. ": logging disabled")
        elseif lc.Type ~= "json-file" and lc.Type ~= "local" then
          ctx:ok("logrotate." .. name, name .. ": log driver " .. tostring(lc.Type) .. " (rotated outside Docker)")
        elseif not cfg["max-size"] and lc.Type == "json-file" then
          unrotated = unrotated + 1
          ctx:warn("logrotate." .. name, name .. ": json-file logs without max-size grow without bound" .. sz
            .. " (set --log-opt max-size=10m --log-opt max-file=3)", { log_bytes = size or 0 })
        elseif size and size > limit then
          ctx:warn("logrotate." .. name, string.format("%s: rotated (max-size %s, max-file %s) but the log is %s",
            name, tostring(cfg["max-size"] or "default"), tostring(cfg["max-file"] or "1"), units.bytes_text(size)), { log_bytes = size })
        else
          ctx:ok("logrotate." .. name, string.format("%s: %s, max-size %s, max-file %s%s", name, lc.Type,
            tostring(cfg["max-size"] or "default"), tostring(cfg["max-file"] or "default"), sz), { log_bytes = size or 0 })
        end
      end
    end
    if #ids == 0 then ctx:ok("logrotate", "no containers") end
  end,
}
