---@meta
--- Redis and DragonflyDB over RESP: `local redis = require "opsh.redis"`.
--- Calls inside a task suspend only that task; elsewhere they block. Every call has a
--- deadline (the connection's timeout, default 5 s). A connection that broke is never
--- reused: the next call opens a new one, restoring the db, client name, credentials and
--- protocol the script chose (SELECT, CLIENT SETNAME, AUTH, HELLO). A command that may already
--- have reached the server is sent again only when it is read-only (GET, SCAN, INFO, ...), with
--- backoff, and never inside MULTI or after WATCH: the error says why it was not re-sent. After a
--- connection broke inside MULTI or after WATCH, the server has dropped that state: every command
--- then fails with err.code "transaction_lost" until the script sends DISCARD, UNWATCH or EXEC.
--- A task cancelled during a call (opsh.all's timeout, a failing sibling, task:cancel) closes the
--- connection, so the next call on it gets its own reply.
--- One connection serves one call at a time: give each task its own. Misuse raises; failures of the
--- server or the network return nil, err (err.code: a server error's first word such as
--- WRONGTYPE or NOAUTH, or "timeout", "connect", "tls", "io", "protocol", "closed",
--- "transaction_lost", or "memory" for a reply larger than what --max-memory leaves).
--- RESP3 push frames (client tracking's invalidations) never take a reply's place: they are
--- counted and dropped. A reply Lua cannot represent (a map key that is NaN, a table or an
--- error) is a "protocol" error.
--- Replies: simple strings and bulk strings are Lua strings, integers integers, nil
--- replies opsh.null, arrays Lua arrays; with protocol = 3, maps are tables, sets arrays,
--- doubles numbers, booleans booleans. A server error inside an array (EXEC, pipelines)
--- is an error object {code=, message=} in its place.
--- Under --dry-run, commands that COMMAND INFO flags as writes, and every EVAL/FCALL,
--- are not sent: the call returns {dry_run = true, would = "SET k ..."} and logs "would: ...".
local redis = {}

--- Connects. url_or_opts is a URL (redis://user:pass@host:port/db, rediss://..., unix:///path?db=1)
--- or a table {url=, host=, port=, timeout=, protocol=2|3, db=, username=, password=, name=,
--- tls = {ca_file=, cert_file=, key_file=, verify=true, server_name=}}. host/port (host defaults
--- to localhost, port to 6379) name the server instead of url; with neither, the configured
--- redis_url is used. db, username, password, name, protocol and tls apply on top of either.
--- A URL (or redis_url) that lists several nodes (redis://h1:7000,h2:7001), or redis_url with
--- redis_cluster = true in the configuration, gives a cluster client (see redis.cluster); a
--- sentinel:// URL gives the primary of a Sentinel service (see redis.sentinel).
--- An unknown option raises an error that lists the options.
---@param url_or_opts? string|redis.options
---@return redis.connection|nil, table? err
function redis.connect(url_or_opts) end

--- A pool of connections to one server, opsh's own (see opsh.pool): every connection method
--- (call, get, set, incr, hgetall, pipeline, transaction, eval, info, ping, ...) borrows a
--- connection for the call and gives it back; a task waiting for one suspends only itself.
--- Calls go through the server's circuit breaker: while it is open they return nil, err with
--- err.code "circuit_open" at once, without connecting. Iterators and streams (scan, subscribe,
--- monitor) hold a connection: use pool:with(function(conn) ... end). Connections never resend
--- a command by themselves. url: the configured redis_url when nil.
---@param url? string
---@param opts? opsh.pool.options
---@return opsh.pool.redis
function redis.pool(url, opts) end

--- A Redis Cluster client with the connection's API (call, get, set, pipeline, transaction,
--- eval, scan, info, dbsize, ...). seeds: "redis://h1:7000,h2:7001" (credentials and TLS of the
--- URL apply to every node), "h1:7000,h2:7001", or a list {"h1:7000", ...}; nil: the configured
--- redis_url. The slot map comes from CLUSTER SHARDS (CLUSTER SLOTS before Redis 7) and is read
--- at once: a cluster no node of which answers returns nil, err (err.code "cluster").
--- Commands go to the primary of their keys' hash slot (CRC16 of the key or of its {hash tag});
--- a pipeline is split per node, sent at once, and its replies come back in the caller's order.
--- MOVED is followed (the map read again), ASK followed with ASKING; TRYAGAIN, CLUSTERDOWN,
--- READONLY and a node that cannot be reached are retried with backoff within the timeout, so a
--- failover is followed. A write whose connection broke after it was sent is not sent again.
--- Refused with err.code "cluster" before anything is sent: a multi-key command (MGET, DEL a b,
--- EVAL with keys) or a transaction whose keys hash to different slots (give them a common
--- {hash tag}), SELECT, SUBSCRIBE, MONITOR. DBSIZE, FLUSHDB, FLUSHALL, KEYS and SCRIPT go to every
--- primary: integers summed, arrays joined. r:info() merges every primary's INFO (counters of
--- clients, memory, stats and keyspace summed; the rest the first primary's) and adds
--- nodes = { ["host:port"] = that node's INFO }. r:scan{} walks every primary in turn.
--- opts.read_from = "replica" sends read-only commands to a replica of the slot (READONLY).
---@param seeds? string|string[]
---@param opts? {timeout?: number, read_from?: "primary"|"replica", username?: string, password?: string}
---@return redis.connection|nil, table? err
function redis.cluster(seeds, opts) end

--- The primary of a Redis Sentinel service with the connection's API: the sentinels are asked in
--- turn (SENTINEL get-master-addr-by-name), the node named must say ROLE master (a sentinel naming
--- a demoted node is passed over: a stale primary is refused). A failover is followed: a
--- connection to the sentinel that named the primary stays subscribed to `+switch-master`, and
--- before each command the announcements that arrived are read (without waiting): one for the
--- service sends the command to the new primary (checked with ROLE) rather than the old one.
--- Without an announcement (subscription lost), when the primary answers READONLY (it was
--- demoted; the command did not run), cannot be reached, or its connection broke, the primary is
--- discovered again and the commands that did not run (for a broken connection, only read-only
--- ones) are sent to the new one, within the timeout.
--- username/password/db are the primary's; sentinel_username/sentinel_password are sent to the
--- sentinels (requirepass in sentinel.conf), which are asked without credentials otherwise.
--- redis.connect("sentinel://[user:pass@]h1:26379,h2:26379/mymaster[/db][?sentinel_password=P]")
--- and a redis_url of that form do the same: every procedure that connects with redis_url
--- follows the service. No sentinel answering, or none naming a primary, returns nil, err
--- (err.code "sentinel").
---@param opts {sentinels: string[], service: string, timeout?: number, username?: string, password?: string, db?: integer, sentinel_username?: string, sentinel_password?: string}
---@return redis.connection|nil, table? err
function redis.sentinel(opts) end

--- Parses INFO text into { section = { field = value } } with numbers as numbers and
--- keyspace lines (db0:keys=1,expires=0) as tables.
---@param text string
---@return table
function redis.parse_info(text) end

---@class redis.options
---@field url? string redis://, rediss:// or unix:// URL (not with host/port)
---@field host? string server host name or address (default "localhost")
---@field port? integer server port (default 6379)
---@field db? integer database to SELECT
---@field username? string ACL user
---@field password? string
---@field name? string CLIENT SETNAME
---@field protocol? integer 2 (default) or 3 (HELLO 3)
---@field timeout? number seconds for the connect and for each call (default 5)
---@field tls? {ca_file?: string, cert_file?: string, key_file?: string, verify?: boolean, server_name?: string}

---@class redis.connection
local conn = {}

--- Sends one command; returns its reply, or nil, err.
---@param command string
---@param ... string|number
---@return any|nil reply, table? err
function conn:call(command, ...) end

--- Runs fn(p) where p:call(...) queues commands; sends them in one write and returns a
--- list of replies (errors in place), or nil, err for a network failure.
---@param fn fun(p: redis.pipeline)
---@return any[]|nil replies, table? err
function conn:pipeline(fn) end

--- MULTI ... EXEC around the commands fn queues; returns EXEC's replies, or nil, err.
---@param fn fun(p: redis.pipeline)
---@return any[]|nil replies, table? err
function conn:transaction(fn) end

--- EVALSHA with the script cached by its SHA-1 (EVAL on the first NOSCRIPT).
---@param script string
---@param keys? string[]
---@param args? any[]
---@return any|nil reply, table? err
function conn:eval(script, keys, args) end

--- Iterates keys with SCAN (never KEYS): for key in r:scan{match = "session:*", count = 1000, type = "hash"} do ... end.
--- A network failure or an unusable reply ends the loop by raising.
---@param opts? {match?: string, count?: integer, type?: string}
---@return fun(): string?
function conn:scan(opts) end

--- HSCAN / SSCAN / ZSCAN: for field, value in r:hscan(key, {match=, count=}) (value is nil for sscan; the score for zscan).
---@return fun(): string?, any
function conn:hscan(key, opts) end
---@return fun(): string?
function conn:sscan(key, opts) end
---@return fun(): string?, number
function conn:zscan(key, opts) end

--- INFO parsed (see redis.parse_info); section is optional ("memory", "keyspace", ...).
---@param section? string
---@return table|nil info, table? err
function conn:info(section) end

--- PING; returns the round trip in milliseconds.
---@return number|nil ms, table? err
function conn:ping() end

--- Whether the server is DragonflyDB (from INFO server).
---@return boolean
function conn:is_dragonfly() end

--- A bounded subscription: for channel, message in r:subscribe({"events"}, {max = 100, duration = 10}) do.
--- It ends after max messages or duration seconds (defaults 1000 and 10), whichever comes
--- first; the connection then closes and the object opens a new one on its next call.
---@param channels string[]
---@param opts? {max?: integer, duration?: number}
---@return fun(): string?, string?
function conn:subscribe(channels, opts) end

--- Like subscribe with patterns: for channel, message, pattern in r:psubscribe({"events:*"}) do.
---@return fun(): string?, string?, string?
function conn:psubscribe(patterns, opts) end

--- A bounded MONITOR: for line in r:monitor{max = 100, duration = 5} do. MONITOR costs the
--- server about half its throughput while it runs: keep it short.
---@param opts? {max?: integer, duration?: number}
---@return fun(): string?
function conn:monitor(opts) end

--- XREAD: r:xread({["deployment:events"] = "0-0"}, {count = 10, block = 100}) ->
--- { ["deployment:events"] = { {id = "1700000000000-0", fields = {type = "..."}}, ... } },
--- or opsh.null when nothing arrived within block milliseconds.
---@param streams table<string, string> stream name -> last id seen ("0-0", "$")
---@param opts? {count?: integer, block?: integer}
---@return table|nil streams, table? err
function conn:xread(streams, opts) end

--- Shorthands for common commands (same results as conn:call).
function conn:get(key) end
function conn:set(key, value, opts) end   -- opts: {ex=, px=, nx=true, xx=true}
function conn:del(...) end
function conn:exists(...) end
function conn:expire(key, seconds) end
function conn:ttl(key) end
function conn:type(key) end
function conn:incr(key) end
function conn:hget(key, field) end
function conn:hset(key, field, value, ...) end
function conn:hgetall(key) end            -- a table field = value
function conn:dbsize() end

--- A cluster's nodes as its slot map names them: {address=, id=, role="primary"|"replica",
--- primary= (a replica's primary id), health= ("online", "failed", "loading"), slots= (a
--- primary's slot count)}. Empty for a connection to one server.
---@return table[]
function conn:nodes() end

--- for node, conn in r:each_node{role = "primary"|"replica"|"all"} do ... end: each node (a
--- table as nodes() gives) with a connection to it alone (default: the primaries). An iterator,
--- not a callback, so that calls in the loop can suspend a task. A connection to one server
--- gives itself once.
---@param opts? {role?: "primary"|"replica"|"all"}
---@return fun(): table, redis.connection
function conn:each_node(opts) end

--- Closes the connection (also on <close> and garbage collection).
function conn:close() end

---@class redis.pipeline
local pipeline = {}
--- Queues a command.
function pipeline:call(command, ...) end

return redis
