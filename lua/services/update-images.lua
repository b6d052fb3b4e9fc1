-- The monthly image update (the guide's `docker-compose pull` then `up -d`): each container of
-- the stack's services has its image pulled again, and a container whose image reference now
-- names a different image than the one it runs is recreated from its own definition (same
-- configuration, mounts, limits, labels and name: opsh.docker's recreate) and must come back
-- healthy, else the old container is put back. What opsh does NOT do: read docker-compose.yml
-- (opsh has no compose-file reader), so a changed compose definition is not applied; only a
-- newer image is. Where no registry answers (an offline host) the pull is reported and the image
-- already present is used: a tag moved locally (docker load, a local build) still recreates.
local services = require "opsh.services"

return {
  description = "Pulls the services' images and recreates the containers whose image changed, from their own definition, health-checked with rollback",
  categories = { "services", "maintenance", "intrusive" },
  guide = { "scheduled-maintenance.8" },
  args = {
    { name = "services", type = "list", help = "services to update (default: config services, else the guide's)" },
    { name = "project", help = "compose project (default: config compose_project, else the compose file's project)" },
    { name = "pull", type = "boolean", default = true, help = "pull the images first (--no-pull: use the images present)" },
    { name = "timeout", type = "integer", default = 30, help = "seconds between SIGTERM and SIGKILL for the old container" },
    { name = "health_timeout", type = "integer", default = 120, help = "seconds for a recreated container to become healthy" },
  },
  run = function(args, ctx)
    local d, err = services.connect()
    if not d then return ctx:crit("docker", tostring(err)) end
    local project, prerr = services.project(args.project, d)
    if prerr then return ctx:crit("docker", tostring(prerr)) end
    local pulled = {}
    for _, svc in ipairs(services.resolve(d, services.names(args.services), project)) do
      if svc.err or #svc.containers == 0 then
        ctx:crit("update." .. svc.service, svc.err and tostring(svc.err) or ("no container for service " .. svc.service))
      end
      for _, c in ipairs(svc.containers) do
        local cname = services.name_of(c)
        local info, ierr = d:inspect(c.Id)
        if not info then
          ctx:crit("update." .. cname, tostring(ierr))
        else
          local ref = info.Config.Image
          if args.pull and pulled[ref] == nil then
            local ok, perr = d:pull(ref)
            pulled[ref] = ok and true or false
            if ok then ctx:ok("pull." .. ref, ctx.dry_run and ("would pull " .. ref) or ("pulled " .. ref))
            else ctx:warn("pull." .. ref, "not pulled, the image present is used: " .. tostring(perr)) end
          end
          local img, gerr = d:image(ref)
          if not img then
            ctx:crit("update." .. cname, "image " .. ref .. " is not here: " .. tostring(gerr))
          elseif img.Id == info.Image then
            ctx:ok("update." .. cname, string.format("runs the newest %s already (%s)", ref, img.Id:sub(8, 19)))
          else
            local r, rerr = d:recreate(c.Id, { timeout = args.timeout,
              check = function(id) return services.wait_healthy(d, id, args.health_timeout) end })
            if not r then
              ctx:crit("update." .. cname, "not updated: " .. tostring(rerr))
            elseif r.dry_run then
              ctx:ok("update." .. cname, string.format("would recreate %s on %s (%s, runs %s)", cname, ref, img.Id:sub(8, 19), info.Image:sub(8, 19)))
            else
              ctx:ok("update." .. cname, string.format("recreated on %s (%s, was %s), healthy", ref, img.Id:sub(8, 19), info.Image:sub(8, 19)))
            end
          end
        end
      end
    end
  end,
}
