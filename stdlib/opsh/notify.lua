--- opsh.notify: messages to people: Slack-compatible incoming webhooks and generic JSON
--- webhooks, with retries and a clear error. `local notify = require "opsh.notify"`.
local http = require "opsh.http"
local config = require "opsh.config"
local opsh = require "opsh"
local log = require "opsh.log"

local M = {}

M.LEVEL_EMOJI = { ok = ":white_check_mark:", info = ":information_source:", warning = ":warning:",
  critical = ":rotating_light:", unknown = ":grey_question:" }

local function post_with_retries(url, payload, opts)
  opts = opts or {}
  local attempts = (opts.retries or 3) + 1
  local last
  for attempt = 1, attempts do
    local r, err = http.post(url, { json = payload, timeout = opts.timeout or 10, retries = 0,
      headers = opts.headers })
    if r then
      if r.dry_run then return r end
      return { status = r.status, attempts = attempt }
    end
    last = err
    -- a 4xx other than 429 will not get better by trying again
    local status = err.status
    if status and status >= 400 and status < 500 and status ~= 429 then break end
    if attempt < attempts then opsh.sleep((opts.backoff or 0.5) * 2 ^ (attempt - 1)) end
  end
  return nil, opsh.error("notify", "notification not delivered: " .. tostring(last),
    { status = last and last.status, cause = last })
end

--- Sends a Slack-compatible message. text is the message; opts.url defaults to the
--- configured slack_webhook_url; opts.level (ok|info|warning|critical) adds an emoji;
--- opts.fields = {name = value} adds a short list; opts.channel/username pass through.
---@return table|nil result, table? err
function M.slack(text, opts)
  assert(type(text) == "string", "bad argument #1 to 'slack' (string expected)")
  opts = opts or {}
  local url = opts.url or config.get("slack_webhook_url")
  if not url then
    return nil, opsh.error("not_configured", "no Slack webhook: set slack_webhook_url (SLACK_WEBHOOK_URL) or pass url")
  end
  local prefix = opts.level and M.LEVEL_EMOJI[opts.level] and (M.LEVEL_EMOJI[opts.level] .. " ") or ""
  local lines = { prefix .. text }
  if opts.fields then
    local keys = {}
    for k in pairs(opts.fields) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do lines[#lines + 1] = string.format("• *%s*: %s", k, tostring(opts.fields[k])) end
  end
  local payload = { text = table.concat(lines, "\n") }
  if opts.channel then payload.channel = opts.channel end
  if opts.username then payload.username = opts.username end
  local r, err = post_with_retries(url, payload, opts)
  if not r then log.warn("Slack notification failed", { error = err.message }) end
  return r, err
end

--- Posts any JSON payload to a webhook URL, with retries.
---@return table|nil result, table? err
function M.webhook(url, payload, opts)
  assert(type(url) == "string", "bad argument #1 to 'webhook' (string expected)")
  return post_with_retries(url, payload, opts)
end

--- Sends a procedure's report: one line per check that is not OK (or all with opts.all).
function M.report(rep, opts)
  opts = opts or {}
  local lines = {}
  for _, c in ipairs(rep.checks or {}) do
    if opts.all or c.status ~= "ok" then
      lines[#lines + 1] = string.format("[%s] %s: %s", c.status:upper(), c.name, c.message or "")
    end
  end
  local text = string.format("%s: %s", rep.script or "opsh", (rep.status or "unknown"):upper())
  if #lines > 0 then text = text .. "\n" .. table.concat(lines, "\n") end
  return M.slack(text, { url = opts.url, level = rep.status, retries = opts.retries, timeout = opts.timeout })
end

return M
