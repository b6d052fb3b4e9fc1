---@meta
--- Clocks, durations and timestamps: `local time = require "opsh.time"`.
local time = {}

--- Wall-clock time in seconds since the Unix epoch (with fractions).
---@return number
function time.now() end

--- A monotonic clock in seconds, for measuring durations.
---@return number
function time.monotonic() end

--- Parses a duration: 90, "30s", "15m", "24h", "7d", "1w", "1h30m", "500ms"; raises on a malformed one.
---@param d string|number
---@return number seconds
function time.duration(d) end

--- Formats a Unix time as ISO 8601 in UTC: "2026-11-29T03:04:20Z".
---@param t? number default now
---@param fraction_digits? integer 0..9
---@return string
function time.iso(t, fraction_digits) end

--- Parses ISO 8601 ("2026-11-29", "2026-11-29T03:04:20.5Z", "...+01:00") to a Unix time, or nil, err.
---@param s string
---@return number|nil, table? err
function time.parse_iso(s) end

--- The Unix time that long ago: time.since("24h").
---@param d string|number
---@return number
function time.since(d) end

--- Formats seconds for a person: 3725 -> "1h2m5s", 0.25 -> "250ms".
---@param seconds number
---@return string
function time.format_duration(seconds) end

return time
