-- A workflow swarm that runs offline: two researchers work in parallel, a writer joins their notes.
--
--   orbiter run --detailed examples/swarm_workflow.lua "tide pools"
local orbiter = require "orbiter"

-- A model that answers with a fixed prefix and the input it was given (after a short pause, so
-- the parallel stage visibly overlaps).
local function echo_model(name, prefix)
  return orbiter.model { name = name, respond = function(request)
    orbiter.sleep(0.2)
    return prefix .. request.messages[#request.messages].content
  end }
end

local biologist = orbiter.agent { name = "biologist", model = echo_model("bio", "Biology notes on: ") }
local historian = orbiter.agent { name = "historian", model = echo_model("hist", "History notes on: ") }
local writer = orbiter.agent { name = "writer", model = orbiter.model { name = "write", respond = function(request)
  local notes = request.messages[#request.messages].content
  return "An article built from:\n" .. notes
end } }

return orbiter.swarm {
  name = "newsroom",
  agents = { biologist, historian, writer },
  mode = "workflow",
  flow = "(biologist | historian) >> writer",
}
