-- Collection status report: points, vectors, segments, optimizer status and the share of
-- vectors in the HNSW index, per collection (all of them, or --collection NAME).
--
-- Qdrant indexes a segment only once its vectors pass optimizers_config.indexing_threshold
-- (in KB; 0 disables indexing), so a small collection searched by full scan is normal. A
-- collection large enough to be indexed but mostly unindexed is a WARNING: searches are slow
-- until the optimizer catches up (status yellow) or starts (grey: it needs a new update).
local qdrant = require "opsh.qdrant"
local prom = require "opsh.prom"
local opsh = require "opsh"

-- Dense vectors per point and their dimensions, from the collection's params.
local function dense_vectors(params)
  local v = params and params.vectors
  if type(v) ~= "table" then return {} end
  if v.size then return { [""] = v.size } end
  local out = {}
  for name, cfg in pairs(v) do if type(cfg) == "table" and cfg.size then out[name] = cfg.size end end
  return out
end

local STATUS = { green = "ok", yellow = "warn", grey = "warn", red = "crit" }

return {
  description = "Collection status: points, vectors, segments, optimizer status and indexed ratio per collection",
  categories = { "qdrant", "check", "daily", "safe" },
  guide = { "capacity-planning.5", "common-issues-and-solutions.7" },
  args = {
    { name = "collection", help = "only this collection (default: all)" },
    { name = "indexed_warn", type = "number", default = 0.9, help = "indexed share of vectors below which a collection big enough to be indexed is a WARNING" },
  },
  notes = "Vectors per collection come from /metrics (collection_vectors) when served, else points x named dense vectors.",
  run = function(args, ctx)
    local q = qdrant.connect()
    local names, err = q:collection_names(args.collection)
    if not names then return ctx:crit("qdrant.collections", tostring(err)) end
    if #names == 0 then return ctx:ok("qdrant.collections", "no collections") end
    local fns = { function() return { q:metrics() } end }
    for i, name in ipairs(names) do fns[i + 1] = function() return { q:collection(name) } end end
    local results = { opsh.all(fns) }
    local metrics = results[1][1]
    local total_points = 0
    for i, name in ipairs(names) do
      local info, err = results[i + 1][1], results[i + 1][2]
      local check = "qdrant.collection." .. name
      if not info then
        ctx:crit(check, tostring(err))
        goto continue
      end
      do
        local points = info.points_count or 0
        total_points = total_points + points
        local dims = dense_vectors(info.config and info.config.params)
        local vectors, kb = 0, 0
        for vname, size in pairs(dims) do
          local s = metrics and prom.find(metrics, "collection_vectors", { collection = name, vector = vname })
          local n = s and math.floor(s.value) or points
          vectors = vectors + n
          kb = kb + n * size * 4 / 1024
        end
        local indexed = info.indexed_vectors_count or 0
        local ratio = vectors > 0 and indexed / vectors or 1.0
        local threshold = info.config and info.config.optimizer_config and info.config.optimizer_config.indexing_threshold
        local m = { points = points, vectors = vectors, indexed_vectors = indexed, indexed_ratio = ratio,
          segments = info.segments_count or 0 }
        local parts = { string.format("%s; %d points, %d vectors (%.0f%% indexed), %d segments",
          info.status, points, vectors, ratio * 100, info.segments_count or 0) }
        local level = STATUS[info.status] or "unknown"
        if type(info.optimizer_status) == "table" and info.optimizer_status.error then
          level = "crit"
          parts[#parts + 1] = "optimizer error: " .. tostring(info.optimizer_status.error)
        end
        if threshold == 0 then
          parts[#parts + 1] = "indexing disabled (indexing_threshold 0)"
        elseif threshold and threshold ~= opsh.null and kb >= threshold and ratio < args.indexed_warn then
          if level == "ok" then level = "warn" end
          parts[#parts + 1] = string.format("only %.0f%% of %.0f KB of vectors indexed (threshold %d KB): searches scan", ratio * 100, kb, threshold)
        end
        if info.status == "grey" then parts[#parts + 1] = "optimizations pending: they start with the next update" end
        for _, w in ipairs(info.warnings or {}) do parts[#parts + 1] = "warning: " .. tostring(w.message or w) end
        ctx[level](ctx, check, table.concat(parts, "; "), m)
      end
      ::continue::
    end
    ctx:ok("qdrant.collections", string.format("%d collection%s, %d points", #names, #names == 1 and "" or "s", total_points),
      { collections = #names, points = total_points })
  end,
}
