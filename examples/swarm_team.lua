-- A team swarm that runs offline: the lead delegates to a coder and a reviewer, then reports.
--
--   orbiter run --detailed examples/swarm_team.lua "a function that greets"
local orbiter = require "orbiter"

local lead_model = orbiter.model { name = "lead", respond = function(request)
  local last = request.messages[#request.messages]
  if last.role == "user" then
    return { tool_calls = {
      { name = "delegate_to_coder", arguments = { task = "Write " .. last.content } },
      { name = "delegate_to_reviewer", arguments = { task = "Review " .. last.content } },
    } }
  end
  local results = {}
  for _, m in ipairs(request.messages) do
    if m.role == "tool" then results[#results + 1] = m.content end
  end
  return "Done. " .. table.concat(results, " ")
end }

local coder = orbiter.agent { name = "coder", model = orbiter.model { name = "code", respond = function(request)
  return "[code: " .. request.messages[#request.messages].content .. "]"
end } }
local reviewer = orbiter.agent { name = "reviewer", model = orbiter.model { name = "review", respond = function(request)
  return "[review: looks good]"
end } }
local lead = orbiter.agent { name = "lead", model = lead_model, instructions = "You lead a small team." }

return orbiter.swarm { name = "team", agents = { lead, coder, reviewer }, mode = "team" }
