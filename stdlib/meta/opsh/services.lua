---@meta
--- The stack's services as the service procedures (lua/services/) see them: which services there
--- are, which containers run each, their limits and how to reach them.
--- `local services = require "opsh.services"`.
---
--- A service is found by docker-compose's label com.docker.compose.service (optionally within one
--- project, com.docker.compose.project); a stack started without compose is found by container
--- name. Configuration (config.lua): `services` (names, default qdrant, dragonfly, task-worker),
--- `compose_project`, `service_limits` (per service: memory, cpus, memory_reservation; default the
--- guide's deploy.resources), `service_ports`.
local services = {}

---@type string[] the guide's services
services.DEFAULT = {}
---@type table<string, {memory: string, cpus: number, memory_reservation: string}> the guide's deploy.resources
services.GUIDE_LIMITS = {}
---@type table<string, integer> where each service listens on the host
services.DEFAULT_PORTS = {}

--- The services to act on: the argument (a list or one name; "all" or empty means all), else
--- config `services`, else the guide's.
---@param arg? string|string[]
---@return string[]
function services.names(arg) end

--- The compose project to act on, or nil, err: the argument, else config `compose_project`, else
--- the project docker-compose started from the compose file (services.compose_file()), else the
--- only compose project on the host. Several projects and nothing to tell them apart is refused
--- (err.code "ambiguous"), so that an action never reaches another project's containers. nil
--- without an error: no compose project runs here (services are then found by container name).
---@param arg? string
---@param d table an opsh.docker client
---@return string|nil project, table? err
function services.project(arg, d) end

--- The compose file the stack runs from: config `compose_file`, else docker-compose.yml in the
--- current directory.
---@return string
function services.compose_file() end

--- The application's environment file: `configured` when given, else the .env docker-compose
--- reads beside the compose file; nil when there is none.
---@param configured? string
---@return string|nil
function services.env_file(configured) end

--- The compose projects with containers on this host: {name = {config_files = {paths}}}, or nil, err.
---@return table|nil projects, table? err
function services.compose_projects(d) end

--- The limits a service should have: config service_limits[service], else the guide's.
---@return table|nil
function services.limits(service) end

--- The host port of a service: config service_ports[service], else the stack's default.
---@return integer|nil
function services.port(service) end

--- An opsh.docker client, or nil, err (a missing daemon says so in one line).
function services.connect(opts) end

--- A container's name (from a list entry or an inspect document), without the leading "/".
---@return string
function services.name_of(container) end

--- The containers of one service (all states), by label, else by exact name; nil, err on failure.
function services.containers(d, service, project) end

--- Every service with its containers, looked up concurrently:
--- { {service =, containers =, err =}, ... } in the order of names.
function services.resolve(d, names, project) end

--- Runs action(container, name) concurrently for every container of the services named by
--- `service` (one name, or nil for all) in `project`; a service that cannot be looked up or has no
--- container is reported CRITICAL as `check.SERVICE` (with `hint` appended to the message).
---@param action fun(container: table, name: string)
function services.each_container(d, ctx, check, service, project, action, hint) end

--- Seconds since an engine timestamp ("2026-11-29T05:31:02.123456789Z"), or nil for none.
---@return number|nil
function services.age(ts) end

--- One line about a container from its inspect document (state, health, uptime, restarts) and
--- its metrics {running, restarts, uptime_s, healthy}.
---@return string, table
function services.describe(info) end

--- Waits until a container runs and, if it has a health check, is healthy: true, or nil, why.
---@param timeout? number seconds (default 60)
---@return boolean|nil, string? why
function services.wait_healthy(d, id, timeout) end

--- The containers of the services `names` in `project`, as {service =, c = container} in the
--- order of names, and the names with no container; nil, err when one cannot be looked up.
---@return {service: string, c: table}[]|nil list, string[]|table none_or_err
function services.containers_of(d, names, project) end

--- Recreates each container of `list` (as containers_of gives it) with `env` ({NAME = value}
--- changed, the rest kept), each waited for until it runs and is healthy, else put back as it
--- was. Stops at the first that fails. Returns the ones recreated and the failure or nil.
---@return {service: string, id: string, name: string}[] done, {service: string, name: string, err: any}|nil failed
function services.recreate_with_env(d, list, env, timeout) end


return services
