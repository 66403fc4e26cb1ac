-- A handoff swarm that runs offline: triage hands billing questions to the billing agent.
--
--   orbiter run --detailed examples/swarm_handoff.lua "I was charged twice"
local orbiter = require "orbiter"

local triage_model = orbiter.model { name = "triage", respond = function(request)
  local question = request.messages[#request.messages].content:lower()
  if question:find("charge") or question:find("refund") then
    return { tool_calls = { { name = "transfer_to_billing", arguments = {} } } }
  end
  return "I can help with that: try turning it off and on again."
end }

local billing_model = orbiter.model { name = "billing", respond = function(request)
  -- The whole conversation came along with the handoff.
  local first = request.messages[2] and request.messages[2].content or "?"
  return ("Billing here. About \"%s\": a refund is on its way."):format(first)
end }

local billing = orbiter.agent { name = "billing", model = billing_model, instructions = "You handle payments." }
local triage = orbiter.agent { name = "triage", model = triage_model, handoffs = { billing } }

return orbiter.swarm { name = "support", agents = { triage, billing }, mode = "handoff", max_handoffs = 3 }
