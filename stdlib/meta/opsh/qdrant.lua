---@meta
--- Qdrant's REST API (v1.19, the official OpenAPI spec compiled in) on opsh.http:
--- `local qdrant = require "opsh.qdrant"; local q = qdrant.connect()`.
---
--- Calls inside tasks run concurrently (opsh.all{...}). Every JSON body is checked against the
--- spec before it is sent: Qdrant silently ignores fields it does not know (the guide's
--- `hnsw_config.ef` is one), so opsh returns nil, err instead (err.code "invalid_request",
--- err.errors = {"hnsw_config.ef: unknown field (HnswConfigDiff has ...)"}), and nothing is sent.
--- Under --dry-run reads are sent (GETs and the POSTs that only read: points/query, count,
--- scroll, facet, ...) and changes are not: they return {dry_run = true, would = "..."}.
---
--- Failures return nil, err. Qdrant's own errors have err.code "qdrant", err.status (HTTP) and
--- err.error (Qdrant's text, e.g. "Not found: Collection `x` doesn't exist!"); transport failures
--- keep opsh.http's codes ("connect", "timeout", "tls", ...); a download whose SHA-256 is not
--- Qdrant's checksum has err.code "checksum" and leaves no file.
local qdrant = {}

--- The spec version compiled in ("1.19.0").
qdrant.spec_version = "1.19.0"

---@class qdrant.options
---@field url? string default: config qdrant_url (QDRANT_URL), else http://localhost:6333
---@field api_key? string|false default: config qdrant_api_key (QDRANT_API_KEY), sent as the api-key header; false sends none
---@field timeout? number seconds per request (default 30)
---@field insecure? boolean do not verify TLS
---@field ca_file? string CA bundle for TLS
---@field metrics_prefix? string the server's service.metrics_prefix (default: config qdrant_metrics_prefix)

---@class qdrant.client
---@field url string
local Client = {}

--- A client (no connection is made until the first call).
---@param opts? qdrant.options
---@return qdrant.client
function qdrant.connect(opts) end

--- A client whose requests go through one of opsh's pools (see opsh.pool): every client method,
--- with the endpoint's circuit breaker (nil, err{code = "circuit_open"} at once while open),
--- affinity by method and route template ("POST /collections/{collection_name}/points/query"),
--- and the pool's metrics. The pool's size bounds the requests in flight, hence the TCP
--- connections libcurl keeps to the endpoint. url: the configured qdrant_url when nil.
---@param url? string
---@param opts? opsh.pool.options
---@return opsh.pool.qdrant
function qdrant.pool(url, opts) end

--- A random UUID v4, usable as a point id.
---@return string
function qdrant.uuid() end

--- Any route of the spec: method, path ("/collections/docs/points/count"), and
--- opts.body (a table: encoded and checked), opts.query (query parameters), opts.timeout,
--- opts.raw (return the http response instead of Qdrant's `result`), and opsh.http options
--- (output, sha256, upload, multipart, progress, allow_status, retries).
--- A path that is not a route of the spec is refused (err.code "invalid_request").
---@return any result, table? err
function Client:request(method, path, opts) end

---@class qdrant.probe
---@field ok boolean
---@field status integer
---@field message string Qdrant's plain-text answer
---@field seconds number

--- GET /healthz (no API key needed). Qdrant has no /health.
---@return qdrant.probe|nil, table? err
function Client:health() end
--- GET /readyz: ok is false (HTTP 503) while shards are not ready.
---@return qdrant.probe|nil, table? err
function Client:ready() end
--- GET /livez
---@return qdrant.probe|nil, table? err
function Client:live() end
--- GET /: {title, version, commit}
function Client:version() end
--- GET /telemetry; opts.details_level (0-6), opts.anonymize.
function Client:telemetry(opts) end
--- GET /metrics parsed as opsh.prom.parse_text does, names without the metrics prefix.
--- opts.per_collection, opts.prefix.
function Client:metrics(opts) end
--- GET /cluster
function Client:cluster() end

--- Names of all collections, sorted.
---@return string[]|nil, table? err
function Client:collections() end
--- {name} when a name is given (and not ""), else every collection's name: the collections a
--- procedure with a --collection argument works on.
---@param name? string
---@return string[]|nil, table? err
function Client:collection_names(name) end
--- GET /collections/{name}: status (green/yellow/grey/red), optimizer_status, points_count,
--- indexed_vectors_count, segments_count, config, payload_schema, ...
function Client:collection(name) end
---@return boolean|nil, table? err
function Client:exists(name) end
--- PUT /collections/{name}: a CreateCollection body, e.g. {vectors = {size = 384, distance = "Cosine"}}.
function Client:create_collection(name, config, opts) end
--- PATCH /collections/{name}: an UpdateCollection body, e.g. {optimizers_config = {deleted_threshold = 0.1}, hnsw_config = {m = 32}}.
function Client:update_collection(name, diff, opts) end
function Client:delete_collection(name) end
--- GET /collections/{name}/optimizations
function Client:optimizations(name) end
--- GET /collections/{name}/cluster
function Client:collection_cluster(name) end
--- Polls until the collection is green; opts.timeout (60 s), opts.interval (0.5 s).
--- Returns the collection info, or nil, err (err.code "timeout", err.info).
function Client:wait_green(name, opts) end

--- Aliases of one collection, or all aliases: {{alias_name, collection_name}, ...}
function Client:aliases(name) end
--- POST /collections/aliases with a list of actions.
function Client:update_aliases(actions) end
function Client:create_alias(alias, collection) end
function Client:delete_alias(alias) end

--- PUT /collections/{c}/index; schema is a type name ("keyword", "integer", "float", "bool",
--- "geo", "datetime", "text", "uuid") or a params table. Waits unless opts.wait == false.
function Client:create_index(c, field, schema, opts) end
function Client:delete_index(c, field, opts) end

--- The number of points (req.filter; exact unless req.exact == false).
---@return integer|nil, table? err
function Client:count(c, req) end
--- One page of points and the next page's offset (nil at the end).
function Client:scroll(c, req) end
--- Every point, page by page: `for p in q:each_point("docs", {limit = 256}) do ... end` (raises on failure).
function Client:each_point(c, req) end
--- POST /collections/{c}/points/query: the points found.
function Client:query(c, req) end
--- PUT /collections/{c}/points with {{id =, vector =, payload =}, ...}; waits unless opts.wait == false.
function Client:upsert(c, points, opts) end
--- POST /collections/{c}/points/delete: selector is {points = {ids}} or {filter = ...}.
function Client:delete_points(c, selector, opts) end

---@class qdrant.snapshot
---@field name string
---@field creation_time string|nil UTC, "YYYY-MM-DDTHH:MM:SS"
---@field size integer
---@field checksum string|nil hex SHA-256

--- Snapshots of a collection, oldest first.
---@return qdrant.snapshot[]|nil, table? err
function Client:snapshots(c) end
--- Creates a snapshot and waits for it (opts.wait = false: {accepted = true} at once).
---@return qdrant.snapshot|nil, table? err
function Client:create_snapshot(c, opts) end
function Client:delete_snapshot(c, name) end
--- Downloads a snapshot to path: streamed (constant memory), SHA-256 computed on the way and
--- compared with Qdrant's checksum before the file gets its name (written as path.partial);
--- a mismatch or a cut transfer leaves no file. opts.progress (default true, on a terminal),
--- opts.timeout (3600 s), opts.allow_unchecked (a snapshot Qdrant lists without a checksum).
---@return {path: string, bytes: integer, sha256: string, checksum: string, seconds: number}|nil, table? err
function Client:download_snapshot(c, name, path, opts) end
--- Shard snapshots (Qdrant's distributed mode: /collections/{c}/shards/{s}/snapshots, for a
--- shard this node holds; collection_cluster(c).local_shards names them). As the collection's.
---@param c string
---@param shard integer
---@return qdrant.snapshot[]|nil, table? err
function Client:shard_snapshots(c, shard) end
---@return qdrant.snapshot|nil, table? err
function Client:create_shard_snapshot(c, shard, opts) end
function Client:delete_shard_snapshot(c, shard, name) end
--- As download_snapshot (SHA-256 checked against Qdrant's checksum), for a shard snapshot.
---@return {path: string, bytes: integer, sha256: string, checksum: string, seconds: number}|nil, table? err
function Client:download_shard_snapshot(c, shard, name, path, opts) end
--- Uploads a snapshot file from this host (multipart, streamed) and recovers collection c from
--- it; the file's SHA-256 is sent as ?checksum= so Qdrant refuses a copy damaged on the way.
--- opts.priority ("snapshot", "replica", "no_sync"), opts.checksum.
function Client:upload_snapshot(c, file, opts) end
--- Recovers collection c: opts.file (a snapshot on this host: uploaded) or opts.location (an
--- http(s):// URL Qdrant downloads, or file:// inside the server's own snapshots directory:
--- Qdrant refuses any other file:// path with 403); opts.checksum, opts.priority, opts.api_key.
function Client:recover_snapshot(c, opts) end

--- Seconds since a snapshot was created (Qdrant's creation_time is UTC without a zone), or nil.
---@param snap qdrant.snapshot
---@return number|nil
function qdrant.snapshot_age(snap) end

--- Full-storage snapshots (all collections and aliases), oldest first. Qdrant has no API that
--- restores one: the server restores it at start-up, `qdrant --storage-snapshot FILE`
--- (`--force-snapshot` to overwrite existing collections).
---@return qdrant.snapshot[]|nil, table? err
function Client:full_snapshots() end
function Client:create_full_snapshot(opts) end
function Client:delete_full_snapshot(name) end
--- As download_snapshot, for a full-storage snapshot.
function Client:download_full_snapshot(name, path, opts) end

return qdrant
