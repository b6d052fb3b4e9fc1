--- opsh.cache_policy: the cache settings redis/cache reports and redis/cache-optimize acts on,
--- kept in one place so the report and the deletion can never disagree about what is protected.
local config = require "opsh.config"

local M = {}

--- Key patterns that hold data, not cache: a database holding any of them is never cleared.
M.PROTECTED = { "user:*", "apikey:*", "session:*", "arq:*" }

--- The cache key pattern: the argument, else config cache_key_pattern, else "cache:*".
function M.pattern(arg)
  return arg or config.get("cache_key_pattern") or "cache:*"
end

--- The used-memory threshold text: the argument, else config thresholds.redis_cache_max_memory,
--- else "1gb" as in the guide.
function M.threshold(arg)
  if arg ~= nil then return arg end
  local t = config.get("thresholds")
  if type(t) == "table" and t.redis_cache_max_memory ~= nil then return t.redis_cache_max_memory end
  return "1gb"
end

-- A Redis glob (*, ?, [...], \x) as an anchored Lua pattern.
function M.glob_to_lua(glob)
  local out, i = { "^" }, 1
  while i <= #glob do
    local c = glob:sub(i, i)
    if c == "*" then out[#out + 1] = ".*"
    elseif c == "?" then out[#out + 1] = "."
    elseif c == "\\" and i < #glob then i = i + 1; out[#out + 1] = "%" .. glob:sub(i, i)
    elseif c == "[" and glob:find("]", i + 1, true) then
      local j = glob:find("]", i + 1, true)
      local body = glob:sub(i + 1, j - 1):gsub("^%^", "\0"):gsub("%%", "%%%%"):gsub("%z", "^")
      out[#out + 1] = "[" .. body .. "]"
      i = j
    elseif c:match("%p") then out[#out + 1] = "%" .. c
    else out[#out + 1] = c end
    i = i + 1
  end
  out[#out + 1] = "$"
  return table.concat(out)
end

--- The patterns whose presence makes a clear refuse: `list` (default M.PROTECTED), plus the
--- configured task queue name when it is not under arq:.
function M.protected_patterns(list)
  local protect = {}
  for _, p in ipairs(list or M.PROTECTED) do protect[#protect + 1] = p end
  local tq = config.get("task_queue_name")
  if type(tq) == "string" and tq ~= "" and not tq:match("^arq:") then protect[#protect + 1] = tq .. "*" end
  return protect
end

--- Which protected patterns have at least one key: a list of "pattern (e.g. key)", or nil, err.
function M.protected_found(r, protect, count)
  local found = {}
  local ok, err = pcall(function()
    for _, p in ipairs(protect) do
      for key in r:scan { match = p, count = count or 1000 } do found[#found + 1] = string.format("%s (e.g. %s)", p, key); break end
    end
  end)
  if not ok then return nil, err end
  return found
end

--- Deletes the keys matching `pattern`, streamed from SCAN, one UNLINK (DEL where UNLINK does not
--- exist) per batch; a key matching a protected pattern is never sent. Never FLUSHDB. Under
--- opts.dry_run it only counts (and samples opts.sample names). Returns the counts
--- {scanned, deleted, skipped, batches, sample, command}, whether it finished, and the error.
--- Callers check protected_found first: this is the deletion, not the refusal.
function M.clear(r, pattern, opts)
  opts = opts or {}
  local guards = {}
  for i, p in ipairs(opts.protect or M.protected_patterns()) do guards[i] = M.glob_to_lua(p) end
  local res = { scanned = 0, deleted = 0, skipped = 0, batches = 0, sample = {}, command = "UNLINK" }
  local size, sample_max = opts.batch or 500, opts.sample or 20
  local batch = {}
  local function flush()
    if #batch == 0 then return end
    res.batches = res.batches + 1
    if opts.dry_run then
      for _, k in ipairs(batch) do if #res.sample < sample_max then res.sample[#res.sample + 1] = k end end
      res.deleted = res.deleted + #batch
    else
      local n, derr = r:call(res.command, table.unpack(batch))
      if not n and res.command == "UNLINK" and tostring(derr):lower():find("unknown command", 1, true) then
        res.command = "DEL"
        n, derr = r:call(res.command, table.unpack(batch))
      end
      if not n then error(res.command .. " failed: " .. tostring(derr), 0) end
      res.deleted = res.deleted + n
    end
    batch = {}
  end
  local ok, err = pcall(function()
    for key in r:scan { match = pattern, count = opts.count or 1000 } do
      res.scanned = res.scanned + 1
      local guarded = false
      for _, g in ipairs(guards) do if key:match(g) then guarded = true; break end end
      if guarded then res.skipped = res.skipped + 1 else
        batch[#batch + 1] = key
        if #batch >= size then flush() end
      end
    end
    flush()
  end)
  return res, ok, err
end

return M
