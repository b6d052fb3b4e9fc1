-- The guide's weekly "optimize / rebuild indexes / vacuum", done with what Qdrant offers.
--
-- The guide's calls do not exist: there is no POST /collections/{c}/optimize, POST .../index
-- creates a payload index (it needs a field), and there is no qdrant-cli. Qdrant optimizes on
-- its own, driven by optimizers_config: it vacuums segments whose share of deleted points
-- passes deleted_threshold (and that hold at least vacuum_min_vector_number vectors), merges
-- small segments, and builds the HNSW index once a segment passes indexing_threshold (KB).
-- So this procedure (1) sets the optimizer thresholds you give (PATCH, checked against the
-- spec; only values that differ are sent), (2) creates the payload indexes you list that are
-- missing, and (3) waits until each collection is green again, reporting how long it took.
local qdrant = require "opsh.qdrant"
local config = require "opsh.config"
local time = require "opsh.time"

local OPTIMIZER_ARGS = {
  "deleted_threshold", "vacuum_min_vector_number", "default_segment_number", "max_segment_size",
  "memmap_threshold", "indexing_threshold", "flush_interval_sec", "max_optimization_threads",
}

-- "city:keyword,year:integer" -> { {field = "city", type = "keyword"}, ... }
local function parse_indexes(text)
  local out = {}
  for item in tostring(text or ""):gmatch("[^,%s]+") do
    local field, kind = item:match("^([^:]+):(%a+)$")
    if not field then return nil, "bad index " .. item .. " (expected field:type, e.g. city:keyword)" end
    out[#out + 1] = { field = field, type = kind }
  end
  return out
end

return {
  description = "Weekly Qdrant maintenance: optimizer thresholds (vacuum, segments, indexing) via PATCH, payload indexes, then wait for green",
  categories = { "qdrant", "weekly", "maintenance", "intrusive" },
  window = "weekly",
  guide = { "scheduled-maintenance.1", "scheduled-maintenance.2", "scheduled-maintenance.4" },
  args = {
    { name = "collection", help = "only this collection (default: all)" },
    { name = "deleted_threshold", type = "number", help = "vacuum a segment once this share (0-1) of its points is deleted" },
    { name = "vacuum_min_vector_number", type = "integer", help = "segments smaller than this are not vacuumed" },
    { name = "default_segment_number", type = "integer", help = "target number of segments (0: by CPU count)" },
    { name = "max_segment_size", type = "integer", help = "largest segment in KB" },
    { name = "memmap_threshold", type = "integer", help = "segments above this (KB) are memory-mapped" },
    { name = "indexing_threshold", type = "integer", help = "build the HNSW index for segments above this (KB); 0 disables indexing" },
    { name = "flush_interval_sec", type = "integer", help = "seconds between flushes" },
    { name = "max_optimization_threads", type = "integer", help = "threads per optimization" },
    { name = "index", help = "payload indexes to create, e.g. city:keyword,year:integer (types: keyword, integer, float, bool, geo, datetime, text, uuid)" },
    { name = "wait", type = "number", default = 600, help = "seconds to wait for each collection to turn green" },
  },
  notes = "Settings come from the arguments, else from config.lua `qdrant_optimizers = {collection = {...}}` or `qdrant_optimizers = {...}` for all.\n"
    .. "There is no optimize-now call in Qdrant: changing a threshold makes the optimizer re-evaluate the segments.",
  run = function(args, ctx)
    local q = qdrant.connect()
    local indexes, ierr = parse_indexes(args.index)
    if not indexes then return ctx:unknown("qdrant.optimize", ierr) end
    local names, nerr = q:collection_names(args.collection)
    if not names then return ctx:crit("qdrant.collections", tostring(nerr)) end
    local configured = config.get("qdrant_optimizers")
    for _, name in ipairs(names) do
      local check = "qdrant.optimize." .. name
      local info, err = q:collection(name)
      if not info then ctx:crit(check, tostring(err)) goto continue end
      do
        local current = info.config and info.config.optimizer_config or {}
        local wanted = {}
        if type(configured) == "table" then
          local per = type(configured[name]) == "table" and configured[name] or configured
          for _, k in ipairs(OPTIMIZER_ARGS) do if per[k] ~= nil then wanted[k] = per[k] end end
        end
        for _, k in ipairs(OPTIMIZER_ARGS) do if args[k] ~= nil then wanted[k] = args[k] end end
        local diff, changes = {}, {}
        for _, k in ipairs(OPTIMIZER_ARGS) do
          if wanted[k] ~= nil and wanted[k] ~= current[k] then
            diff[k] = wanted[k]
            changes[#changes + 1] = string.format("%s %s -> %s", k, tostring(current[k]), tostring(wanted[k]))
          end
        end
        local started = time.monotonic()
        local did = {}
        if next(diff) then
          local r, perr = q:update_collection(name, { optimizers_config = diff })
          if not r then ctx:crit(check, "optimizer settings not applied: " .. tostring(perr)) goto continue end
          did[#did + 1] = ((type(r) == "table" and r.dry_run) and "would set " or "set ") .. table.concat(changes, ", ")
        end
        local schema = info.payload_schema or {}
        for _, ix in ipairs(indexes) do
          local have = schema[ix.field]
          if have and have.data_type == ix.type then
            did[#did + 1] = "index " .. ix.field .. " (" .. ix.type .. ") exists"
          else
            local r, xerr = q:create_index(name, ix.field, ix.type)
            if not r then ctx:crit(check, "index " .. ix.field .. " not created: " .. tostring(xerr)) goto continue end
            did[#did + 1] = ((type(r) == "table" and r.dry_run) and "would create" or "created") .. " index " .. ix.field .. " (" .. ix.type .. ")"
              .. (have and (" replacing " .. tostring(have.data_type)) or "")
          end
        end
        if ctx.dry_run then
          ctx:ok(check, #did > 0 and table.concat(did, "; ") or "nothing to change")
          goto continue
        end
        local final, werr = q:wait_green(name, { timeout = args.wait })
        local took = time.monotonic() - started
        if not final then
          ctx:warn(check, (#did > 0 and table.concat(did, "; ") .. "; " or "") .. tostring(werr), { seconds = took })
        else
          ctx:ok(check, string.format("%s; green after %.1f s (%d points, %d indexed vectors, %d segments)",
            #did > 0 and table.concat(did, "; ") or "settings already as asked", took,
            final.points_count or 0, final.indexed_vectors_count or 0, final.segments_count or 0),
            { seconds = took, segments = final.segments_count or 0, indexed_vectors = final.indexed_vectors_count or 0 })
        end
      end
      ::continue::
    end
  end,
}
