-- An agent with a tool and a model written in Lua: runs offline, no API key needed.
--
--   orbiter run examples/calculator.lua "What is 2 + 40?"
local orbiter = require "orbiter"

local add = orbiter.tool {
  name = "add",
  description = "Add two integers",
  parameters = { a = "integer", b = { type = "integer", description = "second addend" } },
  run = function(args) return args.a + args.b end,
}

-- A scripted model: asks for the tool once, then answers with its result.
local scripted = orbiter.model {
  name = "scripted",
  respond = function(request)
    local last = request.messages[#request.messages]
    if last.role == "tool" then
      return { content = { "The answer is ", last.content, "." }, usage = { input_tokens = 12, output_tokens = 6 } }
    end
    local a, b = last.content:match("(%-?%d+)%s*%+%s*(%-?%d+)")
    if not a then return "Ask me to add two numbers, like \"2 + 40\"." end
    return {
      tool_calls = { { name = "add", arguments = { a = tonumber(a), b = tonumber(b) } } },
      usage = { input_tokens = 10, output_tokens = 3 },
    }
  end,
}

return orbiter.agent {
  name = "calculator",
  model = scripted,
  instructions = "You add numbers with the add tool.",
  tools = { add },
  max_steps = 5,
}
