---@meta
--- The Docker Engine API, natively (no docker CLI): `local docker = require "opsh.docker"`.
--- Over the engine's unix socket (DOCKER_HOST `unix:///path`, default /var/run/docker.sock) or
--- `tcp://host:port` (plain HTTP), on libcurl's multi interface: calls inside tasks run
--- concurrently (`opsh.all`). The API version is negotiated on first use from /_ping: the lower of
--- the engine's and 1.41 (Debian 12's engine 20.10 speaks 1.41).
---
--- Failures return nil, err: err.code is "not_found" (404), "conflict" (409: e.g. exec in a
--- stopped container), "bad_request", "http_status", "daemon_unavailable" (nothing answers: the
--- message is one line), "timeout", "stream" (a log stream cut mid-frame, or TTY output read as
--- frames), "transfer"; err.message names the action and the container and quotes the daemon
--- ("docker stop web: No such container: web"); err.status is the HTTP status.
--- Iterators (logs, events) raise the same error object when the stream breaks: wrap the loop in
--- pcall to report it.
---
--- Under --dry-run every call that is not a GET is refused: it adds "would: docker stop web" to the report and
--- returns {dry_run = true, would = "..."}; reads (containers, inspect, logs, stats) still run.
---
--- Data safety (docs/ARCHITECTURE.md §5): every container opsh creates carries the label opsh.created=true;
--- `prune_containers` removes only stopped containers with that label, `prune_images` only dangling
--- images; there is no volume prune (API 1.41 would delete unused *named* volumes); `remove` keeps
--- volumes; scaling down removes only containers opsh created.
---
--- Every method below also exists at module level on a default client: docker.containers{...}.
local docker = {}

---@class docker.client
---@field host string the endpoint
---@field api_version string|nil the negotiated API version (after the first call)
local client = {}

--- A client (nothing is sent until the first call).
---@param opts? {host?: string, timeout?: number, api_version?: string} host defaults to the configuration's docker_host ($DOCKER_HOST); timeout: seconds per request (default 30)
---@return docker.client|nil, table? err
function docker.connect(opts) end

--- since/until as the engine takes them (Unix seconds): a number is a Unix time, a duration
--- ("24h", "30m") counts back from now, an ISO 8601 string is parsed; raises on anything else.
---@param v number|string
---@return integer
function docker.timestamp(v) end

--- Limits as operators write them, in the engine's fields: memory = "512m" (Memory, with
--- MemorySwap = -1 unless memory_swap is given), cpus = 1.5 (NanoCpus), pids (PidsLimit),
--- memory_reservation, cpu_shares; engine fields pass through.
---@param limits table
---@return table
function docker.resources(limits) end

--- CPU % and memory % of one stats sample, as `docker stats` computes them:
---   cpu % = (cpu_stats.cpu_usage.total_usage - precpu_stats.cpu_usage.total_usage)
---         / (cpu_stats.system_cpu_usage - precpu_stats.system_cpu_usage) * online_cpus * 100
---         (online_cpus, else the number of percpu_usage entries; 0 when either delta is 0).
---   memory used = memory_stats.usage - cache, where cache is memory_stats.stats.total_inactive_file
---         on cgroup v1 and memory_stats.stats.inactive_file on cgroup v2 (subtracted only when
---         smaller than usage); memory % = used / memory_stats.limit * 100.
--- The engine's sample for stream=false waits for a second reading (about one second), so
--- precpu_stats is one second older than cpu_stats.
---@param sample table the engine's /containers/{id}/stats document
---@return {name: string, id: string, cpu_percent: number, online_cpus: integer, memory_used: integer, memory_limit: integer, memory_percent: number, net_rx: integer, net_tx: integer, block_read: integer, block_write: integer, pids: integer}
function docker.compute_stats(sample) end

--- Splits a whole multiplexed body (8-byte frame headers) into stdout and stderr.
---@param body string
---@return string|nil stdout, string|table stderr_or_err
function docker.demux(body) end

--- Any API call: c:call("GET", "/containers/json", {query = {all = true}}). Returns the decoded
--- JSON (or the response {status, headers, body, json} with raw = true), or nil, err.
---@param method string
---@param path string without the version prefix
---@param opts? {query?: table, json?: table, body?: string, timeout?: number, output?: string, upload?: string, content_type?: string, raw?: boolean, allow_status?: boolean, what?: string}
function client:call(method, path, opts) end

---@return true|nil, table? err
function client:ping() end
---@return table|nil version, table? err
function client:version() end
---@return table|nil info, table? err
function client:info() end
--- Disk usage (GET /system/df): Images, Containers, Volumes, BuildCache.
function client:df() end

--- Containers (running only unless all): filters by name (the engine's name filter is a
--- regular expression: "^/web$" for an exact one), label ("k=v" or a list), status
--- ("running", "exited", "created", "paused", ...), compose project and service; filters
--- passes engine filters through. Returns the engine's summaries (Id, Names, Image, State,
--- Status, Labels, Created, ...).
---@param opts? {all?: boolean, name?: string, label?: string|string[], status?: string, project?: string, service?: string, filters?: table, size?: boolean}
---@return table[]|nil, table? err
function client:containers(opts) end

--- The container named exactly `name` (all states), or nil.
function client:find(name) end

--- The full inspect document, or nil, err ("not_found").
function client:inspect(id) end

--- Inspects many concurrently: {id = document or false}, {id = err}.
function client:inspect_all(ids) end

--- Creates a container from the engine's create body (Image, Cmd, Env, Labels, HostConfig, ...)
--- plus `name`; adds the label opsh.created=true. Returns {Id, Warnings}.
function client:create(spec) end

--- Start, stop (SIGTERM, then SIGKILL after opts.timeout seconds, default 10: the engine
--- escalates), restart (same timeout), kill (a signal, default SIGKILL), pause, unpause.
--- Each returns true (also when the container already was in that state) or nil, err.
function client:start(id) end
function client:stop(id, opts) end
function client:restart(id, opts) end
function client:kill(id, signal) end
function client:pause(id) end
function client:unpause(id) end

--- Waits until the container stops; its exit code.
---@param opts? {condition?: string, timeout?: number}
function client:wait(id, opts) end

--- Changes the limits of a container (see docker.resources).
function client:update(id, limits) end

--- Removes a container: opts.force kills a running one; opts.volumes also removes its
--- anonymous volumes (default false). Named volumes are never removed.
function client:remove(id, opts) end

--- Logs as (line, stream) pairs: `for line, stream in c:logs("web", {since = "24h", match = "error", ignore_case = true}) do`.
--- A container without a TTY sends frames, demultiplexed natively into "stdout"/"stderr"; one
--- with a TTY sends raw output (decided from Config.Tty unless opts.tty says), all "stdout".
--- match (a substring or a list of them) filters natively: lines that do not match never reach
--- Lua. follow streams new lines: bound it with duration (seconds) or max_lines. The second
--- value is the stream: s:counts() -> {lines = scanned, bytes = scanned, kept = returned,
--- source = "api"|"file"}.
--- A stream that breaks raises the error object (code "stream": "cut inside a frame (5 of 12 payload bytes)").
--- A whole-log read (no follow, tail or timestamps) of a container whose json-file log is on this
--- machine and readable is read from that file natively (source "file"): the same lines as the
--- engine's /logs (tested line for line, rotated files included), without the engine decoding its
--- own file at about 10 MB/s. source = "api" forces the endpoint.
---@param opts? {since?: number|string, until?: number|string, tail?: integer|string, timestamps?: boolean, stdout?: boolean, stderr?: boolean, follow?: boolean, duration?: number, max_lines?: integer, match?: string|string[], ignore_case?: boolean, tty?: boolean, source?: "api"}
---@return fun(): string?, string?
---@return userdata stream
function client:logs(id, opts) end

--- The engine's events as decoded tables, bounded by duration (seconds, default 5) or max.
---@param opts? {since?: number|string, until?: number|string, filters?: table, duration?: number, max?: integer}
function client:events(opts) end

--- One stats sample per container, all requested at once (about one second in total): a list of
--- docker.compute_stats results in the order of ids, and a table of errors by id.
---@param ids string[]
---@param opts? {raw?: boolean}
function client:stats(ids, opts) end

--- Runs a command in a running container: {exit_code, stdout, stderr}. A string runs under /bin/sh -c.
---@param cmd string|string[]
---@param opts? {env?: string[], user?: string, workdir?: string, timeout?: number}
function client:exec(id, cmd, opts) end

--- The container's processes: {Titles, Processes}.
function client:top(id, ps_args) end

--- Volumes (opts.filters), and one volume's details.
function client:volumes(opts) end
function client:volume(name) end
--- Creates a named volume labelled opsh.created=true.
function client:create_volume(name, labels) end

--- A path of the container as a tar file streamed to `file` ({bytes, sha256, file}); a created,
--- never started container that mounts a volume serves the volume without running anything.
function client:get_archive(id, path, file, opts) end
--- Extracts the tar `file` into the container's directory `path` (streamed).
function client:put_archive(id, path, file, opts) end

--- Removes stopped containers labelled opsh.created=true, nothing else: {removed = {ids}, space}.
--- opts.label ("k=v" or a list) narrows it further (all labels must match).
---@param opts? {label?: string|string[]}
function client:prune_containers(opts) end
--- Removes dangling images only: {removed, space}.
function client:prune_images() end
function client:images(opts) end

--- Compose helpers, on docker-compose's labels (com.docker.compose.project/service/container-number).
--- The services of a project: {service = {container summaries}}.
function client:services(project) end
--- A service's containers, by container number (opts: project).
function client:service_containers(service, project) end
--- Restarts every container of a service concurrently: {name = true or err}.
---@param opts? {project?: string, timeout?: number}
function client:restart_service(service, opts) end
--- Scales a service to n running containers: copies of its first container (named <first>-<k>,
--- labelled opsh.created=true) are started or created; scaling down stops and removes only
--- copies opsh created, newest first. {before, after, started = {names}, removed = {names}, note?}.
---@param opts? {project?: string, timeout?: number}
function client:scale_service(service, n, opts) end

--- Pulls an image from its registry (`docker pull`, the guide's `docker-compose pull`): ref as
--- "name[:tag]". true, or nil, err (an unreachable registry, an unknown repository, or an error
--- the engine reports inside its progress stream).
---@param ref string
---@param opts? {timeout?: number}
---@return boolean|nil ok, table? err
function client:pull(ref, opts) end

--- The image a reference names here (GET /images/{ref}/json): {Id, RepoTags, Created, ...}, or nil, err.
---@param ref string
---@return table|nil image, table? err
function client:image(ref) end

--- Recreates a container from its own definition (configuration, mounts, limits, labels, name;
--- opsh's label is not added) on opts.image (default the reference it was created from, as it
--- resolves now): the old one stopped and renamed aside, the new one created and started, then
--- opts.check(new_id) (-> true | nil, why) must accept it, else the new one is removed and the old
--- one renamed back and started. The old one is removed last (never its volumes). This is what
--- docker-compose does when an image changed; opsh reads no compose file, so a changed compose
--- definition is not applied. opts.env = {NAME = value} changes those variables of the new
--- container's environment (the rest kept), as a changed .env would on `docker compose up -d`.
--- Returns {id, old_id, name, image} or nil, err (err.rolled_back).
---@param id string
---@param opts? {image?: string, timeout?: number, env?: table<string, string>, check?: fun(id: string): boolean|nil, string?}
---@return table|nil result, table? err
function client:recreate(id, opts) end

return docker
