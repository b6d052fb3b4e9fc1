-- The guide's memory troubleshooting (Troubleshooting / High Memory Usage), gathered in one
-- report, then what it found and what to do:
--   1. memory consumers   the host's memory and swap, the top processes by resident memory
--                         (system/top), each stack container's memory against its limit
--   2. memory leaks       the guide runs valgrind on the application, which cannot be done to a
--                         running service; opsh instead watches for growth: with --watch
--                         SECONDS every process and container is read twice and the ones that
--                         grew are named (a leak grows steadily: run it again to confirm)
--   3. cache usage        Redis used_memory against maxmemory and its eviction policy (the
--                         guide's `config set maxmemory 2gb` / allkeys-lru is what
--                         redis/cache-optimize --set-maxmemory / --set-policy applies)
--   4. unnecessary data   what Docker could reclaim (images, stopped containers, build cache);
--                         the guide's `docker system prune -af` removes every unused image, so
--                         opsh does not run it: services/incident --type disk_full removes only
--                         what is safe
-- Reads only: nothing is changed, the advice names the procedure that changes it.
local sys = require "opsh.sys"
local redis = require "opsh.redis"
local config = require "opsh.config"
local services = require "opsh.services"
local units = require "opsh.units"
local procedure = require "opsh.procedure"
local opsh = require "opsh"

return {
  description = "Memory troubleshooting: the host, top processes, containers against their limits, growth over --watch, Redis memory, reclaimable Docker data; what it found and what to do",
  categories = { "troubleshooting", "memory", "safe" },
  guide = {
    "common-issues-and-solutions.1", "common-issues-and-solutions.2", "common-issues-and-solutions.3",
    "common-issues-and-solutions.4", "common-issues-and-solutions.5",
  },
  notes = "Changes nothing: reads /proc, the Docker engine (stats, df) and Redis INFO.",
  args = {
    { name = "top", type = "integer", default = 10, help = "processes listed" },
    { name = "watch", type = "number", default = 0, help = "seconds between two readings to find what grows (0: one reading)" },
    { name = "project", help = "compose project (default: config compose_project)" },
  },
  run = function(args, ctx)
    local advice = {}
    local function advise(text) advice[#advice + 1] = text end

    -- 1. the host and its top processes
    local mem, merr = sys.memory()
    if not mem then
      ctx:unknown("memory.host", tostring(merr))
    else
      ctx:threshold("memory.host", mem.used_percent, 75, 90, string.format("%.1f%% used (%s available of %s), swap %.1f%% used",
        mem.used_percent, units.bytes_text(mem.available), units.bytes_text(mem.total), mem.swap_used_percent or 0),
        { available_bytes = mem.available })
      if mem.used_percent >= 75 then advise("the host's memory is high: look at the top processes and containers below") end
      if (mem.swap_used_percent or 0) > 20 then advise("swap is in use: the host is short of memory; latency suffers before anything fails") end
    end
    local before = sys.processes { sort = "memory", top = args.top } or {}
    procedure.run("system/top", { sort = "memory", top = args.top }, ctx)

    -- containers against their limits
    local d = services.connect()
    local ids, names, docker_err = {}, {}, nil
    if d then
      local project, perr = services.project(args.project, d)
      docker_err = perr
      for _, s in ipairs(perr and {} or services.resolve(d, services.names(), project)) do
        docker_err = docker_err or s.err
        for _, c in ipairs(s.containers or {}) do
          if c.State == "running" then ids[#ids + 1] = c.Id; names[c.Id] = services.name_of(c) end
        end
      end
    end
    local first = {}
    if #ids > 0 then
      local st = d:stats(ids) or {}
      for _, s in ipairs(st) do
        first[s.id] = s.memory_used
        local pct = s.memory_percent or 0
        ctx:threshold("memory.container." .. (s.name or s.id), pct, 80, 95, string.format("%s of its limit %s (%.1f%%)",
          units.bytes_text(s.memory_used or 0), units.bytes_text(s.memory_limit or 0), pct), { used_bytes = s.memory_used or 0 })
        if pct >= 80 then advise((s.name or s.id) .. " is near its memory limit: raise it (services/limits) or find what it holds") end
      end
    elseif docker_err then
      ctx:unknown("memory.containers", "the containers could not be read: " .. tostring(docker_err))
    elseif d then
      ctx:ok("memory.containers", "no running container of the stack's services")
    end

    -- 2. growth over --watch
    if args.watch > 0 then
      opsh.sleep(args.watch)
      local after = sys.processes { sort = "memory", top = math.max(args.top * 3, 30) } or {}
      local was = {}
      for _, p in ipairs(before) do was[p.pid] = p.rss end
      local grew = 0
      for _, p in ipairs(after) do
        local old = was[p.pid]
        if old and p.rss > old * 1.02 and p.rss - old > 1024 * 1024 then
          grew = grew + 1
          ctx:warn("memory.growth." .. p.pid, string.format("%s (pid %d) grew %s to %s in %gs", p.name, p.pid,
            units.bytes_text(p.rss - old), units.bytes_text(p.rss), args.watch), { grown_bytes = p.rss - old })
        end
      end
      if #ids > 0 then
        for _, s in ipairs(d:stats(ids) or {}) do
          local old = first[s.id]
          if old and s.memory_used and s.memory_used > old * 1.02 and s.memory_used - old > 1024 * 1024 then
            grew = grew + 1
            ctx:warn("memory.growth." .. (s.name or s.id), string.format("container grew %s to %s in %gs",
              units.bytes_text(s.memory_used - old), units.bytes_text(s.memory_used), args.watch))
          end
        end
      end
      if grew > 0 then advise("something grew during the watch: run again with a longer --watch; steady growth under steady load is a leak")
      else ctx:ok("memory.growth", string.format("nothing grew by more than 2%% in %gs", args.watch)) end
    else
      ctx:ok("memory.growth", "not watched (--watch SECONDS reads twice and names what grows; the guide's valgrind cannot attach to a running service)")
    end

    -- 3. the cache
    local r = redis.connect(config.get("redis_url"))
    if not r then
      ctx:unknown("memory.cache", "Redis is not reachable")
    else
      local info = r:info("memory")
      local m = info and info.memory or {}
      local used, max = tonumber(m.used_memory) or 0, tonumber(m.maxmemory) or 0
      local policy = m.maxmemory_policy or "?"
      r:close()
      if max == 0 then
        ctx:warn("memory.cache", string.format("used %s with no maxmemory: the cache grows until the host runs out", units.bytes_text(used)),
          { used_bytes = used })
        advise("set a cache limit and eviction: opsh run redis/cache-optimize --set-maxmemory 2gb --set-policy allkeys-lru (the guide's values)")
      else
        ctx:threshold("memory.cache", used * 100 / max, 80, 95, string.format("used %s of maxmemory %s, policy %s",
          units.bytes_text(used), units.bytes_text(max), policy), { used_bytes = used, max_bytes = max })
        if policy == "noeviction" then advise("maxmemory-policy is noeviction: writes fail at the limit; redis/cache-optimize --set-policy allkeys-lru evicts instead") end
      end
    end

    -- 4. what Docker could reclaim
    if d and not docker_err then
      local df = d:df()
      if df then
        local images, containers = 0, 0
        for _, i in ipairs(df.Images or {}) do if (i.Containers or 0) == 0 then images = images + math.max(0, i.Size or 0) end end
        for _, c in ipairs(df.Containers or {}) do if c.State ~= "running" then containers = containers + math.max(0, c.SizeRw or 0) end end
        ctx:ok("memory.reclaimable", string.format("unused images %s, stopped containers %s (not pruned here: the guide's `docker system prune -af` "
          .. "removes every unused image; services/incident --type disk_full removes only what is safe)",
          units.bytes_text(images), units.bytes_text(containers)), { images_bytes = images, containers_bytes = containers })
      end
    end

    if #advice == 0 then ctx:ok("memory.advice", "nothing found that needs action")
    else ctx:warn("memory.advice", table.concat(advice, "\n")) end
  end,
}
