-- Redis Cluster health as operators read it: cluster_state on every node that answers, all
-- 16384 slots served (the ranges missing), nodes failing (fail) or suspected (PFAIL, "fail?"),
-- primaries without a replica, memory and keys per primary, and slots spread unevenly.
-- Reads only (CLUSTER INFO, CLUSTER NODES, INFO). The view of the cluster is the one of the node
-- the client reads the slot map from; cluster_state is asked of every node.
--
-- CRITICAL: a node reports cluster_state:fail, slots no node serves, or a primary serving slots
-- is marked fail (no replica took over). WARNING: a node failed or suspected that serves no slot
-- (an old primary after its failover, a replica), a primary without a replica (one more failure
-- loses its slots), slots spread unevenly beyond --balance_tolerance.
local redis = require "opsh.redis"
local units = require "opsh.units"
local config = require "opsh.config"

local TOTAL = 16384

-- The nodes of CLUSTER NODES: {id, address, flags = {name = true}, primary, slots = count, ranges}
local function parse_nodes(text)
  local nodes = {}
  for line in tostring(text):gmatch("[^\r\n]+") do
    local f = {}
    for w in line:gmatch("%S+") do f[#f + 1] = w end
    if #f >= 8 then
      local n = { id = f[1], address = f[2]:match("^([^@,]+)"), flags = {}, primary = f[4] ~= "-" and f[4] or nil,
                  link = f[8], slots = 0, ranges = {} }
      for flag in f[3]:gmatch("[^,]+") do n.flags[flag] = true end
      for i = 9, #f do
        local a, b = f[i]:match("^(%d+)%-(%d+)$")
        if not a then a = f[i]:match("^(%d+)$"); b = a end   -- "[slot->-id]" (migrating) is skipped
        if a then
          a, b = tonumber(a), tonumber(b)
          n.slots = n.slots + (b - a + 1)
          n.ranges[#n.ranges + 1] = { a, b }
        end
      end
      nodes[#nodes + 1] = n
    end
  end
  return nodes
end

-- Slot ranges no node serves, as "a-b" strings.
local function missing(nodes)
  local covered = {}
  for _, n in ipairs(nodes) do
    for _, r in ipairs(n.ranges) do covered[#covered + 1] = r end
  end
  table.sort(covered, function(x, y) return x[1] < y[1] end)
  local out, next_slot = {}, 0
  for _, r in ipairs(covered) do
    if r[1] > next_slot then out[#out + 1] = next_slot == r[1] - 1 and tostring(next_slot) or (next_slot .. "-" .. (r[1] - 1)) end
    if r[2] + 1 > next_slot then next_slot = r[2] + 1 end
  end
  if next_slot < TOTAL then out[#out + 1] = next_slot == TOTAL - 1 and tostring(next_slot) or (next_slot .. "-" .. (TOTAL - 1)) end
  return out
end

return {
  description = "Redis Cluster health: cluster_state, slot coverage, failing nodes, replicas, memory and keys per node, balance",
  categories = { "redis", "check", "safe" },
  guide = { "capacity-planning.6" },
  args = {
    { name = "url", help = "cluster seed nodes: redis://h1:7000,h2:7001 or h1:7000,h2:7001 (default: the configured redis_url)" },
    { name = "balance_tolerance", type = "number", default = 20, help = "% a primary's slot count may differ from the mean before WARNING" },
  },
  run = function(args, ctx)
    local url = (args.url and args.url ~= "") and args.url or config.get("redis_url")
    local rc, err = redis.cluster(url)
    if not rc then
      return ctx:crit("redis.cluster.reachable", "no node of the cluster answered: " .. tostring(err) .. units.redis_auth_hint(err), { up = 0 })
    end
    local text, nerr = rc:call("CLUSTER", "NODES")
    if not text then
      rc:close()
      return ctx:crit("redis.cluster.nodes", "CLUSTER NODES failed: " .. tostring(nerr))
    end
    local nodes = parse_nodes(text)

    -- cluster_state as each node sees it (the nodes the cluster marks fail are left out)
    local failed = {}
    for _, n in ipairs(nodes) do if n.flags.fail then failed[n.address] = true end end
    local states, bad_state, unreachable = 0, {}, {}
    for node, conn in rc:each_node { role = "all" } do
      if not failed[node.address] then
        local info, ierr = conn:call("CLUSTER", "INFO")
        local state = info and tostring(info):match("cluster_state:(%w+)")
        if state then
          states = states + 1
          if state ~= "ok" then bad_state[#bad_state + 1] = node.address .. " (" .. state .. ")" end
        else
          unreachable[#unreachable + 1] = node.address .. " (" .. tostring(ierr) .. ")"
        end
      end
    end
    local sm = { nodes_not_ok = #bad_state, unreachable = #unreachable }
    if #bad_state > 0 then
      ctx:crit("redis.cluster.state", "cluster_state is not ok on " .. table.concat(bad_state, ", "), sm)
    elseif #unreachable > 0 then
      ctx:warn("redis.cluster.state", string.format("cluster_state:ok on %d nodes; not reachable (the cluster does not mark them fail yet): %s",
        states, table.concat(unreachable, "; ")), sm)
    else
      ctx:ok("redis.cluster.state", string.format("cluster_state:ok on all %d nodes not marked fail", states), sm)
    end

    -- slot coverage
    local holes = missing(nodes)
    local assigned = 0
    for _, n in ipairs(nodes) do assigned = assigned + n.slots end
    if #holes > 0 then
      ctx:crit("redis.cluster.slots", string.format("%d of %d slots served; no node serves %s", assigned, TOTAL, table.concat(holes, ", ")),
        { slots_assigned = assigned, missing_ranges = #holes })
    else
      ctx:ok("redis.cluster.slots", "all 16384 slots served", { slots_assigned = assigned, missing_ranges = 0 })
    end

    -- failing and suspected nodes; primaries and their replicas
    local failed_serving, failed_other, suspected = {}, {}, {}
    local primaries, replicas_of = {}, {}
    for _, n in ipairs(nodes) do
      if n.flags.fail then
        if n.slots > 0 then failed_serving[#failed_serving + 1] = n.address else failed_other[#failed_other + 1] = n.address end
      elseif n.flags["fail?"] then
        suspected[#suspected + 1] = n.address
      end
      if n.flags.master and n.slots > 0 then primaries[#primaries + 1] = n end
      if n.flags.slave and n.primary and not n.flags.fail and n.link == "connected" then
        replicas_of[n.primary] = (replicas_of[n.primary] or 0) + 1
      end
    end
    local fm = { failed = #failed_serving + #failed_other, suspected = #suspected }
    if #failed_serving > 0 then
      ctx:crit("redis.cluster.failing", "primaries serving slots are marked fail (no replica took over): " .. table.concat(failed_serving, ", "), fm)
    elseif #failed_other > 0 or #suspected > 0 then
      local parts = {}
      if #failed_other > 0 then parts[#parts + 1] = "failed (serving no slot): " .. table.concat(failed_other, ", ") end
      if #suspected > 0 then parts[#parts + 1] = "suspected (PFAIL): " .. table.concat(suspected, ", ") end
      ctx:warn("redis.cluster.failing", table.concat(parts, "; "), fm)
    else
      ctx:ok("redis.cluster.failing", "no node failed or suspected", fm)
    end
    local lonely = {}
    for _, p in ipairs(primaries) do
      if (replicas_of[p.id] or 0) == 0 then lonely[#lonely + 1] = p.address end
    end
    if #lonely > 0 then
      ctx:warn("redis.cluster.replicas", "primaries without a replica (one more failure loses their slots): " .. table.concat(lonely, ", "),
        { primaries = #primaries, without_replica = #lonely })
    else
      ctx:ok("redis.cluster.replicas", string.format("each of the %d primaries has a replica", #primaries),
        { primaries = #primaries, without_replica = 0 })
    end

    -- slots per primary
    if #primaries > 0 then
      local mean = assigned / #primaries
      local uneven, lo, hi = {}, math.huge, 0
      for _, p in ipairs(primaries) do
        lo, hi = math.min(lo, p.slots), math.max(hi, p.slots)
        if math.abs(p.slots - mean) > mean * args.balance_tolerance / 100 then
          uneven[#uneven + 1] = string.format("%s %d", p.address, p.slots)
        end
      end
      local bm = { min_slots = lo, max_slots = hi }
      if #uneven > 0 then
        ctx:warn("redis.cluster.balance", string.format("slots unevenly spread (mean %.0f, tolerance %g%%): %s; "
          .. "redis-cli --cluster rebalance moves them", mean, args.balance_tolerance, table.concat(uneven, ", ")), bm)
      else
        ctx:ok("redis.cluster.balance", string.format("%d to %d slots per primary", lo, hi), bm)
      end
    end

    -- memory and keys per primary
    for node, conn in rc:each_node() do
      if not failed[node.address] then
        local info, ierr = conn:info()
        if info then
          local mem = info.memory or {}
          local db0 = (info.keyspace or {}).db0
          local keys = type(db0) == "table" and (db0.keys or 0) or 0
          ctx:ok("redis.cluster.node." .. node.address, string.format("%s used, %d keys, %d slots",
            units.bytes_text(tonumber(mem.used_memory) or 0), keys, node.slots or 0),
            { used_bytes = tonumber(mem.used_memory) or 0, keys = keys, slots = node.slots or 0 })
        else
          ctx:warn("redis.cluster.node." .. node.address, "INFO failed: " .. tostring(ierr))
        end
      end
    end
    rc:close()
  end,
}
