--- opsh.state: where opsh keeps what must outlive one run (incident records, diagnostics,
--- history, a failover in force): the configured state_dir (OPSH_STATE_DIR; its default,
--- ~/.local/state/opsh, is set by the engine's configuration).
local config = require "opsh.config"
local fs = require "opsh.fs"

local M = {}

--- The state directory, or its subdirectory `sub`; created (0700) when `create` is true.
function M.dir(sub, create)
  local d = config.get("state_dir")
  if type(d) ~= "string" or d == "" then error("state_dir is not set (OPSH_STATE_DIR, or state_dir in config.lua)", 0) end
  if sub then d = d .. "/" .. sub end
  if create then
    local ok, err = fs.mkdir(d, tonumber("700", 8))
    if not ok then error("cannot create state directory " .. d .. ": " .. tostring(err), 0) end
  end
  return d
end

return M
