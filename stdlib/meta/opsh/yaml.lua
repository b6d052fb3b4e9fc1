---@meta
--- YAML syntax checks: `local yaml = require "opsh.yaml"`. libyaml (YAML 1.1) is opened on
--- first use; every document in the text is parsed (nothing is built).
local yaml = {}

--- Checks text: {documents = n}, or nil, err with err.line and err.column (1-based) and a
--- message naming the problem ("line 3, column 1: did not find expected key while parsing a
--- block mapping (line 1)").
---@param text string
---@return {documents: integer}|nil result, table? err
function yaml.check(text) end

return yaml
