---@meta
--- Running a program where no API exists (systemctl, journalctl, apt: docs/ARCHITECTURE.md §4):
--- `local sys = require "opsh.sys"`. Procedures never use it for what an opsh module does
--- (docker, redis-cli, curl, tar, df, ps...).
local sys = {}

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
