-- The chaos test's task: a scripted model that sleeps 50–500 ms, then answers with its input.
local orbiter = require "orbiter"

local sleepy = orbiter.model { name = "sleepy", respond = function(request)
  orbiter.sleep(math.random(50, 500) / 1000)
  return "done " .. request.messages[#request.messages].content
end }

return orbiter.agent { name = "sleepy", model = sleepy }
