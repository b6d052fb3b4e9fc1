--- opsh.coverage: which procedure does each item of the operations guide, as `opsh list --guide`
--- and docs/procedures.md show it. `local coverage = require "opsh.coverage"`.
---
--- The guide's items are the committed inventory (opsh.guide_items: every code-block step and
--- checklist line, section by section, with the tests that run them and where opsh differs); a
--- procedure claims the items it does by their ids in its `guide = {...}` metadata. An item is
--- covered (a procedure claims it), planned (another issue builds the procedure it names, or
--- this one has not built it yet: todo), or cannot be done here (and says why); anything else, and a claim of an id the inventory does
--- not have, is an error.
local items = require "opsh.guide_items"

local M = {}

local function slug(s) return (s:lower():gsub("[^a-z0-9]+", "-"):gsub("^%-+", ""):gsub("%-+$", "")) end

--- The items of a guide in Markdown, in order: {id =, section =, text =, line =, kind =}. The
--- rules the inventory was made with: each comment line of a bash block is a step (the script's
--- title beside its #!/bin/bash is not), a block without steps is one item named by the bold label
--- before it, and each list line outside the table of contents ("- [ ]" checklists, "- ", "1. ")
--- is an item. Ids are the lowest heading's slug and the item's number under it.
function M.extract(text)
  local out, heads, counts = {}, {}, {}
  local label, fence, block, bstart = nil, nil, nil, nil
  local function section()
    local parts = {}
    for lv = 2, 4 do if heads[lv] then parts[#parts + 1] = heads[lv] end end
    return table.concat(parts, " / ")
  end
  local function add(t, line, kind)
    local last
    for lv = 2, 4 do if heads[lv] then last = heads[lv] end end
    local s = last and slug(last) or "top"
    counts[s] = (counts[s] or 0) + 1
    out[#out + 1] = { id = s .. "." .. counts[s], section = section(), text = (t:gsub("^%s+", ""):gsub("%s+$", "")), line = line, kind = kind }
  end
  local n = 0
  for l in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    if l:sub(1, 3) == "```" then
      if not fence then
        fence, block, bstart = l:sub(4):match("^%s*(.-)%s*$"), {}, n
      else
        local steps = {}
        if fence == "bash" then
          local title = {}
          for i, b in ipairs(block) do
            if b.text:sub(1, 2) == "#!" then
              for _, j in ipairs { i - 1, i + 1 } do
                if block[j] and block[j].text:sub(1, 2) == "# " then title[j] = true end
              end
            end
          end
          for i, b in ipairs(block) do
            if b.text:sub(1, 2) == "# " and not title[i] then steps[#steps + 1] = b end
          end
        end
        if #steps > 0 then
          for _, b in ipairs(steps) do add(b.text:sub(3), b.line, "step") end
        else
          add((label or "code block") .. " (" .. (fence ~= "" and fence or "text") .. ")", bstart, "block")
        end
        fence, label = nil, nil
      end
    elseif fence then
      block[#block + 1] = { text = l, line = n }
    else
      local hashes, title = l:match("^(##?#?#?) (.*)$")
      if hashes and #hashes >= 2 then
        for lv = #hashes, 4 do heads[lv] = nil end
        heads[#hashes] = title:match("^(.-)%s*$")
        label = nil
      elseif l:match("^%*%*(.-)%*%*:?%s*$") then
        label = l:match("^%*%*(.-)%*%*")
      elseif heads[2] ~= "Table of Contents" then
        local rest = l:match("^%- %[ %] (.*)$")
        if rest then add(rest, n, "checklist")
        else
          rest = l:match("^%- (.*)$") or l:match("^%d+%. (.*)$")
          if rest then add(rest, n, "list") end
        end
      end
    end
  end
  return out
end

--- The coverage of the inventory by the procedures: rows in the guide's order, each
--- {item, procedures = {names}, tests = {names}, state = "covered"|"in progress"|"cannot"},
--- and the errors (strings). `catalog` is opsh.engine's catalog rows (name, guide, error).
function M.build(catalog)
  local by_id, errors = {}, {}
  for _, it in ipairs(items.items) do
    if by_id[it.id] then errors[#errors + 1] = "the inventory lists " .. it.id .. " twice" end
    by_id[it.id] = { item = it, procedures = {}, tests = {} }
  end
  local exists = {}
  for _, p in ipairs(catalog) do
    exists[p.name] = true
    for _, id in ipairs(p.guide or {}) do
      local row = by_id[id]
      if not row then
        errors[#errors + 1] = p.name .. " claims guide item " .. id .. ", which the guide does not have"
      else
        table.insert(row.procedures, p.name)
      end
    end
  end
  local rows = {}
  for _, it in ipairs(items.items) do
    local row = by_id[it.id]
    table.sort(row.procedures)
    local seen = {}
    for _, p in ipairs(row.procedures) do
      for _, t in ipairs(items.tests[p] or {}) do
        if not seen[t] then seen[t] = true; row.tests[#row.tests + 1] = t end
      end
      if not items.tests[p] then errors[#errors + 1] = p .. " claims " .. it.id .. " but no test is named for it (opsh.guide_items tests)" end
    end
    if #row.procedures > 0 then
      row.state = "covered"
    elseif it.planned then
      row.state = "in progress"
      if exists[it.planned] then
        errors[#errors + 1] = it.id .. " is planned for " .. it.planned .. ", which exists: it should claim the item"
      end
    elseif it.cannot then
      row.state = "cannot"
    else
      errors[#errors + 1] = "guide item " .. it.id .. " (" .. it.text .. ") has no procedure, no plan and no reason"
      row.state = "missing"
    end
    rows[#rows + 1] = row
  end
  for p in pairs(items.tests) do
    if not exists[p] then errors[#errors + 1] = "opsh.guide_items names tests for " .. p .. ", which is not a procedure" end
  end
  table.sort(errors)
  return rows, errors
end

local function cell(s) return (tostring(s or ""):gsub("|", "\\|"):gsub("\n", " ")) end

local function what(row)
  if row.state == "covered" then return table.concat(row.procedures, ", ") end
  if row.state == "in progress" then
    return string.format("%s: %s (issue %s)", row.item.planned, row.item.todo and "not built yet" or "in progress",
      tostring(row.item.issue or "?"))
  end
  if row.state == "cannot" then return "cannot be done here" end
  return "MISSING"
end

--- The coverage as Markdown: docs/procedures.md.
function M.markdown(rows)
  local out = {
    "# The operations guide, item by item",
    "",
    "Generated by `scripts/procedures-doc` (`opsh list --guide --markdown`) from the inventory in",
    "`stdlib/opsh/guide_items.lua` and each procedure's `guide = {...}` metadata: do not edit by hand.",
    "Every code-block step and checklist line of the operations guide has a row: the procedure that",
    "does it, the tests that run it, and where opsh does it differently from the guide, why.",
    "",
  }
  local counts = { covered = 0, ["in progress"] = 0, cannot = 0, missing = 0 }
  for _, r in ipairs(rows) do counts[r.state] = counts[r.state] + 1 end
  local todo = 0
  for _, r in ipairs(rows) do if r.state == "in progress" and r.item.todo then todo = todo + 1 end end
  out[#out + 1] = string.format("%d items: %d covered by a procedure, %d in progress in other issues, %d not built yet, %d that cannot be done here%s.",
    #rows, counts.covered, counts["in progress"] - todo, todo, counts.cannot, counts.missing > 0 and (", " .. counts.missing .. " MISSING") or "")
  local section
  for _, r in ipairs(rows) do
    if r.item.section ~= section then
      section = r.item.section
      out[#out + 1] = ""
      out[#out + 1] = "## " .. section
      out[#out + 1] = ""
      out[#out + 1] = "| item | guide | procedure | tests | where opsh differs, and why |"
      out[#out + 1] = "|---|---|---|---|---|"
    end
    local notes = r.item.differs or ""
    if r.state == "cannot" then notes = r.item.cannot end
    out[#out + 1] = string.format("| `%s` | %s (line %d) | %s | %s | %s |", r.item.id, cell(r.item.text), r.item.line,
      cell(what(r)), cell(table.concat(r.tests, ", ")), cell(notes))
  end
  return table.concat(out, "\n") .. "\n"
end

--- The coverage as text, one line per item, for a terminal.
function M.text(rows)
  local out, section = {}, nil
  for _, r in ipairs(rows) do
    if r.item.section ~= section then
      section = r.item.section
      out[#out + 1] = section
    end
    out[#out + 1] = string.format("  %-34s %-44s %s", r.item.id, r.item.text:sub(1, 44), what(r))
  end
  return table.concat(out, "\n") .. "\n"
end

return M
