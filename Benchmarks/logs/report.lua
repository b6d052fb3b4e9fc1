-- The guide's access-log reports from one opsh.logs pass, printed as the guide's pipelines print
-- them, so run.sh can compare the answers byte for byte:
--   top      `awk '{print $1}' LOG | sort | uniq -c | sort -nr | head`          ("%7d %s")
--   sql      `grep -cE "(union|select|insert|update|delete|drop)" LOG`, then the last 10 lines (grep | tail -10)
--   clients  `awk '$9 == 200 {print $1}' LOG | sort | uniq -c | awk '$1 > 100 {...}'` ("IP - N requests", by IP)
-- Usage: opsh report.lua LOG top|sql|clients|all
local logs = require "opsh.logs"
local file, what = arg[1], arg[2] or "all"
local want = { top = what == "top" or what == "all", sql = what == "sql" or what == "all", clients = what == "clients" or what == "all" }
-- the SQL words alone are a grep: no access-log parsing (the "plain" format); the other reports parse
-- and none needs paths or response times: they are not read
local opts = { files = file, format = what == "sql" and "plain" or "access", paths = false, times = false, top = 10, samples = 10 }
if want.sql then opts.sets = { sql = { words = { "union", "select", "insert", "update", "delete", "drop" } } } end
if want.clients then opts.threshold = tonumber(os.getenv("THRESHOLD") or "100") end
local r = assert(logs.scan(opts))
if #r.problems > 0 then io.stderr:write(r.problems[1].text, "\n") end
if want.top then
  for _, e in ipairs(r.top_ips) do io.write(string.format("%7d %s\n", e.count, e.ip)) end
end
if want.sql then
  io.write(r.sets.sql.count, "\n")
  for _, s in ipairs(r.sets.sql.samples) do io.write(s.text, "\n") end
end
if want.clients then
  table.sort(r.clients, function(a, b) return a.ip < b.ip end)
  for _, c in ipairs(r.clients) do io.write(c.ip, " - ", c.count, " requests\n") end
end
