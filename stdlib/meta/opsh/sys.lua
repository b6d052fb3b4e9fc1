---@meta
--- The machine, read natively from /proc, statvfs and the system resolver (what `top`, `free`,
--- `df`, `uptime`, `ps`, `ss -ltnpx`, `nslookup` and `nc -z` show), and running a program where
--- no API exists (systemctl, journalctl, apt: docs/ARCHITECTURE.md §4):
--- `local sys = require "opsh.sys"`. Procedures never run a program for what an opsh module
--- does (docker, redis-cli, curl, tar, df, ps...).
--- Failures of the outside world return nil, err (err.code, err.message). The calls that
--- measure over an interval (cpu, processes by CPU) and resolve/connect are native waits:
--- inside a task, other tasks run meanwhile, so `opsh.all{function() return sys.cpu() end,
--- function() return sys.processes() end}` measures both over the same interval.
local sys = {}

---@class opsh.sys.cpu_share
---@field busy number % of the time not idle (iowait counts as idle, as in top)
---@field user number % in user mode (nice included)
---@field system number % in the kernel (irq and softirq included)
---@field iowait number
---@field steal number % taken by the hypervisor
---@field idle number

---@class opsh.sys.measured
---@field interval number the seconds measured
---@field source "agent sample"|"interval" since the agent's sample in `since` (no wait), or over the call's own interval
---@field sample_unused? string why the samples found in `since` were not used ("cpu-sample.0 is 40.0 s old (over 15.0 s)": the agent stopped; another boot; a container's sampler); absent when `since` held none

---@class opsh.sys.cpu: opsh.sys.cpu_share, opsh.sys.measured
---@field cores (opsh.sys.cpu_share|{id: integer})[] each core, by its number

--- CPU utilisation over an interval, for all cores together and each core: two readings of
--- /proc/stat `interval` seconds apart (default 0.2). With `since`, the directory of the opsh
--- agent's CPU samples (state_dir/cpu, written every agent_cpu_sample_interval seconds:
--- docs/agent.md "CPU samples"), the first reading is the newest sample there of this boot and
--- pid namespace that is at least 1 s and at most `max_age` seconds old (default 15): no wait,
--- and the interval is the time since that sample; without one, the call's own interval.
---@param opts? {interval?: number, since?: string, max_age?: number}
---@return opsh.sys.cpu|nil, table? err
function sys.cpu(opts) end

--- Memory and swap from /proc/meminfo, in bytes. `used` is total - available (MemAvailable:
--- what the kernel can give without swapping), so caches are not counted as used.
---@return {total: integer, available: integer, used: integer, used_percent: number, free: integer, buffers: integer, cached: integer, shared: integer, swap_total: integer, swap_free: integer, swap_used: integer, swap_used_percent: number}|nil, table? err
function sys.memory() end

---@class opsh.sys.disk
---@field mount string where it is mounted
---@field source string the device or remote ("/dev/vda", "server:/export")
---@field type string "ext4", "xfs", "overlay", "nfs4"...
---@field device string "major:minor"
---@field read_only boolean
---@field total integer bytes
---@field free integer bytes free (root's reserve included)
---@field available integer bytes available to non-root users
---@field used integer
---@field used_percent number used / (used + available), as df computes it
---@field inodes integer
---@field inodes_free integer
---@field inodes_used_percent number

--- Every mounted filesystem (/proc/self/mountinfo and statvfs) except pseudo ones (proc, sysfs,
--- tmpfs, devtmpfs, cgroup, squashfs...: what holds no data of its own on a disk), each
--- device once: a bind mount of a filesystem already listed is left out.
---@return opsh.sys.disk[]|nil, table? err
function sys.disks() end

--- The load averages (/proc/loadavg), the CPUs online and the 1-minute load per CPU.
---@return {load1: number, load5: number, load15: number, cores: integer, per_core: number, running: integer, tasks: integer}|nil, table? err
function sys.load() end

--- Seconds since boot, and the boot time (Unix time).
---@return {seconds: number, boot_time: number}|nil, table? err
function sys.uptime() end

---@class opsh.sys.process
---@field pid integer
---@field ppid integer
---@field user string
---@field name string the kernel's name for it (comm)
---@field command string the command line, arguments joined by spaces ("[name]" for a kernel thread)
---@field state string "R", "S", "D", "Z"...
---@field cpu_percent? number % of one CPU over the interval (200 = two cores); only when sorted by CPU
---@field rss integer resident memory, bytes
---@field memory_percent number rss of MemTotal

--- The top processes: by CPU (two readings of every /proc/PID/stat `interval` seconds apart,
--- default 0.2: as top's %CPU; or, with `since` and `max_age`, since the agent's sample as
--- sys.cpu does, a process started since counted from its start) or by resident memory (one
--- reading). Default sort "cpu", top 10. By CPU the second value says how it was measured.
---@param opts? {sort?: "cpu"|"memory", top?: integer, interval?: number, since?: string, max_age?: number}
---@return opsh.sys.process[]|nil, opsh.sys.measured|table|nil measured_or_err
function sys.processes(opts) end

--- The listening sockets: TCP over IPv4 and IPv6 (/proc/net/tcp, tcp6) and unix stream sockets
--- (/proc/net/unix), with the owning process (pid, process) where this user may read its
--- /proc/PID/fd (other users' processes need root). For unix sockets `address` is the path
--- ("@name" for an abstract one) and there is no port.
---@return {proto: "tcp"|"tcp6"|"unix", address: string, port?: integer, inode: integer, uid?: integer, pid?: integer, process?: string}[]
function sys.listening() end

--- Resolves a name with the system resolver (getaddrinfo: /etc/hosts, DNS), timed. Runs on a
--- thread while the task waits. Failures: code "not_found", "temporary", "resolve", "timeout".
---@param host string
---@param opts? {timeout?: number} seconds (default 5)
---@return {host: string, addresses: string[], seconds: number}|nil, table? err
function sys.resolve(host, opts) end

--- Whether `host:port` accepts a TCP connection, timed: resolves the name, then a non-blocking
--- connect to each address in turn until one answers; the connection is closed at once, nothing
--- is sent. One deadline for both (default 5 s). Failures: code "refused", "timeout",
--- "unreachable", "not_found", "connect", with err.address and err.seconds.
---@param host string
---@param port integer
---@param opts? {timeout?: number}
---@return {connected: true, address: string, seconds: number, resolve_seconds: number}|nil, table? err
function sys.connect(host, port, opts) end

--- Runs `argv[1]` (looked up in PATH) with the arguments as they are: no shell, stdin from
--- /dev/null. stdout and stderr are kept in memory up to max_bytes each (a program that writes
--- much more gets write errors; `truncated` says so). The wait is a native wait: inside a task,
--- other tasks run meanwhile. At the timeout the program is killed (SIGKILL) and the call
--- returns nil, err (code "timeout", err.stdout/err.stderr hold what it wrote).
--- A non-zero exit is not a failure: look at status (or signal, when a signal ended it).
--- Failures: code "not_found" (no such program), "denied", "spawn", "timeout".
--- Under --dry-run the program is not run unless read_only = true (it changes nothing, e.g.
--- `systemctl show`): the call adds "would: run ..." to the report and returns {dry_run = true, would = "run ..."}.
---@param argv string[]
---@param opts? {timeout?: number, max_bytes?: integer, read_only?: boolean, env?: string[], cwd?: string} timeout in seconds (default 10); max_bytes (default 1 MiB); env: the whole environment as "K=V" strings
---@return {status?: integer, signal?: integer, stdout: string, stderr: string, truncated: boolean}|nil, table? err
function sys.exec(argv, opts) end

-- upgradable packages (security updates) ------------------------------------------------------

---@class sys.upgradable_package
---@field name string
---@field suites string[] where the new version comes from ("bookworm-security", "stable-updates")
---@field version string the new version
---@field architecture string
---@field installed_version string|nil
---@field security boolean whether a suite is a security one ("*-security"): the guide's `grep -i security`

--- The packages apt would upgrade: `apt list --upgradable` (under LC_ALL=C) parsed, security
--- ones marked from their suite. Read-only (it also runs under --dry-run); the lists are what
--- the last `apt update` fetched. Lines that are neither packages nor apt's chatter are in
--- `unparsed`. Failures: "not_found" (no apt), "spawn" (apt failed: its stderr), "timeout".
---@param opts? {timeout?: number} seconds (default 60)
---@return {packages: sys.upgradable_package[], total: integer, security: integer, unparsed: string[]}|nil, table? err
function sys.upgradable_packages(opts) end

return sys
