-- Qdrant collection sizes, with the aliases that point at each collection:
--
--   opsh run examples/qdrant-collection-sizes.lua
--   opsh --json run examples/qdrant-collection-sizes.lua | jq '.checks[].metrics'
--
-- For every collection: its status, points, indexed vectors, segments, vector size and
-- distance, an estimate of the raw vector bytes (points x dimensions x 4 bytes for float32,
-- 1 for uint8, per named vector), and which aliases resolve to it, so a blue/green pair
-- (docs_v1, docs_v2 behind the alias "docs") reads at a glance. Reads only.
local qdrant = require "opsh.qdrant"
local units = require "opsh.units"

local BYTES = { Float32 = 4, Float16 = 2, Uint8 = 1 }

-- {name = {size, distance, datatype}} for a collection's vectors config (one unnamed or several named)
local function vectors_of(params)
  local v = params and params.vectors or {}
  if v.size then return { [""] = v } end
  return v
end

return {
  description = "Example: every Qdrant collection's points, segments and raw vector size, with the aliases pointing at it",
  categories = { "example", "qdrant", "safe" },
  args = {
    { name = "url", help = "Qdrant URL (default: config qdrant_url)" },
  },
  run = function(args, ctx)
    local q, err = qdrant.connect { url = args.url }
    if not q then return ctx:crit("qdrant", tostring(err)) end
    local names, cerr = q:collections()
    if not names then return ctx:crit("qdrant", "cannot list collections: " .. tostring(cerr)) end
    local by_collection = {}
    for _, a in ipairs(q:aliases() or {}) do
      local list = by_collection[a.collection_name] or {}
      list[#list + 1] = a.alias_name
      by_collection[a.collection_name] = list
    end
    local total_points, total_bytes = 0, 0
    for _, name in ipairs(names) do
      local info, ierr = q:collection(name)
      if not info then
        ctx:crit("collection." .. name, tostring(ierr))
      else
        local points = info.points_count or 0
        local bytes, dims = 0, {}
        for vname, v in pairs(vectors_of(info.config and info.config.params)) do
          bytes = bytes + points * (v.size or 0) * (BYTES[v.datatype or "Float32"] or 4)
          dims[#dims + 1] = (vname ~= "" and (vname .. ":") or "") .. tostring(v.size) .. " " .. tostring(v.distance)
        end
        table.sort(dims)
        local aliases = by_collection[name] or {}
        table.sort(aliases)
        total_points, total_bytes = total_points + points, total_bytes + bytes
        local f = info.status == "green" and ctx.ok or ctx.warn
        f(ctx, "collection." .. name, string.format("%s, %d points, %d indexed, %d segments, %s, ~%s of vectors%s",
          info.status, points, info.indexed_vectors_count or 0, info.segments_count or 0, table.concat(dims, ", "),
          units.bytes_text(bytes), #aliases > 0 and ("; aliases: " .. table.concat(aliases, ", ")) or ""),
          { points = points, vector_bytes = bytes, segments = info.segments_count or 0, aliases = #aliases })
      end
    end
    ctx:ok("total", string.format("%d collections, %d points, ~%s of vectors", #names, total_points, units.bytes_text(total_bytes)),
      { collections = #names, points = total_points, vector_bytes = total_bytes })
  end,
}
