---@meta
--- Where opsh keeps what must outlive one run: `local state = require "opsh.state"`.
--- The configured `state_dir` (OPSH_STATE_DIR), else ~/.local/state/opsh.
local state = {}

--- The state directory, or its subdirectory `sub` ("incidents", "diagnostics", ...);
--- created with mode 0700 (and its parents) when `create` is true; raises if it cannot be.
---@param sub? string
---@param create? boolean
---@return string
function state.dir(sub, create) end

return state
