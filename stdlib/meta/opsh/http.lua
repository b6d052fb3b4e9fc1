---@meta
--- HTTP on libcurl (opened on first use), on opsh's event loop: `local http = require "opsh.http"`.
--- Requests inside tasks run concurrently (opsh.all{...}). TLS is verified unless
--- insecure = true. Idempotent requests (GET, HEAD, OPTIONS, PUT, DELETE) are tried again
--- after a connection failure, a timeout or a 502/503/504, with backoff (retries, default 2),
--- as long as the call's timeout leaves time: it bounds the whole call, retries included.
--- Failures return nil, err: err.code is "connect", "timeout", "tls", "too_large", "file", "checksum",
--- "transfer", "unavailable", or "http_status" for a status outside 2xx (err.status and
--- err.body then hold the answer; allow_status = true returns the response instead).
--- Under --dry-run, methods other than GET/HEAD/OPTIONS are not sent unless read_only = true
--- (an API's reads made with POST, such as Qdrant's points/query): the call returns
--- {dry_run = true, would = "POST ..."} and adds "would: ..." to the report. Passwords in URLs never reach a message.
local http = {}

---@class http.options
---@field headers? table<string, string>
---@field body? string the request body
---@field json? any encoded with opsh.json as the body (Content-Type: application/json)
---@field timeout? number total seconds for the call, every retry and wait included (default 30)
---@field connect_timeout? number seconds (default 5)
---@field unix_socket? string connect to this socket (the Docker Engine API)
---@field insecure? boolean do not verify TLS
---@field ca_file? string CA bundle for TLS
---@field output? string stream the body into this file (written as .partial, renamed when complete; SHA-256 computed on the way)
---@field upload? string stream the request body from this file
---@field multipart? {field: string, filename?: string} send `upload` as this one file field of a multipart/form-data body (still streamed; filename defaults to the file's base name)
---@field sha256? string hex SHA-256 the `output` download must have: a mismatch fails with err.code "checksum" and leaves no file
---@field max_bytes? integer largest body kept in memory (default 256 MiB)
---@field retries? integer tries after the first, for idempotent requests (default 2)
---@field allow_status? boolean return responses of any status
---@field read_only? boolean this request changes nothing (for --dry-run)
---@field progress? boolean show progress on stderr when it is a terminal

---@class http.response
---@field status integer
---@field headers table<string, string> names lower-cased
---@field body string
---@field json any the decoded body when the Content-Type is JSON
---@field json_error string why a JSON body did not decode
---@field bytes integer bytes received
---@field sha256 string hex SHA-256 of a body streamed to `output`
---@field seconds number

--- A request: {method = "GET", url = "...", ...options}.
---@param opts http.options|{method?: string, url: string}
---@return http.response|nil, table? err
function http.request(opts) end

---@param url string
---@param opts? http.options
---@return http.response|nil, table? err
function http.get(url, opts) end
---@return http.response|nil, table? err
function http.head(url, opts) end
---@return http.response|nil, table? err
function http.post(url, opts) end
---@return http.response|nil, table? err
function http.put(url, opts) end
---@return http.response|nil, table? err
function http.patch(url, opts) end
---@return http.response|nil, table? err
function http.delete(url, opts) end

--- A value percent-encoded as one URL component (RFC 3986: all but letters, digits and -._~),
--- so it is one path segment or one query value whatever it holds; numbers as their text.
---@param value string|number
---@return string
function http.urlencode(value) end

--- A query string without its "?": key=value pairs, sorted by key, both encoded; booleans as
--- true/false; nil values left out.
---@param params table<string, string|number|boolean>
---@return string
function http.query(params) end

return http
