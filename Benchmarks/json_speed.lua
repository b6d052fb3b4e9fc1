-- JSON throughput inside one process, opsh.json under opsh or lua-cjson under lua5.4.
-- Usage: opsh|lua5.4 json_speed.lua FILE MODE [RUNS=7]
--   MODE decode          decode FILE RUNS times
--   MODE encode          encode the decoded FILE RUNS times
--   MODE encode-vectors  encode result.points with each point's payload removed (a top-level
--                        array of flat objects holding the 128-float vectors) RUNS times
-- Prints the median CPU time (os.clock) and MB/s (10^6 bytes of input for decode,
-- of the library's own output for encode), and a machine-readable RESULT line.
local ok, json = pcall(require, "opsh.json")
local impl = "opsh.json"
if not ok then json = require("cjson"); impl = "lua-cjson" end
local file, mode, runs = arg[1], arg[2], tonumber(arg[3] or "7")
local fh = assert(io.open(file, "rb")); local text = fh:read("a"); fh:close()

local function median(t)
  table.sort(t); local n = #t
  return n % 2 == 1 and t[(n + 1) // 2] or (t[n // 2] + t[n // 2 + 1]) / 2
end

local value = assert(json.decode(text))          -- also the warm-up
local f, bytes
if mode == "decode" then
  f, bytes = function() return json.decode(text) end, #text
else
  if mode == "encode-vectors" then
    local pts = value.result.points
    for i = 1, #pts do pts[i].payload = nil end
    value = pts
  elseif mode ~= "encode" then error("mode must be decode, encode or encode-vectors") end
  local ok, out = pcall(json.encode, value)       -- warm-up; report a failure instead of timing it
  if not ok or type(out) ~= "string" then
    print(string.format("RESULT %s %s FAILED", impl, mode))
    print(string.format("%-10s %-15s FAILED: %s", impl, mode, tostring(out)))
    os.exit(0)
  end
  f, bytes = function() return json.encode(value) end, #out
end
local times = {}
for i = 1, runs do
  collectgarbage("collect")
  local t0 = os.clock(); local r = f(); times[i] = os.clock() - t0
  assert(r); r = nil
end
local m = median(times)
print(string.format("RESULT %s %s %d %.6f", impl, mode, bytes, m))
print(string.format("%-10s %-15s %8.1f ms %8.1f MB/s  (%d bytes, median of %d)", impl, mode, m * 1e3, bytes / m / 1e6, bytes, runs))
