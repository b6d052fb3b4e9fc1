-- Removes sessions that have no TTL (they would live forever), the guide's "Clean expired
-- sessions" done safely:
-- - keys come from SCAN (never KEYS, which blocks the server for the whole keyspace);
-- - each batch of at most --batch keys (default 100, at most 1000) goes to one short EVAL that
--   re-checks `TTL == -1` for every key before deleting it, so a session the application
--   refreshed (gave a TTL) or recreated between our SCAN and the delete survives: the check and
--   the delete are one atomic step per batch;
-- - batches are streamed as SCAN returns keys; several EVALs go out in one pipelined write
--   (--pipeline), but each stays a separate short script, so other clients are served between
--   batches. The guide's version is one EVAL running KEYS and a loop over every session: the
--   server answers nobody else until it finishes (seconds on a million keys).
-- Under --dry-run nothing is sent that writes: TTLs are read (pipelined) and the keys that
-- would go are counted and a sample listed.
local redis = require "opsh.redis"
local units = require "opsh.units"
local auth_hint = units.redis_auth_hint
local opsh = require "opsh"
local config = require "opsh.config"
local time = require "opsh.time"

local CLEAN = [[
local n = 0
for i = 1, #KEYS do
  if redis.call('TTL', KEYS[i]) == -1 then
    redis.call('DEL', KEYS[i])
    n = n + 1
  end
end
return n
]]

return {
  description = "Deletes sessions without a TTL, atomically per batch (SCAN + a short EVAL that re-checks the TTL)",
  categories = { "redis", "sessions", "maintenance", "destructive" },
  guide = { "user-session-management.2" },
  args = {
    { name = "url", help = "Redis URL (default: the configured redis_url / REDIS_URL)" },
    { name = "match", default = "session:*", help = "session key pattern" },
    { name = "batch", type = "integer", default = 100, help = "keys per EVAL (1..1000): each EVAL is one short atomic step" },
    { name = "pipeline", type = "integer", default = 8, help = "EVAL batches sent per round trip (1 = one at a time)" },
    { name = "count", type = "integer", default = 1000, help = "SCAN COUNT hint per page" },
    { name = "sample", type = "integer", default = 20, help = "how many key names to list under --dry-run" },
  },
  notes = "Deletes: every key matching --match (default the guide's session:*) that has\n"
    .. "no TTL. Nothing else is written. A session whose TTL was set (or that was recreated with one) after SCAN\n"
    .. "returned it is kept: the EVAL re-checks TTL == -1 for each key before DEL. Run with --dry-run to see what would go.",
  run = function(args, ctx)
    if args.batch < 1 or args.batch > 1000 then error("--batch must be between 1 and 1000 (got " .. args.batch .. ")", 0) end
    if args.pipeline < 1 or args.pipeline > 1000 then error("--pipeline must be between 1 and 1000", 0) end
    local url = (args.url and args.url ~= "") and args.url or config.get("redis_url")
    local r, err = redis.connect(url)
    if not r then return ctx:crit("sessions.cleanup", "Redis is not reachable: " .. tostring(err) .. auth_hint(err), { up = 0 }) end
    local refusal = units.redis_cluster_refusal(r, "batches")
    if refusal then r:close(); return ctx:unknown("sessions.cleanup", refusal) end
    -- deleting runs on a second connection, so that the next SCAN and the previous round's
    -- EVALs travel at the same time (two tasks): the cleanup takes about as long as the longer
    -- of the two streams of round trips instead of their sum
    local w = r
    if not ctx.dry_run then
      local w2, werr = redis.connect(url)
      if not w2 then r:close(); return ctx:crit("sessions.cleanup", "Redis is not reachable: " .. tostring(werr), { up = 0 }) end
      w = w2
    end
    local started = time.monotonic()
    local scanned, deleted, batches, would, sample = 0, 0, 0, 0, {}
    local pending, batch = {}, {}
    local sha

    local function send(list)
      -- list: batches of keys; one pipelined write, one EVALSHA per batch
      local replies, perr = w:pipeline(function(p)
        for _, keys in ipairs(list) do p:call("EVALSHA", sha, #keys, table.unpack(keys)) end
      end)
      if not replies then error("pipeline failed: " .. tostring(perr), 0) end
      for i, rep in ipairs(replies) do
        if type(rep) == "table" and rep.code == "NOSCRIPT" then
          -- script cache flushed (restart, failover): the same batch again through eval, which reloads it
          local n, eerr = w:eval(CLEAN, list[i], {})
          if not n then error("EVAL failed: " .. tostring(eerr), 0) end
          rep = n
        elseif type(rep) == "table" then
          error("EVAL failed: " .. tostring(rep.message or rep.code), 0)
        end
        deleted = deleted + rep
        batches = batches + 1
      end
    end

    local function check_only(keys)
      local replies = assert(r:pipeline(function(p) for _, k in ipairs(keys) do p:call("TTL", k) end end))
      for i, ttl in ipairs(replies) do
        if ttl == -1 then
          would = would + 1
          if #sample < args.sample then sample[#sample + 1] = keys[i] end
        end
      end
      batches = batches + 1
    end

    local function take(keys)
      for _, key in ipairs(keys) do
        scanned = scanned + 1
        batch[#batch + 1] = key
        if #batch >= args.batch then
          if ctx.dry_run then check_only(batch) else pending[#pending + 1] = batch end
          batch = {}
        end
      end
    end

    local ok, perr = pcall(function()
      if not ctx.dry_run then
        local s, lerr = w:call("SCRIPT", "LOAD", CLEAN)
        if not s then error("SCRIPT LOAD failed: " .. tostring(lerr), 0) end
        sha = s
      end
      local cursor, inflight = "0", nil
      repeat
        local reply, serr
        local jobs = { function() reply, serr = r:call("SCAN", cursor, "MATCH", args.match, "COUNT", args.count) end }
        if inflight then
          local list = inflight
          jobs[2] = function() send(list) end
        end
        opsh.all(jobs)
        inflight = nil
        if not reply then error("SCAN failed: " .. tostring(serr), 0) end
        cursor = reply[1]
        take(reply[2])
        if #pending >= args.pipeline then inflight, pending = pending, {} end
      until cursor == "0"
      if inflight then send(inflight) end
      if #batch > 0 then
        if ctx.dry_run then check_only(batch) else pending[#pending + 1] = batch end
        batch = {}
      end
      while #pending > 0 do
        local list = {}
        for i = 1, math.min(args.pipeline, #pending) do list[i] = table.remove(pending, 1) end
        send(list)
      end
    end)
    if w ~= r then w:close() end
    r:close()
    local elapsed = time.monotonic() - started
    local m = { scanned = scanned, batches = batches, duration_s = elapsed }
    if not ok then
      m.deleted = deleted
      return ctx:crit("sessions.cleanup", string.format("stopped after %d keys scanned, %d deleted: %s", scanned, deleted, tostring(perr)), m)
    end
    if ctx.dry_run then
      m.would_delete = would
      local msg = string.format("would delete %d of %d sessions without a TTL (%d batches of at most %d); nothing deleted",
        would, scanned, batches, args.batch)
      if #sample > 0 then msg = msg .. "; e.g. " .. table.concat(sample, ", ") end
      return ctx:ok("sessions.cleanup", msg, m)
    end
    m.deleted = deleted
    m.kept = scanned - deleted
    ctx:ok("sessions.cleanup", string.format(
      "deleted %d sessions without a TTL; %d scanned, %d kept (have a TTL, were refreshed meanwhile, or expired); %d EVAL batches of at most %d keys in %s",
      deleted, scanned, scanned - deleted, batches, args.batch, time.format_duration(elapsed)), m)
  end,
}
