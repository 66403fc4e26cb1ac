-- Human in the loop: a person approves each refund, and a tool asks a person what it needs to know.
-- Runs offline with a model written in Lua; set ORBITER_MODEL (e.g. openai:gpt-4o-mini, with its
-- API key) for a real one.
--
--   orbiter run examples/approval.lua "Refund 30"          # approve refund {"amount": 30}? [y/N]
--   orbiter run examples/approval.lua "I want a refund"    # ask_amount asks: How much should be refunded?
--   orbiter run --approve-all examples/approval.lua "Refund 30"   # no terminal needed
--
-- On a worker the task parks instead (status `waiting`, holding no worker) until a person replies:
--   ID=$(orbiter submit examples/approval.lua "Refund 30")
--   orbiter task list --status waiting
--   orbiter task approve $ID          # or: orbiter task reject $ID --reason "too much"
--   orbiter task result $ID
local orbiter = require "orbiter"

local getenv = os.getenv or function() return nil end   -- os.getenv is not there on workers
local chosen = getenv("ORBITER_MODEL")
if chosen == "" then chosen = nil end

-- approval = true: every call waits for a person's yes; a "no" reaches the model as the failed
-- result "rejected: <reason>".
local refund = orbiter.tool {
  name = "refund", description = "Refund an amount to the customer",
  parameters = { amount = "number" },
  approval = true,
  run = function(args) return string.format("refunded %g", args.amount) end,
}

-- orbiter.ask waits for a person's answer. After a task parked, the tool runs again from its
-- start and its questions are answered in order from what was said: ask before acting.
local ask_amount = orbiter.tool {
  name = "ask_amount", description = "Ask the customer how much to refund",
  run = function()
    local answer = orbiter.ask("How much should be refunded?")
    local amount = tonumber(answer:match("%d+%.?%d*"))
    if not amount then error("not an amount: " .. answer) end
    return { amount = amount }
  end,
}

-- The offline model: refunds the amount in the message, or asks for one first.
local clerk = orbiter.model {
  name = "clerk",
  respond = function(request)
    local last = request.messages[#request.messages]
    if last.role == "tool" and last.name == "ask_amount" then
      local ok, value = pcall(orbiter.json.decode, last.content)
      if not ok then return "I could not tell how much to refund (" .. last.content .. ")." end
      return { tool_calls = { { name = "refund", arguments = { amount = value.amount } } } }
    end
    if last.role == "tool" then
      if last.content:find("^Error: ") then return "No refund: " .. last.content:sub(8) .. "." end
      return "Done: " .. last.content .. "."
    end
    local amount = tonumber(last.content:match("%d+%.?%d*"))
    if not amount then return { tool_calls = { { name = "ask_amount", arguments = {} } } } end
    return { tool_calls = { { name = "refund", arguments = { amount = amount } } } }
  end,
}

return orbiter.agent {
  name = "support",
  model = chosen or clerk,
  instructions = "You handle refunds. Ask for the amount with ask_amount when the customer gives none, then refund it.",
  tools = { refund, ask_amount },
  max_steps = 5,
}
