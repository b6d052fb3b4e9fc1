---@meta
--- What Qdrant's OpenAPI spec (v1.19.0, compiled into opsh) says of a request:
--- `local spec = require "opsh.qdrant.spec"`. opsh.qdrant uses it for every call.
local spec = {}

--- "1.19.0"
spec.version = "1.19.0"

--- The route that serves method and path (query string ignored), or nil when the spec has none
--- (the guide's POST /collections/{c}/optimize, GET /health). read is true for GETs and for the
--- POSTs that only read (points/query, count, scroll, facet, ...): what --dry-run lets through.
---@param method string
---@param path string
---@return {operation: string, template: string, read: boolean, body?: string}|nil
function spec.route(method, path) end

--- What is wrong with a JSON body as an instance of a schema of the spec (e.g.
--- "UpdateCollection"): unknown fields (which Qdrant would silently ignore), types, nulls,
--- enums, required fields, integer formats and ranges. Empty when the body fits.
---@param schema string a name in #/components/schemas
---@param json string the body as JSON text
---@return string[] errors "path: message"
function spec.validate(schema, json) end

return spec
