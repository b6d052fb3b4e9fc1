-- Temporary-file cleanup (the evening checklist's "Clean up temporary files"): regular files
-- older than --older_than under the directories the stack uses for temporary files (config
-- temp_dirs, a list, or --dirs). Only files are deleted, never directories, sockets or links,
-- and only inside those directories: nothing is configured by default, because a system
-- directory such as /tmp holds other programs' files (say which ones are the stack's).
-- --dry-run lists what would go.
local config = require "opsh.config"
local fs = require "opsh.fs"

local function configured()
  local ok, v = pcall(config.get, "temp_dirs")
  if ok and type(v) == "table" then return v end
  return {}
end

return {
  description = "Deletes the stack's temporary files older than a duration from the configured temp_dirs (files only)",
  categories = { "maintenance", "cleanup", "destructive" },
  guide = { "daily-tasks.10" },
  args = {
    { name = "dirs", type = "list", help = "directories to clean (default: config temp_dirs)" },
    { name = "older_than", default = "7d", help = "delete files last modified longer ago than this" },
    { name = "name", default = "*", help = "only files whose name matches this pattern" },
  },
  run = function(args, ctx)
    local dirs = args.dirs or configured()
    if #dirs == 0 then
      return ctx:ok("temp", "no temporary directories configured (temp_dirs, or --dirs): nothing cleaned")
    end
    for _, dir in ipairs(dirs) do
      local check = "temp." .. dir
      if not fs.exists(dir) then
        ctx:ok(check, dir .. " does not exist: nothing to clean")
      else
        local found, err = fs.find(dir, { type = "file", older_than = args.older_than, name = args.name })
        if not found then
          ctx:crit(check, "cannot search " .. dir .. ": " .. tostring(err))
        else
          local deleted, bytes, failed = 0, 0, {}
          for _, f in ipairs(found) do
            local r, derr = fs.delete(f.path)
            if r then deleted = deleted + 1; bytes = bytes + (f.size or 0)
            else failed[#failed + 1] = f.path .. ": " .. tostring(derr) end
          end
          local verb = ctx.dry_run and "would delete" or "deleted"
          local text = string.format("%s %d file(s) older than %s (%.1f MiB)", verb, deleted, args.older_than, bytes / 1048576)
          if #failed > 0 then
            ctx:warn(check, text .. "; not deleted: " .. table.concat(failed, "; "), { deleted = deleted, bytes = bytes, failed = #failed })
          else
            ctx:ok(check, text, { deleted = deleted, bytes = bytes })
          end
        end
      end
    end
  end,
}
