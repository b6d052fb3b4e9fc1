---@meta
--- Messages to people: `local notify = require "opsh.notify"`. Slack-compatible incoming
--- webhooks and generic JSON webhooks, sent with retries (a 4xx other than 429 is final)
--- and backoff; a failure returns nil, err with err.code "notify" (or "not_configured")
--- and err.status. Under --dry-run nothing is sent: the result is {dry_run = true, would = ...}.
local notify = {}

--- A Slack message: notify.slack("Qdrant is down", {level = "critical", fields = {host = "db1"}}).
--- opts.url defaults to the slack_webhook_url setting (SLACK_WEBHOOK_URL).
---@param text string
---@param opts? {url?: string, level?: string, fields?: table, channel?: string, username?: string, retries?: integer, timeout?: number}
---@return {status: integer, attempts: integer}|nil, table? err
function notify.slack(text, opts) end

--- Any JSON payload to a webhook.
---@param url string
---@param payload any
---@param opts? {retries?: integer, timeout?: number, headers?: table, backoff?: number}
---@return {status: integer, attempts: integer}|nil, table? err
function notify.webhook(url, payload, opts) end

--- A report (as opsh builds it: script, status, checks) as one Slack message listing the checks that are not OK.
---@return {status: integer, attempts: integer}|nil, table? err
function notify.report(rep, opts) end

return notify
