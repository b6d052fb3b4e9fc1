--- opsh.docker: the Docker Engine API, natively (no docker CLI): `local docker = require "opsh.docker"`.
--- Built on opsh._docker (libcurl on the event loop over the engine's unix socket, or tcp://), so
--- calls made inside tasks run concurrently. The API version is negotiated on first use from
--- /_ping (the lower of the engine's and 1.41). Failures return nil, err (err.code, err.message
--- naming the container and what the daemon answered; "daemon_unavailable" in one line when
--- nothing answers). Under --dry-run every call that is not a GET is refused and reported as
--- "would: docker ...": nothing is created, started, stopped or removed.
---
--- Data safety (docs/ARCHITECTURE.md §5): containers opsh creates carry the label `opsh.created=true`;
--- prune_containers removes only stopped containers with that label, prune_images only dangling
--- images, and there is no volume prune at all. `remove` never removes volumes unless asked.
local core = require "opsh._docker"
local http = require "opsh.http"
local json = require "opsh.json"
local time = require "opsh.time"
local config = require "opsh.config"
local opsh = require "opsh"

local M = {}

--- The label opsh puts on every container it creates; the only ones it will ever prune.
M.CREATED_LABEL = "opsh.created"
M.PROJECT_LABEL = "com.docker.compose.project"
M.SERVICE_LABEL = "com.docker.compose.service"
M.NUMBER_LABEL = "com.docker.compose.container-number"

local Client = {}
Client.__index = Client

-- JSON null (opsh.null) as nil: the engine sends null for empty lists
local function nn(x) if x == nil or opsh.is_null(x) then return nil end return x end

local urlencode = http.urlencode


--- A query string from a table (booleans as 1/0, tables as JSON: the engine's filters).
local function query(q)
  local engine = {}
  for k, v in pairs(q) do
    if type(v) == "boolean" then v = v and "1" or "0"
    elseif type(v) == "table" then v = json.encode(v) end
    engine[k] = v
  end
  local s = http.query(engine)
  return s ~= "" and ("?" .. s) or ""
end

--- A point in time for since/until as the engine takes it (Unix seconds): a number is a Unix
--- time, a duration ("24h", "30m") counts back from now, an ISO 8601 string is parsed.
function M.timestamp(v)
  if v == nil then return nil end
  if type(v) == "number" then return math.floor(v) end
  local ok, d = pcall(time.duration, v)
  if ok then return math.floor(time.now() - d) end
  local t, err = time.parse_iso(v)
  if not t then error("bad time '" .. tostring(v) .. "': a Unix time, a duration such as 24h, or ISO 8601 expected", 3) end
  return math.floor(t)
end

--- Connects (lazily: nothing is sent until the first call).
--- opts.host: DOCKER_HOST-style endpoint (default: configuration docker_host / $DOCKER_HOST);
--- opts.timeout: seconds per request (default 30).
---@return table|nil client, table? err
function M.connect(opts)
  opts = opsh.check_options(opts, { "host", "timeout", "api_version" }, "connect") or {}
  local host = opts.host or config.get("docker_host")
  local c, err = core.client(host, opts.timeout or 30)
  if not c then return nil, err end
  return setmetatable({ core = c, host = c:endpoint(), api_version = opts.api_version }, Client)
end

-- the engine's API version: negotiated once per client, from /_ping's Api-Version header (else
-- /version's ApiVersion): the lower of the engine's and the client's
function Client:prefix()
  if not self.api_version then
    local r, err = self.core:request("GET", "/_ping", { timeout = 10 })
    if not r then return nil, err end
    self.api_version_server = r.headers["api-version"]
    if not self.api_version_server then
      -- an engine (or a proxy) that leaves the header out: its /version says it
      local vr = self.core:request("GET", "/version", { timeout = 10 })
      self.api_version_server = vr and type(vr.json) == "table" and vr.json.ApiVersion or nil
    end
    local v = self.api_version_server or core.api_version
    local a, b = v:match("^(%d+)%.(%d+)$")
    local ca, cb = core.api_version:match("^(%d+)%.(%d+)$")
    if a and (tonumber(a) < tonumber(ca) or (tonumber(a) == tonumber(ca) and tonumber(b) < tonumber(cb))) then
      self.api_version = v
    else
      self.api_version = core.api_version
    end
  end
  return "/v" .. self.api_version
end

--- One API call: c:call("GET", "/containers/json", {query = {all = true}}) -> decoded JSON (or
--- the response table when opts.raw), or nil, err. opts as opsh._docker's request, plus query.
function Client:call(method, path, opts)
  opts = opts or {}
  local p, err = self:prefix()
  if not p then return nil, err end
  local r, e = self.core:request(method, p .. path .. query(opts.query or {}), opts)
  if not r then return nil, e end
  if r.dry_run or opts.raw then return r end
  if r.json ~= nil then return r.json end
  return r
end

--- true, or nil, err (err.code "daemon_unavailable" when nothing answers).
function Client:ping()
  local r, err = self.core:request("GET", "/_ping", { timeout = 10 })
  if not r then return nil, err end
  return r.body == "OK" or nil, r.body ~= "OK" and opsh.error("bad_reply", "docker /_ping answered " .. tostring(r.body)) or nil
end

function Client:version() return self:call("GET", "/version") end
function Client:info() return self:call("GET", "/info") end
--- Disk usage: images, containers, volumes, build cache (GET /system/df).
function Client:df() return self:call("GET", "/system/df", { timeout = 120 }) end

--- Containers: opts.all (stopped too), name, label (a string "k=v" or a list), status
--- ("running", "exited", ...), project and service (compose labels), filters (raw engine
--- filters, merged), size. Returns the engine's summaries (Id, Names, Image, State, Status, Labels, ...).
function Client:containers(opts)
  opts = opts or {}
  local f = {}
  for k, v in pairs(opts.filters or {}) do f[k] = v end
  local function add(k, v)
    f[k] = f[k] or {}
    if type(v) == "table" then for _, x in ipairs(v) do table.insert(f[k], x) end else table.insert(f[k], v) end
  end
  if opts.name then add("name", opts.name) end
  if opts.label then add("label", opts.label) end
  if opts.status then add("status", opts.status) end
  if opts.project then add("label", M.PROJECT_LABEL .. "=" .. opts.project) end
  if opts.service then add("label", M.SERVICE_LABEL .. "=" .. opts.service) end
  local q = { all = opts.all and true or nil, size = opts.size and true or nil }
  if next(f) then q.filters = f end
  return self:call("GET", "/containers/json", { query = q })
end

--- The container whose name is exactly `name` (the engine's name filter matches substrings).
function Client:find(name)
  local list, err = self:containers { all = true, name = "^/" .. name .. "$" }
  if not list then return nil, err end
  return list[1]
end

--- GET /containers/{id}/json: the full state, or nil, err (err.code "not_found" for a missing one).
function Client:inspect(id)
  return self:call("GET", "/containers/" .. urlencode(id) .. "/json", { what = "inspect " .. id })
end

--- Inspects many at once (concurrently): a table id -> inspect result (or false), and the errors.
function Client:inspect_all(ids)
  local fns = {}
  for i, id in ipairs(ids) do
    fns[i] = function()
      local r, err = self:inspect(id)
      return { r = r, err = err }
    end
  end
  local results, errors = {}, {}
  local out = { opsh.all(fns) }
  for i, id in ipairs(ids) do
    results[id] = out[i].r or false
    if not out[i].r then errors[id] = out[i].err end
  end
  return results, errors
end

--- Creates a container: spec is the engine's create body (Image, Cmd, Env, Labels, HostConfig,
--- ...) plus `name`. opsh adds its label opsh.created=true. Returns {Id = ..., Warnings = ...}.
function Client:create(spec)
  local body = {}
  for k, v in pairs(spec) do if k ~= "name" then body[k] = v end end
  local labels = {}
  for k, v in pairs(spec.Labels or {}) do labels[k] = v end
  labels[M.CREATED_LABEL] = "true"
  body.Labels = labels
  return self:call("POST", "/containers/create", { query = { name = spec.name }, json = body,
    what = "create container " .. tostring(spec.name or spec.Image) })
end

local function action(self, id, verb, q, timeout)
  local r, err = self:call("POST", "/containers/" .. urlencode(id) .. "/" .. verb,
    { query = q, timeout = timeout, what = verb .. " " .. id })
  if not r then return nil, err end
  return r.dry_run and r or true
end

function Client:start(id) return action(self, id, "start") end
--- Stops with SIGTERM (or the container's stop signal), then SIGKILL after opts.timeout seconds
--- (default 10): the engine escalates. Returns true (also when already stopped).
function Client:stop(id, opts)
  local t = (opts and opts.timeout) or 10
  return action(self, id, "stop", { t = t }, t + 30)
end
function Client:restart(id, opts)
  local t = (opts and opts.timeout) or 10
  return action(self, id, "restart", { t = t }, t + 60)
end
--- Sends a signal (default SIGKILL).
function Client:kill(id, signal) return action(self, id, "kill", { signal = signal or "SIGKILL" }) end
function Client:pause(id) return action(self, id, "pause") end
function Client:unpause(id) return action(self, id, "unpause") end
--- Waits until the container stops (condition "not-running" by default): its exit code.
function Client:wait(id, opts)
  opts = opts or {}
  local r, err = self:call("POST", "/containers/" .. urlencode(id) .. "/wait",
    { query = { condition = opts.condition or "not-running" }, timeout = opts.timeout or 60, what = "wait for " .. id })
  if not r then return nil, err end
  if r.dry_run then return r end
  return r.StatusCode
end

--- Resource limits as people write them: memory = "512m" or bytes, cpus = 1.5, pids = 100,
--- memory_reservation, memory_swap, cpu_shares; any engine field (Memory, NanoCpus, ...) passes
--- through. A memory limit without memory_swap leaves swap unlimited (MemorySwap = -1): the
--- engine refuses a memory limit above a swap limit set before.
function M.resources(limits)
  local units = require "opsh.units"
  local body = {}
  for k, v in pairs(limits) do
    if k == "memory" then body.Memory = type(v) == "number" and v or assert(units.parse_bytes(v))
    elseif k == "memory_reservation" then body.MemoryReservation = type(v) == "number" and v or assert(units.parse_bytes(v))
    elseif k == "memory_swap" then body.MemorySwap = type(v) == "number" and v or assert(units.parse_bytes(v))
    elseif k == "cpus" then body.NanoCpus = math.floor(tonumber(v) * 1e9 + 0.5)
    elseif k == "pids" then body.PidsLimit = math.floor(v)
    elseif k == "cpu_shares" then body.CpuShares = math.floor(v)
    else body[k] = v end
  end
  if body.Memory and not body.MemorySwap then body.MemorySwap = -1 end
  return body
end

--- Updates resource limits of a running container (see docker.resources for the names).
function Client:update(id, limits)
  local r, err = self:call("POST", "/containers/" .. urlencode(id) .. "/update",
    { json = M.resources(limits), what = "update " .. id })
  if not r then return nil, err end
  return r
end

--- Removes a container; opts.force (kill a running one), opts.volumes (its anonymous volumes;
--- default false: named volumes are never removed by the engine here anyway).
function Client:remove(id, opts)
  opts = opts or {}
  local r, err = self:call("DELETE", "/containers/" .. urlencode(id),
    { query = { force = opts.force and true or nil, v = opts.volumes and true or nil }, what = "remove " .. id })
  if not r then return nil, err end
  return r.dry_run and r or true
end

--- Logs as an iterator of (line, stream): `for line, stream in c:logs(id, {since = "24h"}) do`.
--- opts: since, until (see docker.timestamp), tail (a number or "all"), timestamps, stdout,
--- stderr (both default true), follow (with duration = seconds to bound it), match (a string or a
--- list: only lines containing one come back, filtered natively), ignore_case, max_lines, tty
--- (default: from the container's Config.Tty; a TTY's output is raw, without stream frames:
--- its lines all come as "stdout"). A broken stream (cut mid-frame, daemon gone) raises the
--- error object. The second value is the stream: s:counts() -> {lines, bytes, kept, source}.
--- A whole-log read of a local json-file log is read from the file natively (source "file"):
--- the same lines, several times faster than the engine's decoding; opts.source = "api" forces
--- the API (as do follow, tail and timestamps).
function Client:logs(id, opts)
  opts = opts or {}
  local tty = opts.tty
  local info
  if tty == nil or opts.source ~= "api" then
    local err
    info, err = self:inspect(id)
    if not info then error(err, 2) end
    if tty == nil then tty = info.Config and info.Config.Tty or false end
  end
  -- The engine decodes its json-file log at about 10 MB/s: when that file is on this machine and
  -- readable, a whole-log read (no follow, tail or timestamps) reads it natively instead, with the
  -- same result (JSONFileLogReader). opts.source = "api" forces the API.
  local lc = info and info.HostConfig and info.HostConfig.LogConfig
  if info and opts.source ~= "api" and not opts.follow and not opts.timestamps
      and (opts.tail == nil or opts.tail == "all") and lc and lc.Type == "json-file"
      and type(info.LogPath) == "string" and info.LogPath ~= "" and self.host:sub(1, 7) == "unix://" then
    local s = core.file_stream(info.LogPath, {
      stdout = opts.stdout ~= false, stderr = opts.stderr ~= false,
      since = M.timestamp(opts.since), ["until"] = M.timestamp(opts["until"]),
      match = opts.match, ignore_case = opts.ignore_case, max_lines = opts.max_lines,
    })
    if s then return function() return s:next() end, s end
  end
  local p, err = self:prefix()
  if not p then error(err, 2) end
  local q = {
    stdout = opts.stdout ~= false, stderr = opts.stderr ~= false,
    since = M.timestamp(opts.since), ["until"] = M.timestamp(opts["until"]),
    tail = opts.tail and tostring(opts.tail) or nil, timestamps = opts.timestamps and true or nil,
    follow = opts.follow and true or nil,
  }
  local s, e = self.core:stream(p .. "/containers/" .. urlencode(id) .. "/logs" .. query(q), {
    tty = tty, match = opts.match, ignore_case = opts.ignore_case, max_lines = opts.max_lines,
    duration = opts.duration, max_queued = opts.max_queued,
  })
  if not s then error(e, 2) end
  return function() return s:next() end, s
end

--- The engine's events as an iterator of decoded tables, bounded: opts.duration (seconds,
--- default 5), max (events), since/until (docker.timestamp), filters (engine filters, e.g.
--- {type = {"container"}, event = {"die"}}).
function Client:events(opts)
  opts = opts or {}
  local p, err = self:prefix()
  if not p then error(err, 2) end
  local q = { since = M.timestamp(opts.since), ["until"] = M.timestamp(opts["until"]) }
  if opts.filters then q.filters = opts.filters end
  local s, e = self.core:stream(p .. "/events" .. query(q),
    { tty = true, duration = opts.duration or 5, max_lines = opts.max })
  if not s then error(e, 2) end
  return function()
    local line = s:next()
    if line == nil then return nil end
    return json.decode(line)
  end, s
end

--- CPU % and memory % from one stats sample, as `docker stats` computes them:
---   cpu % = (cpu_usage.total_usage - precpu.total_usage) / (system_cpu_usage - precpu.system_cpu_usage)
---           * online_cpus * 100   (online_cpus, else the length of percpu_usage; 0 when a delta is 0)
---   memory used = usage - cache, where cache is memory_stats.stats.total_inactive_file on
---           cgroup v1 and memory_stats.stats.inactive_file on cgroup v2 (when below usage);
---   memory % = used / limit * 100.
function M.compute_stats(s)
  local out = { name = s.name and (s.name:gsub("^/", "")), id = s.id }
  local cpu, pre = nn(s.cpu_stats) or {}, nn(s.precpu_stats) or {}
  local cu, pu = nn(cpu.cpu_usage) or {}, nn(pre.cpu_usage) or {}
  local cpu_delta = (cu.total_usage or 0) - (pu.total_usage or 0)
  local sys_delta = (cpu.system_cpu_usage or 0) - (pre.system_cpu_usage or 0)
  local online = nn(cpu.online_cpus)
  if not online or online == 0 then online = nn(cu.percpu_usage) and #cu.percpu_usage or 1 end
  out.cpu_percent = (cpu_delta > 0 and sys_delta > 0) and cpu_delta / sys_delta * online * 100.0 or 0.0
  out.online_cpus = online
  local m = nn(s.memory_stats) or {}
  local st = nn(m.stats) or {}
  local usage = m.usage or 0
  local cache = st.total_inactive_file or st.inactive_file   -- cgroup v1 / v2
  if cache and cache < usage then usage = usage - cache end
  out.memory_used = usage
  out.memory_limit = m.limit or 0
  out.memory_percent = (m.limit and m.limit > 0) and usage / m.limit * 100.0 or 0.0
  local rx, tx = 0, 0
  for _, n in pairs(nn(s.networks) or {}) do rx = rx + (n.rx_bytes or 0); tx = tx + (n.tx_bytes or 0) end
  out.net_rx, out.net_tx = rx, tx
  local rd, wr = 0, 0
  for _, e in ipairs(nn((nn(s.blkio_stats) or {}).io_service_bytes_recursive) or {}) do
    local op = (e.op or ""):lower()
    if op == "read" then rd = rd + e.value elseif op == "write" then wr = wr + e.value end
  end
  out.block_read, out.block_write = rd, wr
  out.pids = nn((nn(s.pids_stats) or {}).current) or 0
  return out
end

--- One stats sample per container, all at once: the engine's collector reads every container
--- once a second, and a sample with CPU % needs two of its readings, so any number of containers
--- take one to two seconds together (one-shot=true would save one reading but gives no CPU %):
--- a list of {name, id, cpu_percent, memory_used,
--- memory_limit, memory_percent, net_rx, net_tx, block_read, block_write, pids}, in the order of
--- `ids`, and a table of errors by id. opts.raw keeps the engine's sample as .raw.
function Client:stats(ids, opts)
  opts = opts or {}
  local fns = {}
  for i, id in ipairs(ids) do
    fns[i] = function()
      local s, err = self:call("GET", "/containers/" .. urlencode(id) .. "/stats", { query = { stream = false }, what = "stats " .. id })
      if not s then return { err = err } end
      return { s = s }
    end
  end
  local results = { opsh.all(fns) }
  local out, errors = {}, {}
  for i, id in ipairs(ids) do
    local r = results[i]
    if r and r.s then
      local x = M.compute_stats(r.s)
      x.id = x.id or id
      if opts.raw then x.raw = r.s end
      out[#out + 1] = x
    else
      errors[id] = r and r.err or opsh.error("stats", "no stats for " .. id)
    end
  end
  return out, errors
end

--- Runs a command in a running container: {exit_code, stdout, stderr}, or nil, err.
--- cmd is a list (no shell) or a string (run with /bin/sh -c). opts: env (list "K=V"), user, workdir, timeout.
function Client:exec(id, cmd, opts)
  opts = opts or {}
  if type(cmd) == "string" then cmd = { "/bin/sh", "-c", cmd } end
  local created, err = self:call("POST", "/containers/" .. urlencode(id) .. "/exec", {
    json = { AttachStdout = true, AttachStderr = true, Tty = false, Cmd = cmd, Env = opts.env,
             User = opts.user, WorkingDir = opts.workdir },
    what = "exec in " .. id })
  if not created then return nil, err end
  if created.dry_run then return created end
  local out, e2 = self:call("POST", "/exec/" .. created.Id .. "/start",
    { json = { Detach = false, Tty = false }, demux = true, raw = true, timeout = opts.timeout or 60, what = "exec in " .. id })
  if not out then return nil, e2 end
  local info, e3 = self:call("GET", "/exec/" .. created.Id .. "/json")
  if not info then return nil, e3 end
  return { exit_code = info.ExitCode, stdout = out.stdout, stderr = out.stderr }
end

--- The processes of a running container (GET /containers/{id}/top): {Titles, Processes}.
function Client:top(id, ps_args)
  return self:call("GET", "/containers/" .. urlencode(id) .. "/top", { query = { ps_args = ps_args }, what = "top " .. id })
end

--- Volumes (opts.filters: engine filters, e.g. {dangling = {"true"}}): the list.
function Client:volumes(opts)
  local r, err = self:call("GET", "/volumes", { query = { filters = opts and opts.filters } })
  if not r then return nil, err end
  return r.Volumes or {}, r.Warnings
end
function Client:volume(name) return self:call("GET", "/volumes/" .. urlencode(name), { what = "inspect volume " .. name }) end
--- Creates a named volume (labelled opsh.created=true).
function Client:create_volume(name, labels)
  local l = { [M.CREATED_LABEL] = "true" }
  for k, v in pairs(labels or {}) do l[k] = v end
  return self:call("POST", "/volumes/create", { json = { Name = name, Labels = l }, what = "create volume " .. name })
end

--- A path of the container's filesystem as a tar file, streamed to `file` (a created, never
--- started container that mounts a volume serves it without running anything).
function Client:get_archive(id, path, file, opts)
  local r, err = self:call("GET", "/containers/" .. urlencode(id) .. "/archive",
    { query = { path = path }, output = file, raw = true, timeout = (opts and opts.timeout) or 3600, what = "copy " .. id .. ":" .. path })
  if not r then return nil, err end
  return { bytes = r.bytes, sha256 = r.sha256, file = file }
end

--- Extracts the tar `file` into directory `path` of the container (streamed from the file).
function Client:put_archive(id, path, file, opts)
  local r, err = self:call("PUT", "/containers/" .. urlencode(id) .. "/archive",
    { query = { path = path }, upload = file, content_type = "application/x-tar", raw = true,
      timeout = (opts and opts.timeout) or 3600, what = "copy into " .. id .. ":" .. path })
  if not r then return nil, err end
  return r.dry_run and r or true
end

--- Removes stopped containers that opsh created (label opsh.created=true), and nothing else:
--- a stack's stopped containers are its services. opts.label (a "k=v" or a list) narrows it
--- further, e.g. to one compose project. {removed = {ids}, space = bytes}.
function Client:prune_containers(opts)
  local labels = { M.CREATED_LABEL .. "=true" }
  local extra = opts and opts.label
  if type(extra) == "string" then extra = { extra } end
  for _, l in ipairs(extra or {}) do labels[#labels + 1] = l end
  local r, err = self:call("POST", "/containers/prune",
    { query = { filters = { label = labels } }, what = "prune stopped containers labelled " .. table.concat(labels, ", ") })
  if not r then return nil, err end
  if r.dry_run then return r end
  return { removed = nn(r.ContainersDeleted) or json.array {}, space = nn(r.SpaceReclaimed) or 0 }
end

--- Removes dangling images (untagged, unused) only. {removed = {...}, space = bytes}.
function Client:prune_images()
  local r, err = self:call("POST", "/images/prune", { query = { filters = { dangling = { "true" } } }, what = "prune dangling images" })
  if not r then return nil, err end
  if r.dry_run then return r end
  return { removed = nn(r.ImagesDeleted) or json.array {}, space = nn(r.SpaceReclaimed) or 0 }
end

function Client:images(opts)
  return self:call("GET", "/images/json", { query = { filters = opts and opts.filters } })
end

-- MARK: compose helpers (by the labels docker-compose puts on containers)

--- The services of a compose project: {service = {containers...}} (stopped ones too).
function Client:services(project)
  local list, err = self:containers { all = true, project = project }
  if not list then return nil, err end
  local out = {}
  for _, c in ipairs(list) do
    local s = (c.Labels or {})[M.SERVICE_LABEL] or "?"
    out[s] = out[s] or {}
    table.insert(out[s], c)
  end
  return out
end

--- A service's containers (project optional), sorted by container number.
function Client:service_containers(service, project)
  local list, err = self:containers { all = true, service = service, project = project }
  if not list then return nil, err end
  table.sort(list, function(a, b)
    return (tonumber((a.Labels or {})[M.NUMBER_LABEL]) or 0) < (tonumber((b.Labels or {})[M.NUMBER_LABEL]) or 0)
  end)
  return list
end

--- Restarts every container of a service, concurrently: {name = true | err}.
function Client:restart_service(service, opts)
  opts = opts or {}
  local list, err = self:service_containers(service, opts.project)
  if not list then return nil, err end
  if #list == 0 then return nil, opsh.error("not_found", "no container of service " .. service) end
  local fns = {}
  for i, c in ipairs(list) do
    fns[i] = function()
      local ok, e = self:restart(c.Id, { timeout = opts.timeout })
      return ok and true or e
    end
  end
  local res = { opsh.all(fns) }
  local out = {}
  for i, c in ipairs(list) do out[(string.gsub(c.Names[1] or c.Id, "^/", ""))] = res[i] end
  return out
end

local function clone_spec(info, name, number)
  local cfg, hc = info.Config, info.HostConfig
  local labels = {}
  for k, v in pairs(cfg.Labels or {}) do labels[k] = v end
  labels[M.NUMBER_LABEL] = tostring(number)
  return {
    name = name, Image = cfg.Image, Cmd = cfg.Cmd, Entrypoint = cfg.Entrypoint, Env = cfg.Env,
    WorkingDir = cfg.WorkingDir ~= "" and cfg.WorkingDir or nil, User = cfg.User ~= "" and cfg.User or nil,
    Tty = cfg.Tty, StopSignal = cfg.StopSignal, StopTimeout = cfg.StopTimeout, Healthcheck = cfg.Healthcheck,
    Labels = labels,
    HostConfig = {
      Binds = hc.Binds, Mounts = hc.Mounts, NetworkMode = hc.NetworkMode, ExtraHosts = hc.ExtraHosts,
      LogConfig = hc.LogConfig, RestartPolicy = hc.RestartPolicy, Memory = hc.Memory, NanoCpus = hc.NanoCpus,
      MemoryReservation = hc.MemoryReservation, PidsLimit = hc.PidsLimit, CpuShares = hc.CpuShares,
      ReadonlyRootfs = hc.ReadonlyRootfs, Init = hc.Init,
    },
  }
end

--- Scales a service to `n` running containers (the guide's `docker-compose up --scale`): new ones
--- are copies of the service's first container (same image, command, mounts, limits, labels; named
--- <first>-<number>, labelled opsh.created=true); scaling down stops and removes only containers
--- that opsh created, newest first: the service's own containers are never removed. Returns
--- {before, after, started = {names}, removed = {names}}.
function Client:scale_service(service, n, opts)
  opts = opts or {}
  local list, err = self:service_containers(service, opts.project)
  if not list then return nil, err end
  if #list == 0 then return nil, opsh.error("not_found", "no container of service " .. service .. " to copy") end
  local running, created = {}, {}
  for _, c in ipairs(list) do
    if c.State == "running" then running[#running + 1] = c end
    if (c.Labels or {})[M.CREATED_LABEL] == "true" then created[#created + 1] = c end
  end
  local report = { before = #running, after = #running, started = {}, removed = {} }
  if n > #running then
    local base = list[1]
    local info, e = self:inspect(base.Id)
    if not info then return nil, e end
    local base_name = info.Name:gsub("^/", "")
    local used = {}
    for _, c in ipairs(list) do used[tonumber((c.Labels or {})[M.NUMBER_LABEL]) or 1] = c end
    -- start stopped copies first, then make new ones
    for _, c in ipairs(list) do
      if #running + #report.started >= n then break end
      if c.State ~= "running" then
        local ok, e2 = self:start(c.Id)
        if not ok then return nil, e2 end
        table.insert(report.started, (string.gsub(c.Names[1] or c.Id, "^/", "")))
      end
    end
    local k = 2
    while #running + #report.started < n do
      while used[k] do k = k + 1 end
      local name = base_name .. "-" .. k
      local r, e3 = self:create(clone_spec(info, name, k))
      if not r then return nil, e3 end
      if not r.dry_run then
        local ok, e4 = self:start(r.Id)
        if not ok then return nil, e4 end
      end
      used[k] = true
      table.insert(report.started, name)
    end
    report.after = #running + #report.started
  elseif n < #running then
    table.sort(created, function(a, b)
      return (tonumber((a.Labels or {})[M.NUMBER_LABEL]) or 0) > (tonumber((b.Labels or {})[M.NUMBER_LABEL]) or 0)
    end)
    local excess = #running - n
    for _, c in ipairs(created) do
      if excess == 0 then break end
      if c.State == "running" then
        local ok, e5 = self:stop(c.Id, { timeout = opts.timeout or 10 })
        if not ok then return nil, e5 end
        local ok2, e6 = self:remove(c.Id)
        if not ok2 then return nil, e6 end
        table.insert(report.removed, (string.gsub(c.Names[1] or c.Id, "^/", "")))
        excess = excess - 1
      end
    end
    report.after = #running - #report.removed
    if excess > 0 then report.note = string.format("%d more running container(s) were not created by opsh and were left running", excess) end
  end
  return report
end

--- Pulls an image from its registry (the guide's `docker-compose pull`): ref as "name[:tag]"
--- (tag default "latest"). true, or nil, err: an unreachable registry, an unknown repository, or
--- an error the engine reports inside its progress stream (HTTP 200 with {"error": ...}).
function Client:pull(ref, opts)
  opts = opts or {}
  local name, tag = ref:match("^(.+):([^/:]+)$")
  if not name then name, tag = ref, "latest" end
  local r, err = self:call("POST", "/images/create", { query = { fromImage = name, tag = tag },
    timeout = opts.timeout or 600, raw = true, what = "pull " .. ref })
  if not r then return nil, err end
  if r.dry_run then return r end
  for line in (r.body or ""):gmatch("[^\n]+") do
    local ok, msg = pcall(json.decode, line)
    if ok and type(msg) == "table" and msg.error then
      return nil, opsh.error("pull_failed", "pull " .. ref .. ": " .. tostring(msg.error))
    end
  end
  return true
end

--- The image a reference names here: its inspect document (Id, RepoTags, Created, ...), or nil, err.
function Client:image(ref)
  return self:call("GET", "/images/" .. urlencode(ref) .. "/json", { what = "inspect image " .. ref })
end

-- the create body that makes the same container again: its configuration and host
-- configuration as the engine reports them (labels included, opsh's label not added: a service
-- recreated stays the service's), on `image`, on its first network
local function same_container(info, image, env)
  local body = {}
  for k, v in pairs(info.Config) do body[k] = v end
  body.Image = image
  if env then body.Env = env end
  if body.Hostname and info.Id:sub(1, #body.Hostname) == body.Hostname then body.Hostname = nil end
  body.HostConfig = info.HostConfig
  local nets = info.NetworkSettings and nn(info.NetworkSettings.Networks) or nil
  local mode = info.HostConfig and info.HostConfig.NetworkMode
  if nets and mode and nets[mode] then
    local e = nets[mode]
    body.NetworkingConfig = { EndpointsConfig = { [mode] = { Aliases = nn(e.Aliases), IPAMConfig = nn(e.IPAMConfig), Links = nn(e.Links) } } }
  end
  return body
end

--- Recreates a container from its own definition (what docker-compose does when a service's
--- image changed): the same configuration, mounts, limits, labels and name, on opts.image (default
--- the image reference it was created from, as it resolves now). The old container is stopped
--- (opts.timeout, default 10 s) and renamed aside, the new one created and started; opts.check
--- (function(new_id) -> true | nil, why), when given, must accept it, else the new one is removed
--- and the old one renamed back and started again. Only then is the old one removed (its named
--- volumes never are). Returns {id, old_id, name, image}, or nil, err (err.rolled_back when the
--- old container runs again). opts.env = {NAME = value} changes those variables of the new
--- container's environment, everything else kept (a restart never re-reads an .env: this is how
--- a changed endpoint reaches a running service; `_docker.env_override`). Under --dry-run nothing
--- changes and the result says what would.
function Client:recreate(id, opts)
  opts = opts or {}
  local info, err = self:inspect(id)
  if not info then return nil, err end
  local name = info.Name:gsub("^/", "")
  local image = opts.image or info.Config.Image
  local env
  if opts.env then
    local eerr
    env, eerr = core.env_override(info.Config.Env, opts.env)
    if not env then return nil, eerr end
  end
  local was_running = info.State and info.State.Running
  local stopped, serr = self:stop(info.Id, { timeout = opts.timeout })
  if not stopped then return nil, serr end
  if type(stopped) == "table" and stopped.dry_run then
    local names = {}
    for k in pairs(opts.env or {}) do names[#names + 1] = k end
    table.sort(names)
    return { dry_run = true, name = name, image = image, would = "recreate " .. name .. " on " .. image
      .. (#names > 0 and (" with " .. table.concat(names, ", ") .. " changed") or "") }
  end
  local aside = name .. "-replaced-" .. info.Id:sub(1, 12)
  local renamed, rerr = self:call("POST", "/containers/" .. urlencode(info.Id) .. "/rename", { query = { name = aside }, what = "rename " .. name })
  local function put_back(why)
    self:call("POST", "/containers/" .. urlencode(info.Id) .. "/rename", { query = { name = name }, what = "rename " .. aside })
    if was_running then self:start(info.Id) end
    return nil, opsh.error("recreate_failed", name .. ": " .. tostring(why) .. "; the old container was put back", { rolled_back = true })
  end
  if not renamed then
    if was_running then self:start(info.Id) end
    return nil, rerr
  end
  local created, cerr = self:call("POST", "/containers/create", { query = { name = name }, json = same_container(info, image, env),
    what = "create container " .. name })
  if not created then return put_back(cerr) end
  local started, sterr = self:start(created.Id)
  local ok, why = started, sterr
  if ok and opts.check then ok, why = opts.check(created.Id) end
  if not ok then
    self:remove(created.Id, { force = true })
    return put_back(why)
  end
  local removed, rmerr = self:remove(info.Id)
  if not removed then
    return nil, opsh.error("recreate_incomplete", name .. " recreated, but the old container " .. aside .. " was not removed: " .. tostring(rmerr))
  end
  return { id = created.Id, old_id = info.Id, name = name, image = image }
end

--- The demultiplexer, for a whole multiplexed body: stdout, stderr (or nil, err for a cut one).
M.demux = core.demux

-- module-level shorthands on a default client: docker.containers{...}, docker.inspect(id), ...
local default
local function get_default()
  if not default then default = assert(M.connect()) end
  return default
end
for name, fn in pairs(Client) do
  if type(fn) == "function" and name:sub(1, 2) ~= "__" and M[name] == nil then
    M[name] = function(...) return fn(get_default(), ...) end
  end
end

return M
