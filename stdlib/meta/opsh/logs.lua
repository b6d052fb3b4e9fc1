---@meta
--- The log scanner (Sources/LogScan): `local logs = require "opsh.logs"`. One native pass over
--- access logs (nginx/Apache combined format, with nginx's `$request_time` when the line ends
--- with it) or any text log: top clients, status codes, paths, clients with many status-200
--- requests, response-time percentiles, and named pattern sets counted with the last matching
--- lines, within a time window read from the lines' own timestamps. Rotated (`.1`) and gzipped
--- (`.gz`, recognised by content) files are read as they are; memory does not grow with the
--- file; large files are cut at line boundaries across all cores.
---
--- Bad input is never an error: malformed lines are counted (`malformed`) and skipped, lines
--- longer than `max_line` are skipped, binary data, empty files, truncated gzip streams, files
--- that grow, are cut shorter or are rotated while read, directories, FIFOs, unreadable or
--- missing files each add a `problems` entry naming the file (and the line), and the rest is
--- reported.
---
--- The guide's greps as sets:
---   sql (security / access log analysis, `grep -E "(union|select|insert|update|delete|drop)"`):
---     {words = {"union", "select", "insert", "update", "delete", "drop"}}  -- exactly grep's answer
---     add word = true, ignore_case = true for whole words in any case (fewer false positives)
---   errors (log analysis, `grep -c "ERROR"`): {regex = "ERROR"}
---   performance: {regex = "(timeout|slow|high_latency)"}; security: {regex = "(unauthorized|forbidden|attack)"}
---   failed authentication (daily security check): {words = {"authentication failed", "Failed password"}}
local logs = {}

--- A named pattern set: words (literal strings; `word = true`: only as whole words) or a POSIX
--- extended regular expression (grep -E; an alternation of literals runs without a regex engine).
---@class opsh.logs.set
---@field words? string[]
---@field word? boolean
---@field regex? string
---@field ignore_case? boolean

---@class opsh.logs.options
---@field format? "access"|"plain" access: combined-format access log; plain (default): any text, sets only
---@field since? integer Unix seconds (time.since("24h")); lines before are counted in `outside` only
---@field until? integer Unix seconds, exclusive
---@field top? integer top clients and paths (default 10)
---@field threshold? integer report clients with more than N status-200 requests (`clients`)
---@field paths? boolean count paths (default true)
---@field sets? table<string, opsh.logs.set>
---@field samples? integer last matching lines kept per set (default 10)
---@field sample_bytes? integer a sample line is cut there (default 1024)
---@field threads? integer default: the cores
---@field max_line? integer longer lines are skipped and reported (default 1 MiB)
---@field max_keys? integer distinct clients/paths tracked (default 200000; beyond: untracked_ips)
---@field time_scale? number milliseconds per unit of the response-time field (default 1000: seconds)
---@field span? boolean record first_time/last_time without a window
---@field times? boolean read the response time of each access line for response_times (default true; false reads less of every line)

---@class opsh.logs.problem
---@field file string
---@field line? integer
---@field message string
---@field text string "file:line: message"

---@class opsh.logs.sample
---@field file string
---@field line integer
---@field text string

---@class opsh.logs.report
---@field lines integer every line read
---@field malformed integer lines skipped (not in the format, too long)
---@field outside integer lines outside the time window
---@field bytes integer
---@field first_time? integer Unix seconds of the earliest line counted (with since/until/span)
---@field last_time? integer
---@field files {path: string, lines: integer, bytes: integer, malformed: integer, outside: integer, gzip: boolean, readable: boolean, first_time?: integer, last_time?: integer, sets: table<string, integer>}[]
---@field sets table<string, {count: integer, samples: opsh.logs.sample[]}> lines matching each set; the last matches, oldest first
---@field problems opsh.logs.problem[]
---@field top_ips? {ip: string, count: integer}[] access: most requests first (ties: greater address first, as sort -nr)
---@field distinct_ips? integer
---@field untracked_ips? integer requests of clients beyond max_keys
---@field statuses? {status: integer, count: integer}[] most frequent first
---@field status_counts? table<integer, integer> status -> count
---@field top_paths? {path: string, count: integer}[] without query strings
---@field clients? {ip: string, count: integer}[] clients above `threshold` status-200 requests, most first
---@field response_ms? {count: integer, mean: number, p50: integer, p90: integer, p95: integer, p99: integer, max: integer}

--- Scans log files: `files` is a path, a glob (`/var/log/nginx/access.log*`: rotated and gzipped
--- ones too) or a list of them. Runs on threads of its own: inside a task, other tasks run.
--- Returns nil, err only for a bad regular expression (code "pattern").
---@param opts opsh.logs.options|{files: string|string[]}
---@return opsh.logs.report|nil, table? err
function logs.scan(opts) end

--- Scans text held in memory (a program's output) as one file called `name`.
---@param name string
---@param text string
---@param opts? opsh.logs.options
---@return opsh.logs.report|nil, table? err
function logs.scan_text(name, text, opts) end

---@class opsh.logs.feeder
local feeder = {}
--- Adds text (any number of whole or partial lines).
---@param text string
function feeder:feed(text) end
--- Ends the text (a last line without newline counts) and returns the report; once.
---@return opsh.logs.report
function feeder:report() end

--- A scanner fed piece by piece, e.g. with a container's log lines:
--- `local f = logs.feeder("api", {sets = ...}); for line in d:logs("api", {since = "24h"}) do f:feed(line .. "\n") end; local r = f:report()`.
---@param name string
---@param opts? opsh.logs.options
---@return opsh.logs.feeder|nil, table? err
function logs.feeder(name, opts) end

---@class opsh.logs.journal_report
---@field entries integer
---@field malformed integer lines that were not JSON entries
---@field priorities table<string, integer> "err" = 3, ... (names as journalctl's)
---@field units {unit: string, count: integer}[] _SYSTEMD_UNIT, else SYSLOG_IDENTIFIER, else _COMM; most first
---@field sets table<string, {count: integer, samples: opsh.logs.sample[]}> matched on MESSAGE; line = the output's line
---@field last {time: number, priority?: integer, unit: string, message: string}[] the last `keep` entries
---@field first_time? number Unix seconds
---@field last_time? number
---@field problems opsh.logs.problem[]

--- Reads `journalctl -o json` output (run it with opsh.sys.exec, read_only = true:
--- `{"journalctl", "--since", "24 hours ago", "--priority=err", "-o", "json", "--no-pager"}`,
--- or `--file F` for a journal file). Debian 12 keeps sshd's failures only in the journal.
---@param text string
---@param opts? {name?: string, sets?: table<string, opsh.logs.set>, keep?: integer} keep: last entries and samples (default 20)
---@return opsh.logs.journal_report|nil, table? err
function logs.journal(text, opts) end

return logs
