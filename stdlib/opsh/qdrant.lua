--- opsh.qdrant: a client for Qdrant's REST API (v1.19, ../shared/qdrant/openapi.json) on
--- opsh.http, so calls inside tasks run concurrently. `local qdrant = require "opsh.qdrant"`.
---
--- Every JSON body is checked against the spec before it is sent (opsh.qdrant.spec): Qdrant
--- silently ignores fields it does not know, so a misspelt setting would change nothing and
--- report success; here it is an error naming the field. Under --dry-run, reads (GETs and the
--- POSTs that only read, such as points/query and points/count) are sent and changes are not:
--- they return {dry_run = true, would = "..."}.
local http = require "opsh.http"
local json = require "opsh.json"
local config = require "opsh.config"
local spec = require "opsh.qdrant.spec"
local prom = require "opsh.prom"
local crypto = require "opsh.crypto"
local opsh = require "opsh"

local M = { spec_version = spec.version }

local function fail(code, message, fields)
  return nil, opsh.error(code, message, fields)
end

local escape = http.urlencode

local function query_string(params)
  local q = params and http.query(params) or ""
  return q ~= "" and ("?" .. q) or ""
end

-- spec.route answers per method and path; the same few paths come back all the time
local routes, nroutes = {}, 0

local Client = {}
Client.__index = Client
Client.__name = "opsh.qdrant.client"
function Client:__tostring() return "qdrant client " .. self.url end

--- A client. opts.url (default: the configured qdrant_url, QDRANT_URL), opts.api_key
--- (qdrant_api_key, QDRANT_API_KEY: sent as the api-key header), opts.timeout (seconds, 30),
--- opts.insecure, opts.ca_file, opts.metrics_prefix (the server's service.metrics_prefix).
local CONNECT_OPTIONS = { "url", "api_key", "timeout", "insecure", "ca_file", "metrics_prefix" }

function M.connect(opts)
  opts = opsh.check_options(opts, CONNECT_OPTIONS, "connect") or {}
  local url = opts.url or config.get("qdrant_url") or "http://localhost:6333"
  assert(type(url) == "string" and url:match("^https?://"), "bad argument #1 to 'connect' (url must be http:// or https://)")
  local self = setmetatable({
    url = url:gsub("/+$", ""),
    timeout = opts.timeout or 30,
    insecure = opts.insecure,
    ca_file = opts.ca_file,
    metrics_prefix = opts.metrics_prefix or config.get("qdrant_metrics_prefix"),
  }, Client)
  local key = opts.api_key
  if key == nil then key = config.get("qdrant_api_key") end
  if key == false then key = nil end
  self.headers = key and { ["api-key"] = key } or {}
  self.json_headers = { ["Content-Type"] = "application/json", ["api-key"] = key }
  return self
end

-- The error a failed call returns: Qdrant's own error text when it sent one.
local function api_error(method, path, err)
  if err.code ~= "http_status" then return nil, err end   -- its message names the method and URL
  local text
  local ok, doc = pcall(json.decode, err.body or "")
  if ok and type(doc) == "table" and type(doc.status) == "table" then text = doc.status.error end
  text = text or ((err.body or ""):sub(1, 300))
  return fail("qdrant", string.format("Qdrant %s %s: HTTP %d: %s", method, path, err.status, text),
    { status = err.status, error = text, body = err.body })
end

--- Any request: method, path ("/collections/x"), opts.body (a table, encoded and checked
--- against the spec), opts.query (a table of query parameters), opts.timeout, opts.raw (return
--- the http response instead of Qdrant's `result`), plus opsh.http options (output, sha256,
--- upload, multipart, progress, allow_status).
---@return any result, table? err
function Client:request(method, path, opts)
  method = method:upper()
  opts = opts or {}
  local route = routes[method .. " " .. path]
  if route == nil then
    route = spec.route(method, path) or false
    if nroutes > 1000 then routes, nroutes = {}, 0 end   -- bounded: ids and names make many paths
    routes[method .. " " .. path], nroutes = route, nroutes + 1
  end
  if not route then return fail("invalid_request", string.format("%s %s is not a route of Qdrant %s", method, path, spec.version)) end
  local body
  if opts.body ~= nil then
    if route.body == nil or route.body == "multipart" then
      return fail("invalid_request", string.format("%s %s takes no JSON body", method, route.template))
    end
    body = json.encode(opts.body)
    local problems = spec.validate(route.body, body)
    if #problems > 0 then
      return fail("invalid_request", string.format("%s %s: the body does not fit Qdrant's %s: %s",
        method, path, route.body, table.concat(problems, "; ")), { errors = problems, schema = route.body })
    end
  end
  local hdrs = body and self.json_headers or self.headers
  local r, err = http.request {
    method = method, url = self.url .. path .. query_string(opts.query), headers = hdrs, body = body,
    timeout = opts.timeout or self.timeout, insecure = self.insecure, ca_file = self.ca_file,
    read_only = route.read, output = opts.output, sha256 = opts.sha256, upload = opts.upload,
    multipart = opts.multipart, progress = opts.progress, allow_status = opts.allow_status,
    retries = opts.retries, max_bytes = opts.max_bytes,
  }
  if not r then return api_error(method, path, err) end
  if r.dry_run or opts.raw then return r end
  if r.json_error then return fail("qdrant", string.format("Qdrant %s %s: bad JSON in the answer: %s", method, path, r.json_error)) end
  local doc = r.json
  if type(doc) == "table" and doc.status ~= nil then
    if doc.status == "accepted" then return { accepted = true } end
    return doc.result
  end
  return doc
end

-- Health -------------------------------------------------------------------

local function probe(self, path)
  local r, err = self:request("GET", path, { raw = true, allow_status = true, retries = 0 })
  if not r then return nil, err end
  return { ok = r.status == 200, status = r.status, message = r.body, seconds = r.seconds }
end

--- GET /healthz: {ok, status, message, seconds} (no API key needed).
function Client:health() return probe(self, "/healthz") end
--- GET /readyz: ok is false (status 503) while shards are not ready.
function Client:ready() return probe(self, "/readyz") end
--- GET /livez
function Client:live() return probe(self, "/livez") end
--- GET /: {title, version, commit}
function Client:version() return self:request("GET", "/") end
--- GET /telemetry (opts.details_level 0-6, opts.anonymize)
function Client:telemetry(opts)
  opts = opts or {}
  return self:request("GET", "/telemetry", { query = { details_level = opts.details_level, anonymize = opts.anonymize } })
end

--- GET /metrics parsed (opsh.prom.parse_text): names without the configured metrics prefix, so
--- scripts say `rest_responses_total` whatever the server's service.metrics_prefix.
function Client:metrics(opts)
  opts = opts or {}
  local r, err = self:request("GET", "/metrics", { raw = true, query = { per_collection = opts.per_collection } })
  if not r then return nil, err end
  local m = prom.parse_text(r.body)
  local prefix = opts.prefix or self.metrics_prefix
  if prefix and prefix ~= "" then
    local stripped = { type = {}, help = {} }
    for k, v in pairs(m) do
      if k ~= "type" and k ~= "help" then
        stripped[k:sub(1, #prefix) == prefix and k:sub(#prefix + 1) or k] = v
      end
    end
    for _, field in ipairs { "type", "help" } do
      for k, v in pairs(m[field] or {}) do stripped[field][k:sub(1, #prefix) == prefix and k:sub(#prefix + 1) or k] = v end
    end
    m = stripped
  end
  return m
end

--- GET /cluster
function Client:cluster() return self:request("GET", "/cluster") end

-- Collections ----------------------------------------------------------------

local function cpath(name, rest)
  assert(type(name) == "string" and name ~= "", "collection name expected")
  return "/collections/" .. escape(name) .. (rest or "")
end

--- Names of all collections.
function Client:collections()
  local r, err = self:request("GET", "/collections")
  if not r then return nil, err end
  local names = {}
  for i, c in ipairs(r.collections or {}) do names[i] = c.name end
  table.sort(names)
  return names
end

--- The collections a procedure works on: {name} when a name is given (and not ""), else
--- every collection's name.
function Client:collection_names(name)
  if name and name ~= "" then return { name } end
  return self:collections()
end

--- GET /collections/{name}: status, optimizer_status, points_count, indexed_vectors_count,
--- segments_count, config, payload_schema, ...
function Client:collection(name) return self:request("GET", cpath(name)) end

function Client:exists(name)
  local r, err = self:request("GET", cpath(name, "/exists"))
  if not r then return nil, err end
  if r.dry_run then return r end
  return r.exists
end

--- PUT /collections/{name} with a CreateCollection body ({vectors = {size =, distance =}, ...}).
function Client:create_collection(name, cfg, opts)
  return self:request("PUT", cpath(name), { body = cfg, query = { timeout = opts and opts.timeout } })
end

--- PATCH /collections/{name} with an UpdateCollection body ({optimizers_config = ..., hnsw_config = ...}).
function Client:update_collection(name, diff, opts)
  return self:request("PATCH", cpath(name), { body = diff, query = { timeout = opts and opts.timeout } })
end

function Client:delete_collection(name) return self:request("DELETE", cpath(name)) end

--- GET /collections/{name}/optimizations
function Client:optimizations(name) return self:request("GET", cpath(name, "/optimizations")) end

--- GET /collections/{name}/cluster
function Client:collection_cluster(name) return self:request("GET", cpath(name, "/cluster")) end

--- Waits until the collection's status is green (optimizations finished). opts.timeout
--- (seconds, 60), opts.interval (0.5). Returns the collection info, or nil, err.
function Client:wait_green(name, opts)
  opts = opts or {}
  local time = require "opsh.time"
  local deadline = time.monotonic() + (opts.timeout or 60)
  local info, err
  repeat
    info, err = self:collection(name)
    if not info then return nil, err end
    if info.dry_run or info.status == "green" then return info end
    opsh.sleep(opts.interval or 0.5)
  until time.monotonic() > deadline
  return fail("timeout", string.format("collection %s is still %s after %ss", name, tostring(info.status), opts.timeout or 60),
    { info = info })
end

-- Aliases --------------------------------------------------------------------

--- Aliases of one collection, or of all when name is nil: {{alias_name, collection_name}, ...}
function Client:aliases(name)
  local r, err = self:request("GET", name and cpath(name, "/aliases") or "/aliases")
  if not r then return nil, err end
  if r.dry_run then return r end
  return r.aliases
end

--- POST /collections/aliases with actions ({{create_alias = {...}}, ...}).
function Client:update_aliases(actions)
  return self:request("POST", "/collections/aliases", { body = { actions = actions } })
end
function Client:create_alias(alias, collection)
  return self:update_aliases { { create_alias = { alias_name = alias, collection_name = collection } } }
end
function Client:delete_alias(alias)
  return self:update_aliases { { delete_alias = { alias_name = alias } } }
end

-- Payload indexes and points -------------------------------------------------------

--- PUT /collections/{c}/index: field_schema is a type name ("keyword", "integer", ...) or params.
function Client:create_index(c, field, field_schema, opts)
  return self:request("PUT", cpath(c, "/index"), { body = { field_name = field, field_schema = field_schema },
    query = { wait = (opts == nil or opts.wait ~= false) and "true" or "false" } })
end

function Client:delete_index(c, field, opts)
  return self:request("DELETE", cpath(c, "/index/" .. escape(field)),
    { query = { wait = (opts == nil or opts.wait ~= false) and "true" or "false" } })
end

--- Number of points (req: {filter =, exact =}; exact by default).
function Client:count(c, req)
  req = req or {}
  if req.exact == nil then req.exact = true end
  local r, err = self:request("POST", cpath(c, "/points/count"), { body = req })
  if not r then return nil, err end
  return r.count
end

--- One page: points, next_page_offset (req: limit, offset, filter, with_payload, with_vector, order_by).
function Client:scroll(c, req)
  local r, err = self:request("POST", cpath(c, "/points/scroll"), { body = req or {} })
  if not r then return nil, err end
  return r.points, r.next_page_offset
end

--- An iterator over every point, page by page: `for p in q:each_point(c, {limit = 256}) do`.
--- A failure raises (an iterator has no second value to carry it).
function Client:each_point(c, req)
  req = req or {}
  local page, i, offset, done = {}, 0, req.offset, false
  return function()
    i = i + 1
    while page[i] == nil do
      if done then return nil end
      local r = {}
      for k, v in pairs(req) do r[k] = v end
      r.offset = offset
      local points, nxt = self:scroll(c, r)
      if not points then error(nxt, 2) end
      page, i, offset = points, 1, nxt
      done = nxt == nil or nxt == opsh.null
      if #page == 0 then return nil end
    end
    return page[i]
  end
end

--- POST /collections/{c}/points/query: the points found (req: query, filter, limit, params, ...).
function Client:query(c, req)
  local r, err = self:request("POST", cpath(c, "/points/query"), { body = req })
  if not r then return nil, err end
  if r.dry_run then return r end
  return r.points
end

--- PUT /collections/{c}/points: points is a list of {id, vector, payload}; waits unless opts.wait == false.
function Client:upsert(c, points, opts)
  return self:request("PUT", cpath(c, "/points"), { body = { points = points },
    query = { wait = (opts == nil or opts.wait ~= false) and "true" or "false" } })
end

--- POST /collections/{c}/points/delete: selector is {points = {ids}} or {filter = ...}.
function Client:delete_points(c, selector, opts)
  return self:request("POST", cpath(c, "/points/delete"), { body = selector,
    query = { wait = (opts == nil or opts.wait ~= false) and "true" or "false" } })
end

-- Snapshots ----------------------------------------------------------------------------

local function by_time(list)
  table.sort(list, function(a, b)
    local x, y = a.creation_time or "", b.creation_time or ""
    if x ~= y then return x < y end
    return a.name < b.name
  end)
  return list
end

--- Seconds since a snapshot was created (its creation_time is UTC without a zone), or nil.
function M.snapshot_age(snap)
  if type(snap.creation_time) ~= "string" then return nil end
  local t = require("opsh.time").parse_iso(snap.creation_time .. (snap.creation_time:match("Z$") and "" or "Z"))
  return t and (require("opsh.time").now() - t)
end

--- Snapshots of a collection, oldest first: {{name, creation_time, size, checksum}, ...}
function Client:snapshots(c)
  local r, err = self:request("GET", cpath(c, "/snapshots"))
  if not r then return nil, err end
  return by_time(r)
end

--- Creates a snapshot and waits for it (opts.wait = false answers {accepted = true} at once).
function Client:create_snapshot(c, opts)
  return self:request("POST", cpath(c, "/snapshots"),
    { query = { wait = (opts == nil or opts.wait ~= false) and "true" or "false" }, timeout = opts and opts.timeout or 600 })
end

function Client:delete_snapshot(c, name)
  return self:request("DELETE", cpath(c, "/snapshots/" .. escape(name)), { query = { wait = "true" } })
end

-- Downloads to path, streamed, with the SHA-256 checked against Qdrant's own checksum: a
-- mismatch or a cut transfer leaves no file at path.
local function download(self, list, urlpath, name, path, opts)
  opts = opts or {}
  assert(type(path) == "string" and path ~= "", "bad argument: a destination path is required")
  local snaps, err = list()
  if not snaps then return nil, err end
  local want
  for _, s in ipairs(snaps) do if s.name == name then want = s end end
  if not want then return fail("not_found", string.format("no snapshot %s on %s", name, self.url)) end
  if not want.checksum and not opts.allow_unchecked then
    return fail("checksum", string.format("Qdrant lists no checksum for %s: pass allow_unchecked = true to download it anyway", name))
  end
  local r, derr = self:request("GET", urlpath, { raw = true, output = path, sha256 = want.checksum,
    progress = opts.progress ~= false, timeout = opts.timeout or 3600 })
  if not r then return nil, derr end
  if r.dry_run then return r end
  return { path = path, bytes = r.bytes, sha256 = r.sha256, checksum = want.checksum, seconds = r.seconds,
    name = name, size = want.size, creation_time = want.creation_time }
end

--- Downloads snapshot `name` of collection c to `path` (streamed; SHA-256 checked against
--- Qdrant's checksum; written as path.partial and renamed only when complete and matching).
--- opts.progress (default true: a progress line on a terminal), opts.timeout (seconds, 3600).
function Client:download_snapshot(c, name, path, opts)
  return download(self, function() return self:snapshots(c) end, cpath(c, "/snapshots/" .. escape(name)), name, path, opts)
end

--- Snapshots of shard `shard` of collection c on this node, oldest first (Qdrant's
--- distributed mode: /collections/{c}/shards/{s}/snapshots).
function Client:shard_snapshots(c, shard)
  local r, err = self:request("GET", cpath(c, "/shards/" .. math.tointeger(shard) .. "/snapshots"))
  if not r then return nil, err end
  return by_time(r)
end

--- Creates a snapshot of one shard of collection c held by this node, and waits for it.
function Client:create_shard_snapshot(c, shard, opts)
  return self:request("POST", cpath(c, "/shards/" .. math.tointeger(shard) .. "/snapshots"),
    { query = { wait = (opts == nil or opts.wait ~= false) and "true" or "false" }, timeout = opts and opts.timeout or 600 })
end

function Client:delete_shard_snapshot(c, shard, name)
  return self:request("DELETE", cpath(c, "/shards/" .. math.tointeger(shard) .. "/snapshots/" .. escape(name)), { query = { wait = "true" } })
end

--- Downloads snapshot `name` of shard `shard` of collection c to `path`, checked as
--- download_snapshot checks (SHA-256 against Qdrant's checksum, renamed only when it matches).
function Client:download_shard_snapshot(c, shard, name, path, opts)
  return download(self, function() return self:shard_snapshots(c, shard) end,
    cpath(c, "/shards/" .. math.tointeger(shard) .. "/snapshots/" .. escape(name)), name, path, opts)
end

--- Uploads a snapshot file from this host and recovers collection c from it (multipart, streamed).
--- opts.priority ("snapshot" | "replica" | "no_sync"), opts.checksum (hex SHA-256: computed
--- from the file when not given, so Qdrant rejects a copy damaged on the way).
function Client:upload_snapshot(c, file, opts)
  opts = opts or {}
  local checksum = opts.checksum
  if not checksum then
    local sum, err = crypto.sha256_file(file)
    if not sum then return nil, err end
    checksum = sum
  end
  return self:request("POST", cpath(c, "/snapshots/upload"), {
    query = { wait = "true", priority = opts.priority, checksum = checksum },
    upload = file, multipart = { field = "snapshot", filename = file:match("[^/]+$") },
    timeout = opts.timeout or 3600, progress = opts.progress ~= false })
end

--- Recovers collection c: opts.location is an http(s):// URL Qdrant downloads, or a file://
--- URL, which Qdrant accepts only inside its own snapshots directory on the server;
--- opts.file is a snapshot on this host, uploaded (see upload_snapshot). opts.checksum,
--- opts.priority, opts.api_key (for a location on another Qdrant) pass through.
function Client:recover_snapshot(c, opts)
  opts = opts or {}
  if opts.file then return self:upload_snapshot(c, opts.file, opts) end
  assert(type(opts.location) == "string", "recover_snapshot needs location = URL or file = path")
  return self:request("PUT", cpath(c, "/snapshots/recover"), { query = { wait = "true" }, timeout = opts.timeout or 3600,
    body = { location = opts.location, priority = opts.priority, checksum = opts.checksum, api_key = opts.api_key } })
end

--- Full-storage snapshots (every collection and the aliases), oldest first.
--- Qdrant has no REST call that restores one: the server restores it at start-up with
--- `qdrant --storage-snapshot FILE` (`--force-snapshot` to overwrite existing collections).
function Client:full_snapshots()
  local r, err = self:request("GET", "/snapshots")
  if not r then return nil, err end
  return by_time(r)
end

function Client:create_full_snapshot(opts)
  return self:request("POST", "/snapshots",
    { query = { wait = (opts == nil or opts.wait ~= false) and "true" or "false" }, timeout = opts and opts.timeout or 3600 })
end

function Client:delete_full_snapshot(name)
  return self:request("DELETE", "/snapshots/" .. escape(name), { query = { wait = "true" } })
end

function Client:download_full_snapshot(name, path, opts)
  return download(self, function() return self:full_snapshots() end, "/snapshots/" .. escape(name), name, path, opts)
end

--- Generates an id for a new point that Qdrant accepts (a random UUID v4).
function M.uuid()
  local b = { crypto.random_bytes(16):byte(1, 16) }
  b[7] = (b[7] & 0x0f) | 0x40
  b[9] = (b[9] & 0x3f) | 0x80
  local h = {}
  for i = 1, 16 do h[i] = string.format("%02x", b[i]) end
  local s = table.concat(h)
  return s:sub(1, 8) .. "-" .. s:sub(9, 12) .. "-" .. s:sub(13, 16) .. "-" .. s:sub(17, 20) .. "-" .. s:sub(21)
end

--- qdrant.pool([url], [opts]) -> a client whose requests go through one of opsh's pools (circuit
--- breaker, affinity by method and path template, metrics): see opsh.pool.
function M.pool(url, opts) return require("opsh.pool").qdrant(url, opts) end

M.Client = Client
return M
