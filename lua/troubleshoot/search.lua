-- The guide's search-performance troubleshooting (Troubleshooting / Search Performance
-- Degradation) over every collection (or --collection), then what it found and what to do.
-- For each collection it runs qdrant/search-performance's readings (index status, query latency
-- from Qdrant's metrics, timed probe queries; never its --m/--ef_construct changes) and reads
-- them:
--   not green               red: the collection failed (Qdrant's log says why); yellow/grey:
--                           the optimizer is at work, searches are slower until it is done
--   vectors not indexed     searched by brute force until the HNSW index catches up
--   latency above 100 ms    the guide's warning; the search-time ef (params.hnsw_ef) trades
--                           accuracy for speed per query: qdrant/search-performance
--                           --hnsw_ef N measures it before anything is changed
--   the guide's `hnsw_config: {ef: 128, m: 16}` PATCH: Qdrant has no ef setting (it ignores the
--   field); m is an index-build parameter whose change rebuilds the whole index: opsh does not
--   apply it as a troubleshooting step (qdrant/search-performance --m does, asked for).
-- Reads only.
local qdrant = require "opsh.qdrant"
local procedure = require "opsh.procedure"
local report = require "opsh.report"

return {
  description = "Search troubleshooting for every collection: index status, query latency (metrics and probes); what it found and what to do",
  categories = { "troubleshooting", "qdrant", "safe" },
  guide = {
    "common-issues-and-solutions.6", "common-issues-and-solutions.7", "common-issues-and-solutions.8",
    "common-issues-and-solutions.9",
  },
  notes = "Changes nothing: reads collection info and /metrics, and sends a few probe queries (reads).",
  args = {
    { name = "collection", help = "only this collection (default: every collection)" },
    { name = "probes", type = "integer", default = 5, help = "probe queries per collection" },
  },
  run = function(args, ctx)
    local q, err = qdrant.connect {}
    if not q then return ctx:crit("search", "Qdrant is not reachable: " .. tostring(err)) end
    local names, nerr = q:collection_names(args.collection)
    if not names then return ctx:crit("search", "cannot list collections: " .. tostring(nerr)) end
    if #names == 0 then return ctx:ok("search", "Qdrant holds no collections") end
    local advice = {}
    for _, name in ipairs(names) do
      local sub = report.new("qdrant/search-performance", nil, {}, { dry_run = ctx.dry_run })
      -- read-only: no --m or --ef_construct is passed, the only arguments that change anything
      local ok, perr = procedure.run("qdrant/search-performance", { collection = name, probes = args.probes }, sub, { allow_changes = true })
      if not ok then sub:unknown("qdrant.search", tostring(perr)) end
      for _, c in ipairs(sub.checks) do
        ctx.checks[#ctx.checks + 1] = { name = c.name:gsub("^qdrant%.search", "search." .. name), status = c.status, message = c.message, metrics = c.metrics }
        if c.name == "qdrant.search.status" then
          if c.message:find(": red,", 1, true) then
            advice[#advice + 1] = name .. " is red: the collection failed; Qdrant's log (services/logs --service qdrant) says why; recover from a snapshot (qdrant/snapshot-restore) if it does not heal"
          elseif c.status ~= "ok" then
            advice[#advice + 1] = name .. " is being optimized: searches are slower until it is green (qdrant/collections shows progress)"
          end
          local points, indexed = c.metrics.points or 0, c.metrics.indexed_vectors or 0
          if points > 0 and indexed < points * 0.9 and points > 20000 then
            advice[#advice + 1] = string.format("%s: %d of %d vectors indexed: the rest are searched by brute force until the index catches up "
              .. "(indexing_threshold in qdrant/optimize)", name, indexed, points)
          end
        elseif (c.name == "qdrant.search.metrics" or c.name == "qdrant.search.probe") and c.status ~= "ok" and c.status ~= "unknown" then
          advice[#advice + 1] = name .. ": queries are slow (" .. c.message .. "); measure a lower search-time ef first: "
            .. "opsh run qdrant/search-performance --collection " .. name .. " --hnsw_ef 64; then look at the host (troubleshoot/memory) and segments (qdrant/optimize)"
        end
      end
    end
    if #advice == 0 then ctx:ok("search.advice", "nothing found that needs action")
    else ctx:warn("search.advice", table.concat(advice, "\n")) end
  end,
}
