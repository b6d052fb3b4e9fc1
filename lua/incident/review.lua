-- The post-incident review (Incident Response / Escalation Procedures: "Post-incident
-- review"): shows an incident's record (classification, timeline, escalation, diagnostics,
-- verification) and records the lessons learned in it. Without an id, lists the incidents.
--   opsh run incident/review                              every incident, newest first
--   opsh run incident/review --id INC-... --lesson "..." --root_cause "..." --action "..."
local incidents = require "opsh.incidents"
local time = require "opsh.time"

return {
  description = "Post-incident review: an incident's record and timeline, and its lessons-learned record",
  categories = { "incident", "intrusive" },
  guide = { "maintenance-windows.9" },
  notes = "With --lesson, --root_cause or --action, adds them to the incident record in state_dir/incidents "
    .. "(nothing under --dry-run); otherwise changes nothing.",
  args = {
    { name = "id", help = "the incident (INC-...); none lists them all" },
    { name = "lesson", help = "the lesson learned" },
    { name = "root_cause", help = "the root cause, as found" },
    { name = "action", help = "the follow-up action" },
    { name = "by", help = "who wrote the review" },
  },
  run = function(args, ctx)
    if not args.id then
      local all, bad = incidents.list(false)
      for _, rec in ipairs(all) do
        local dur = (rec.resolved or time.now()) - rec.opened
        ctx[rec.status == "resolved" and "ok" or "warn"](ctx, "incident." .. rec.id,
          string.format("%s %s %s: %s (%s, %s%s)", rec.severity or "?", rec.type or "?", rec.status, rec.description,
            rec.opened_iso, rec.status == "resolved" and "resolved in " or "open for ", time.format_duration(dur)),
          { lessons = #(rec.lessons or {}) })
      end
      for _, b in ipairs(bad) do ctx:warn("incident." .. b.id, "unreadable record: " .. b.error) end
      return ctx:ok("incidents", #all .. " incident(s) in " .. incidents.dir(), { incidents = #all })
    end
    local rec, err = incidents.load(args.id)
    if not rec then return ctx:crit("incident.review", tostring(err)) end
    for _, e in ipairs(rec.timeline or {}) do
      ctx:ok("timeline." .. e.step, e.at .. " " .. tostring(e.status) .. ": " .. tostring(e.message))
    end
    local adding = args.lesson or args.root_cause or args.action
    if adding then
      if ctx.dry_run then return ctx:ok("incident.review", "would add the review to " .. rec.id) end
      local now = time.now()
      rec.lessons = rec.lessons or {}
      rec.lessons[#rec.lessons + 1] = { at = now, at_iso = time.iso(now), by = args.by, root_cause = args.root_cause,
        lesson = args.lesson, action = args.action }
      incidents.event(rec, "review", "ok", "lessons learned recorded" .. (args.by and (" by " .. args.by) or ""))
      incidents.save(rec)
      ctx:ok("incident.review", string.format("%s: review %d recorded%s%s%s", rec.id, #rec.lessons,
        args.root_cause and ("; root cause: " .. args.root_cause) or "", args.lesson and ("; lesson: " .. args.lesson) or "",
        args.action and ("; action: " .. args.action) or ""), { reviews = #rec.lessons })
    else
      local n = #(rec.lessons or {})
      ctx[n > 0 and "ok" or (rec.status == "resolved" and "warn" or "ok")](ctx, "incident.review",
        n > 0 and (n .. " review(s) recorded") or "no lessons learned recorded yet", { reviews = n })
    end
  end,
}
