-- The guide's access-log analysis in one native pass over the logs (opsh.logs): the top client
-- addresses (`awk '{print $1}' | sort | uniq -c | sort -nr | head`), rate-limit events (status
-- 429: nginx's limit_req answer; the guide greps "rate_limit"), SQL-injection attempts (its
-- `grep -E "(union|select|insert|update|delete|drop)"`) and high-frequency clients (`awk
-- '$9 == 200'` per address above a threshold). Rotated and gzipped logs are read as they are
-- (--file 'access.log*'); every count is a metric, so --json carries them.
local logs = require "opsh.logs"
local time = require "opsh.time"

local SQL_WORDS = { "union", "select", "insert", "update", "delete", "drop" }

local function first_problems(r, n)
  local out = {}
  for k = 1, math.min(n, #r.problems) do out[#out + 1] = r.problems[k].text end
  if #r.problems > n then out[#out + 1] = string.format("(%d more)", #r.problems - n) end
  return table.concat(out, "; ")
end

return {
  description = "Access-log security analysis: top IPs, rate-limit (429) events, SQL-injection patterns, high-frequency clients",
  categories = { "security", "logs", "check", "safe" },
  guide = { "access-log-analysis.1", "access-log-analysis.2", "access-log-analysis.3", "access-log-analysis.4" },
  args = {
    { name = "file", type = "list", default = { "/var/log/nginx/access.log" },
      help = "access logs, repeatable, globs allowed (access.log* takes rotated and .gz files)" },
    { name = "since", help = "only lines of this window, by their own timestamps: a duration (24h) or ISO time" },
    { name = "top", type = "integer", default = 10, help = "how many top IPs to list" },
    { name = "threshold", type = "integer", default = 100, help = "status-200 requests above which a client is high-frequency (the guide's ALERT_THRESHOLD)" },
    { name = "rate_limit_warn", type = "integer", default = 100, help = "429 responses for WARNING" },
    { name = "sql", default = "words", choices = { "words", "grep" },
      help = "words: SQL words as whole words in any case; grep: the guide's grep -E exactly (substrings, lower case)" },
    { name = "show", type = "integer", default = 5, help = "matching lines quoted" },
  },
  run = function(args, ctx)
    local since
    if args.since then
      since = time.parse_iso(args.since) or time.since(args.since)
    end
    local sql = { words = SQL_WORDS }
    if args.sql == "words" then sql.word = true; sql.ignore_case = true end
    local r, err = logs.scan {
      files = args.file, format = "access", since = since, top = args.top, threshold = args.threshold,
      samples = args.show, sets = { sql = sql },
    }
    if not r then return ctx:unknown("access.scan", tostring(err)) end
    local readable = 0
    for _, f in ipairs(r.files) do if f.readable then readable = readable + 1 end end
    if readable == 0 then
      return ctx:unknown("access.scan", "no access log could be read: " .. first_problems(r, 5))
    end
    local window = since and (" since " .. time.iso(since)) or ""
    local requests = r.lines - r.malformed - r.outside
    local scanned = { files = #r.files, lines = r.lines, requests = requests, malformed = r.malformed, outside = r.outside,
      bytes = r.bytes, distinct_ips = r.distinct_ips }
    if #r.problems > 0 then
      ctx:warn("access.input", string.format("%d problem(s) reading the logs: %s", #r.problems, first_problems(r, 5)), scanned)
    else
      ctx:ok("access.input", string.format("%d lines in %d file(s)%s", r.lines, #r.files, window), scanned)
    end

    -- 1. top IP addresses by request count
    local parts, m = {}, { distinct_ips = r.distinct_ips }
    for k, e in ipairs(r.top_ips) do
      parts[#parts + 1] = string.format("%s %d", e.ip, e.count)
      m[e.ip] = e.count
      if k == 1 then m.top_ip_requests = e.count end
    end
    ctx:ok("access.top_ips", #parts > 0 and table.concat(parts, ", ") or ("no requests" .. window), m)

    -- 2. rate limiting (429)
    local limited = r.status_counts[429] or 0
    local text = string.format("%d request(s) answered 429 (rate limited)%s", limited, window)
    ctx:threshold("access.rate_limited", limited, args.rate_limit_warn, nil, text)

    -- 3. SQL injection attempts
    local s = r.sets.sql
    local quoted = {}
    for _, smp in ipairs(s.samples) do quoted[#quoted + 1] = string.format("%s:%d: %s", smp.file, smp.line, smp.text) end
    local sqltext = string.format("%d line(s) with SQL words (%s)%s", s.count,
      args.sql == "grep" and "the guide's grep -E" or "whole words, any case", window)
    if s.count > 0 then
      ctx:warn("access.sql_injection", sqltext .. "; last: " .. table.concat(quoted, " | "), { sql_injection = s.count })
    else
      ctx:ok("access.sql_injection", sqltext, { sql_injection = 0 })
    end

    -- 4. high-frequency clients (status 200 above the threshold)
    local hf, hm = {}, { high_frequency_clients = #r.clients }
    for _, c in ipairs(r.clients) do
      hf[#hf + 1] = string.format("%s - %d requests", c.ip, c.count)
      hm[c.ip] = c.count
    end
    if #hf > 0 then
      ctx:warn("access.high_frequency", string.format("%d client(s) above %d status-200 requests: %s", #hf, args.threshold,
        table.concat(hf, ", ", 1, math.min(#hf, args.top)) .. (#hf > args.top and ", ..." or "")), hm)
    else
      ctx:ok("access.high_frequency", string.format("no client above %d status-200 requests", args.threshold), hm)
    end
  end,
}
