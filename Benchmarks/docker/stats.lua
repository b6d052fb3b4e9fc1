-- opsh's side of the stats benchmark: one sample for every container with the label, all at once;
-- prints "name cpu% mem%" per container (for the CPU % comparison with docker stats).
local docker = require "opsh.docker"
local d = assert(docker.connect())
local label = arg[1] or "opsh.bench=1"
local list = assert(d:containers { label = label })
local ids = {}
for i, c in ipairs(list) do ids[i] = c.Id end
local st, errs = d:stats(ids)
assert(next(errs) == nil, "stats failed")
for _, s in ipairs(st) do print(s.name, string.format("%.2f", s.cpu_percent), string.format("%.2f", s.memory_percent)) end
