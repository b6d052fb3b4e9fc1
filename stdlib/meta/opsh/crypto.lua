---@meta
--- Hashes, random bytes and safe comparison: `local crypto = require "opsh.crypto"`.
--- SHA-256 comes from libcrypto (opened on first use); random bytes from its CSPRNG
--- (RAND_bytes), or the kernel's when libcrypto is missing.
local crypto = {}

--- SHA-256 of data, 32 raw bytes (nil, err if libcrypto cannot be loaded).
---@param data string
---@return string|nil digest, table? err
function crypto.sha256(data) end

--- SHA-256 of data as 64 lower-case hex digits.
---@param data string
---@return string|nil hex, table? err
function crypto.sha256_hex(data) end

--- n random bytes from a CSPRNG (0 <= n <= 1 MiB).
---@param n integer
---@return string
function crypto.random_bytes(n) end

--- n random bytes as 2n hex digits: the guide's `openssl rand -hex 32` is crypto.random_hex(32).
---@param n integer
---@return string
function crypto.random_hex(n) end

--- SHA-256 of a file as 64 hex digits, read in 1 MiB pieces (any size, constant memory).
--- A file that cannot be read returns nil, err (err.code "file").
---@param path string
---@return string|nil hex, table? err
function crypto.sha256_file(path) end

--- Lower-case hex of bytes.
---@param bytes string
---@return string
function crypto.hex(bytes) end

--- Whether a and b are equal, in a time that depends only on their lengths (for secrets).
---@param a string
---@param b string
---@return boolean
function crypto.constant_time_equal(a, b) end

return crypto
