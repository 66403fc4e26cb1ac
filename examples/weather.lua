-- A tool-using agent on a real model. Needs OPENAI_API_KEY (or OPENAI_BASE_URL for any
-- OpenAI-compatible server); change `model` for another provider.
--
--   orbiter run examples/weather.lua "Weather in Paris?"
local orbiter = require "orbiter"
local cities = require "lib.cities"

local get_weather = orbiter.tool {
  name = "get_weather",
  description = "Current weather for a city",
  parameters = { city = { type = "string", description = "City name" } },
  run = function(args)
    orbiter.sleep(0.05) -- pretend to call a weather service; never blocks other tools
    return cities.forecast(args.city)
  end,
}

return orbiter.agent {
  name = "assistant",
  -- os.getenv exists where you run the script, not on workers (they run it sandboxed and take
  -- the model from the task), so ask for it only where it is there.
  model = (os.getenv and os.getenv("ORBITER_MODEL")) or "openai:gpt-4o-mini",
  instructions = "You are a helpful assistant. Use get_weather for weather questions.",
  tools = { get_weather },
  max_steps = 10,
}
