-- JSON number exactness: decode -> encode -> decode, under opsh (opsh.json) and
-- lua5.4 (Debian's lua-cjson). Run both side by side with Benchmarks/json_exact.sh,
-- or alone:  opsh Benchmarks/json_exact.lua   |   lua5.4 Benchmarks/json_exact.lua
-- Exact means the number after the round trip is the same number as the input text:
-- integer texts keep every digit, float texts give the same double (and the sign of -0.0).
local ok, json = pcall(require, "opsh.json")
local impl = "opsh.json"
if not ok then json = require("cjson"); impl = "lua-cjson " .. (json._VERSION or "") end

local inputs = {
  "9223372036854775807",   -- Int64 max = 2^63-1
  "-9223372036854775808",  -- Int64 min
  "9007199254740991",      -- 2^53-1
  "9007199254740992",      -- 2^53
  "9007199254740993",      -- 2^53+1
  "-9007199254740993",     -- -(2^53+1)
  "9223372036854775808",   -- 2^63 (just above Int64 max)
  "18446744073709551615",  -- u64 max (a Qdrant point id)
  "12345678901234567890",  -- u64 id above Int64 max
  "0.1",
  "0.3333333333333333",    -- 1/3
  "1e300",
  "5e-324",                -- smallest subnormal
  "2.2250738585072014e-308", -- smallest normal
  "-0.0",
  "1.7976931348623157e308", -- largest double
  "123456789.123456789",
  "0.30000000000000004",   -- 0.1+0.2
  "1.0",
}

local function isint(t) return not t:find("[%.eE]") end

-- the decimal digits of an integral value, whatever the library handed back
local function digits(v)
  if type(v) == "table" or type(v) == "userdata" then return tostring(v) end
  if math.type(v) == "integer" then return tostring(v) end
  if v ~= v or v == math.huge or v == -math.huge or v ~= math.floor(v) then return nil end
  return string.format("%.0f", v)
end

local function same(t, v)
  if isint(t) then return digits(v) == t end
  if type(v) ~= "number" then return false end
  local want = tonumber(t)
  if v ~= want then return false end
  if want == 0 then return (1 / v) == (1 / want) end  -- sign of zero
  return true
end

local function enc(v)
  local ok, s = pcall(json.encode, v)
  if not ok then return nil, tostring(s) end
  return s
end

local lossy = 0
print(string.format("%-24s %-26s %-30s %s", impl .. ": input", "encode(decode(input))", "after decode->encode->decode", "exact"))
for _, t in ipairs(inputs) do
  local v1 = json.decode("[" .. t .. "]")
  local s, err = enc(v1)
  local v2 = s and json.decode(s)
  local exact = v2 ~= nil and same(t, v1[1]) and same(t, v2[1])
  local shown
  if v2 == nil then shown = "error: " .. tostring(err)
  elseif isint(t) or type(v2[1]) ~= "number" then shown = digits(v2[1]) or tostring(v2[1])
  else shown = string.format("%.17g", v2[1]) end
  if not exact then lossy = lossy + 1 end
  print(string.format("%-24s %-26s %-30s %s", t, s and s:sub(2, -2) or "-", shown, exact and "exact" or "LOSSY"))
end
print(string.format("%s: %d of %d inputs lossy", impl, lossy, #inputs))
