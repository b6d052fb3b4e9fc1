--- opsh.pool: opsh's own connection pools, for its scripts and procedures (and, later, its
--- agent): not the application's SQL pool. `local pool = require "opsh.pool"`.
---
--- redis.pool(url, opts) and qdrant.pool(url, opts) make them (pool.redis and pool.qdrant here).
--- A call through a pool goes through the endpoint's circuit breaker (refused at once with
--- nil, err{code = "circuit_open"} while it is open), borrows a connection (a task waiting for
--- one suspends only itself; nil, err{code = "timeout"} at acquire_timeout), runs, and gives the
--- connection back with its outcome: the breaker counts endpoint failures by type, affinity
--- learns which connection serves which pattern best, and db_query_duration_seconds the time.
local core = require "opsh._pool"
require "opsh.redis"   -- registers the connection objects a Redis pool lends

local M = {}

-- the pools made in this process, for pool.list() and the procedures (weak: a pool no script
-- holds goes away)
local made = setmetatable({}, { __mode = "k" })

-- Runs fn(connection, ...) on a borrowed connection; `a`, `b` name the call's pattern.
local function borrow(h, a, b, fn, ...)
  local lease <close>, err = h:acquire(a, b)
  if not lease then return nil, err end
  local r = table.pack(pcall(fn, lease:connection(), ...))
  if not r[1] then
    lease:finish(nil, true)
    error(r[2], 0)
  end
  lease:finish(r[2] == nil and r[3] or nil)
  return table.unpack(r, 2, r.n)
end

-- What every pool object has, whatever it pools.
local common = {}
function common:stats() return self._h:stats() end
function common:resize(n) return self._h:resize(n) end
function common:breaker() return self._h:breaker() end
function common:affinity() return self._h:affinity() end
function common:clear_low_performers(min_score) return self._h:clear_low_performers(min_score) end
function common:optimize() return self._h:optimize() end
function common:close() return self._h:close() end
function common:sample() return self._h:sample() end
function common:predictor() return self._h:predictor() end
function common:retrain() return self._h:retrain() end
function common:save_predictor(path) return self._h:save_predictor(path) end
function common:load_predictor(path) return self._h:load_predictor(path) end

-- Redis --------------------------------------------------------------------------------------

-- Methods that hold their connection beyond one call (iterators, streams): through pool:with.
local HOLDS = { scan = true, hscan = true, sscan = true, zscan = true, subscribe = true, psubscribe = true, monitor = true }

local RedisPool = { __name = "opsh.pool.redis" }
for k, v in pairs(common) do RedisPool[k] = v end

--- pool:with(function(conn) ... end): the connection for a whole function (iterators, several
--- commands in a row); its result is the function's.
function RedisPool:with(fn, ...)
  assert(type(fn) == "function", "bad argument #1 to 'with' (function expected)")
  return borrow(self._h, "WITH", nil, fn, ...)
end

function RedisPool:call(cmd, ...)
  assert(type(cmd) == "string", "bad argument #1 to 'call' (string expected)")
  local key = ...
  return borrow(self._h, cmd, key, function(c, ...) return c:call(cmd, ...) end, ...)
end

RedisPool.__index = function(self, name)
  local m = RedisPool[name]
  if m then return m end
  if HOLDS[name] then
    return function() error("pool:" .. name .. " holds its connection beyond one call: use pool:with(function(conn) ... conn:" .. name .. "(...) end)", 2) end
  end
  if type(name) ~= "string" or name:sub(1, 1) == "_" then return nil end
  local pattern = name:upper()
  return function(self, ...)
    local key = ...
    return borrow(self._h, pattern, type(key) ~= "function" and key or nil, function(c, ...)
      local f = c[name]
      if not f then error("a redis connection has no method '" .. name .. "'", 0) end
      return f(c, ...)
    end, ...)
  end
end
RedisPool.__tostring = function(self) return "redis pool " .. self._h:stats().name end

--- pool.redis([url], [opts]) -> pool (as redis.pool)
function M.redis(url, opts)
  if type(url) == "table" and opts == nil then url, opts = nil, url end
  local p = setmetatable({ _h = core.redis(url, opts), kind = "redis" }, RedisPool)
  made[p] = true
  return p
end

-- Qdrant -------------------------------------------------------------------------------------

--- pool.qdrant(url, [opts]) -> a Qdrant client (every opsh.qdrant method) whose requests go
--- through a pool (as qdrant.pool).
function M.qdrant(url, opts)
  local qdrant = require "opsh.qdrant"
  if type(url) == "table" and opts == nil then url, opts = nil, url end
  local client = qdrant.connect { url = url, timeout = opts and opts.timeout or nil }
  local h = core.qdrant(client.url, opts)
  local Client = qdrant.Client
  local QdrantPool = { __name = "opsh.pool.qdrant" }
  for k, v in pairs(common) do QdrantPool[k] = v end
  QdrantPool.__index = function(_, name) return QdrantPool[name] or Client[name] end
  QdrantPool.__tostring = function() return "qdrant pool " .. client.url end
  function QdrantPool:request(method, path, ropts)
    assert(type(method) == "string" and type(path) == "string", "bad argument to 'request' (method and path expected)")
    return borrow(h, method, path, function(_, ...) return Client.request(self, ...) end, method, path, ropts)
  end
  QdrantPool.call = QdrantPool.request
  client._h, client.kind = h, "qdrant"
  local p = setmetatable(client, QdrantPool)
  made[p] = true
  return p
end

--- pool.metrics() -> the Prometheus text of every pool, breaker and predictor in the process
M.metrics = core.metrics

--- pool.list() -> {{name, kind, stats = {...}}, ...}: the pools this process made, by name
function M.list()
  local out = {}
  for p in pairs(made) do
    local s = p._h:stats()
    out[#out + 1] = { name = s.name, kind = s.kind, stats = s, pool = p }
  end
  table.sort(out, function(a, b) return a.name < b.name end)
  return out
end

return M
