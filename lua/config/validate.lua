-- Configuration validation before a deployment: YAML syntax of the configuration files (the
-- first error with its line and column, through libyaml), the variables the stack needs in .env
-- (present and not empty), and connectivity to each configured service (Redis PING, Qdrant
-- health). Reads only.
local config = require "opsh.config"
local dotenv = require "opsh.dotenv"
local fs = require "opsh.fs"
local yaml = require "opsh.yaml"


return {
  description = "Validates configuration: YAML syntax (with line numbers), required .env variables, service connectivity",
  categories = { "config", "check", "safe" },
  guide = {
    "system-configuration.1", "configuration-validation.1", "configuration-validation.2",
    "configuration-validation.3", "configuration-deployment.1",
  },
  args = {
    { name = "config_dir", default = "/app/config", help = "directory whose *.yml and *.yaml are checked" },
    { name = "files", type = "list", help = "more YAML files (e.g. docker-compose.yml)" },
    { name = "env_file", default = ".env" },
    { name = "required", type = "list", default = { "QDRANT_URL", "REDIS_URL", "OPENAI_API_KEY", "EMBEDDING_MODEL" } },
    { name = "connectivity", type = "boolean", default = true, help = "check Redis and Qdrant answer (--no-connectivity)" },
  },
  run = function(args, ctx)
    -- 1. YAML
    local files = {}
    for _, pat in ipairs { "/*.yml", "/*.yaml" } do
      for _, f in ipairs(fs.glob(args.config_dir .. pat)) do files[#files + 1] = f end
    end
    for _, f in ipairs(args.files or {}) do files[#files + 1] = f end
    table.sort(files)
    local bad = 0
    for _, f in ipairs(files) do
      local text, err = fs.read(f, 16 << 20)
      if not text then
        bad = bad + 1
        ctx:crit("config.yaml", f .. ": " .. tostring(err))
      else
        local ok, yerr = yaml.check(text)
        if not ok then
          bad = bad + 1
          ctx:crit("config.yaml", string.format("invalid YAML: %s: %s", f, tostring(yerr)), { line = yerr.line })
        end
      end
    end
    if bad == 0 then ctx:ok("config.yaml", string.format("%d YAML files are valid", #files), { files = #files }) end
    -- 2. .env
    local vars, err = dotenv.read(args.env_file)
    if not vars then
      ctx:crit("config.env", "cannot read " .. args.env_file .. ": " .. tostring(err))
      vars = {}
    else
      local missing = {}
      for _, k in ipairs(args.required) do
        if vars[k] == nil or vars[k] == "" then missing[#missing + 1] = k end
      end
      if #missing > 0 then
        ctx:crit("config.env", "missing required variables in " .. args.env_file .. ": " .. table.concat(missing, ", "), { missing = #missing })
      else
        ctx:ok("config.env", string.format("%d required variables set in %s", #args.required, args.env_file))
      end
    end
    -- 3. connectivity, to what the .env configures (else opsh's configuration)
    if not args.connectivity then return end
    local redis_url = vars.REDIS_URL or config.get("redis_url")
    if redis_url then
      local r, rerr = require("opsh.redis").connect(redis_url)
      local pong = r and r:ping()
      if r then r:close() end
      if pong then ctx:ok("config.connectivity.redis", "Redis answers at " .. redis_url:gsub("//[^@/]*@", "//***@"))
      else ctx:crit("config.connectivity.redis", "Redis does not answer at " .. redis_url:gsub("//[^@/]*@", "//***@") .. ": " .. tostring(rerr)) end
    end
    local qdrant_url = vars.QDRANT_URL or config.get("qdrant_url")
    if qdrant_url then
      local q = require("opsh.qdrant").connect { url = qdrant_url, api_key = vars.QDRANT_API_KEY }
      local h, herr = q:health()
      if h and h.ok then ctx:ok("config.connectivity.qdrant", "Qdrant answers at " .. qdrant_url)
      else ctx:crit("config.connectivity.qdrant", "Qdrant does not answer at " .. qdrant_url .. ": " .. tostring(herr or (h and h.message))) end
    end
  end,
}
