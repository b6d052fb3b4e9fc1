-- opsh's side of Benchmarks/docker/run.sh: list the containers with a label, inspect them all
-- (concurrently), print how many and a checksum of their names so the peers can be compared.
local docker = require "opsh.docker"
local d = assert(docker.connect())
local label = arg[1] or "opsh.bench=1"
local list = assert(d:containers { label = label })
local ids = {}
for i, c in ipairs(list) do ids[i] = c.Id end
local infos, errs = d:inspect_all(ids)
local n = 0
for _, id in ipairs(ids) do if infos[id] and infos[id].State then n = n + 1 end end
assert(next(errs) == nil, "inspect failed")
print(n)
