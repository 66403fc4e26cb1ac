-- A tool-using agent on a real model and a real weather API (Open-Meteo: free, no key). Needs
-- OPENAI_API_KEY (or OPENAI_BASE_URL for any OpenAI-compatible server); change `model` for
-- another provider.
--
--   orbiter run examples/weather.lua "Weather in Paris?"
--
-- On a worker the tool's requests need `orbiter start worker --allow-host geocoding-api.open-meteo.com
-- --allow-host api.open-meteo.com` (shipped scripts reach only the hosts a worker allows).
local orbiter = require "orbiter"
local open_meteo = require "lib.open_meteo"

-- os.getenv exists where you run the script, not on workers (they run it sandboxed), so ask for
-- it only where it is there. OPEN_METEO_URL points both APIs elsewhere (the tests use it).
local getenv = os.getenv or function() return nil end

local get_weather = orbiter.tool {
  name = "get_weather",
  description = "Current weather for a city",
  parameters = { city = { type = "string", description = "City name" } },
  run = function(args)
    -- The requests yield: other tools, tasks and agents go on while they wait.
    return open_meteo.current(args.city, getenv("OPEN_METEO_URL"))
  end,
}

return orbiter.agent {
  name = "assistant",
  model = getenv("ORBITER_MODEL") or "openai:gpt-4o-mini",
  instructions = "You are a helpful assistant. Use get_weather for weather questions.",
  tools = { get_weather },
  max_steps = 10,
}
