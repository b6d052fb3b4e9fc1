-- Lists Qdrant's snapshots (each collection's and the full-storage ones), oldest first, and
-- checks that every collection has a recent one: a collection whose newest snapshot is older
-- than --max_age (or that has none) is a WARNING, so this also verifies the daily backup ran.
local qdrant = require "opsh.qdrant"
local time = require "opsh.time"
local units = require "opsh.units"
local opsh = require "opsh"

local age = qdrant.snapshot_age

return {
  description = "Lists Qdrant snapshots per collection and full-storage ones; warns when a collection has no recent snapshot",
  categories = { "qdrant", "backup", "check", "daily", "safe" },
  guide = { "backup-verification.1" },
  args = {
    { name = "collection", help = "only this collection (default: all)" },
    { name = "max_age", default = "26h", help = "age of the newest snapshot above which a collection is a WARNING" },
  },
  run = function(args, ctx)
    local q = qdrant.connect()
    local max_age = time.duration(args.max_age)
    local names, nerr = q:collection_names(args.collection)
    if not names then return ctx:crit("qdrant.snapshots", tostring(nerr)) end
    local fns = { function() return { q:full_snapshots() } end }
    for i, c in ipairs(names) do fns[i + 1] = function() return { q:snapshots(c) } end end
    local results = { opsh.all(fns) }
    for i, c in ipairs(names) do
      local list, err = results[i + 1][1], results[i + 1][2]
      local check = "qdrant.snapshots." .. c
      if not list then
        ctx:crit(check, tostring(err))
      elseif #list == 0 then
        ctx:warn(check, "no snapshots of " .. c, { count = 0 })
      else
        local total, lines = 0, {}
        for _, s in ipairs(list) do
          total = total + (s.size or 0)
          lines[#lines + 1] = string.format("%s %s%s", s.name, units.bytes_text(s.size or 0), s.checksum and "" or " (no checksum)")
        end
        local newest = list[#list]
        local a = age(newest)
        local msg = string.format("%d snapshot%s, %s; newest %s%s", #list, #list == 1 and "" or "s", units.bytes_text(total),
          newest.name, a and (", " .. time.format_duration(a) .. " old") or "")
        if ctx.verbose then msg = msg .. "\n    " .. table.concat(lines, "\n    ") end
        local m = { count = #list, bytes = total, newest_age_seconds = a or -1 }
        if a and a > max_age then
          ctx:warn(check, msg .. " (older than " .. args.max_age .. ")", m)
        else
          ctx:ok(check, msg, m)
        end
      end
    end
    local full, ferr = results[1][1], results[1][2]
    if not full then
      ctx:unknown("qdrant.snapshots.full", tostring(ferr))
    else
      local total = 0
      for _, s in ipairs(full) do total = total + (s.size or 0) end
      ctx:ok("qdrant.snapshots.full", string.format("%d full-storage snapshot%s, %s", #full, #full == 1 and "" or "s",
        units.bytes_text(total)) .. (#full > 0 and ("; newest " .. full[#full].name) or ""), { count = #full, bytes = total })
    end
  end,
}
