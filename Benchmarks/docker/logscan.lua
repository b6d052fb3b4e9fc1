-- opsh's side of the log scan: error lines (case-insensitive "error") in the logs of the given
-- containers, all read at once; prints the count (the same as `docker logs | grep -ci error`).
-- OPSH_LOG_SOURCE=api reads through the engine's /logs endpoint instead of the local json-file log.
local docker = require "opsh.docker"
local opsh = require "opsh"
local d = assert(docker.connect())
local source = os.getenv("OPSH_LOG_SOURCE")
local fns = {}
for i, name in ipairs(arg) do
  fns[i] = function()
    local n = 0
    for _ in d:logs(name, { match = "error", ignore_case = true, source = source }) do n = n + 1 end
    return n
  end
end
local total = 0
for _, n in ipairs { opsh.all(fns) } do total = total + n end
print(total)
