-- The guide's quarterly maintenance window ("Security patches and major updates"; Maintenance
-- Procedures / Maintenance Windows): the guide names the window and its work, no script. Its
-- steps, in order, with a report per step (step.N) after each step's own checks:
--   1. security patches: maintenance/packages (what apt lists as upgradable, security updates
--      apart; opsh upgrades no package: `apt upgrade` needs root and the mirrors, and is the
--      operator's in the window)
--   2. security configuration: security/config-audit (Redis, Qdrant, .env, compose, containers)
--   3. certificates: security/tls (files and endpoints of the configuration, 30/7 days)
--   4. major updates: services/update-images (the images the compose file names pulled, the
--      containers whose image changed recreated, health-checked, rolled back on failure). A
--      major version is chosen by editing the compose file's image tag before the window: opsh
--      applies what the compose file names, it never picks a version itself.
-- Runs in the quarterly window (first Sunday of January, April, July and October, 01:00-04:00)
-- or with --force. A step that cannot run is UNKNOWN and the next one still runs. Destructive:
-- step 4 recreates containers (--yes, or a prompt). --dry-run changes nothing.
local procedure = require "opsh.procedure"

return {
  description = "Quarterly maintenance: security patches, security configuration audit, certificates, major image updates; a report per step",
  categories = { "maintenance", "quarterly", "destructive" },
  window = "quarterly",
  guide = { "maintenance-windows.4" },
  args = {
    { name = "skip", type = "list", help = "steps to leave out: security, audit, tls, images" },
  },
  run = function(args, ctx)
    local steps = {
      { key = "security", title = "1. Security patches", name = "maintenance/packages" },
      { key = "audit", title = "2. Security configuration audit", name = "security/config-audit" },
      { key = "tls", title = "3. Certificates", name = "security/tls" },
      { key = "images", title = "4. Major updates (images)", name = "services/update-images" },
    }
    procedure.steps(steps, ctx, { skip = args.skip, allow_changes = true })
  end,
}
