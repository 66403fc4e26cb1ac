-- A client of the Open-Meteo API (https://open-meteo.com, free, no key): a city's coordinates
-- from its geocoding API, then the current weather there. Required by weather.lua, so it travels
-- with the script in its bundle. `base` replaces both API hosts (tests point it at a local server).
local orbiter = require "orbiter"
local M = {}

local GEOCODING = "https://geocoding-api.open-meteo.com"
local FORECAST = "https://api.open-meteo.com"

-- WMO weather interpretation codes, as Open-Meteo documents them.
local CODES = {
  [0] = "clear sky", [1] = "mainly clear", [2] = "partly cloudy", [3] = "overcast", [45] = "fog", [48] = "rime fog",
  [51] = "light drizzle", [53] = "drizzle", [55] = "dense drizzle", [61] = "light rain", [63] = "rain", [65] = "heavy rain",
  [71] = "light snow", [73] = "snow", [75] = "heavy snow", [80] = "rain showers", [95] = "thunderstorm",
}

--- The current weather in `city` as one line, or an error the model sees.
function M.current(city, base)
  local place = orbiter.http.get((base or GEOCODING) .. "/v1/search", { query = { name = city, count = 1 }, timeout = 10 })
  if place.status ~= 200 then error(("geocoding answered HTTP %d"):format(place.status)) end
  local found = (place:json().results or {})[1]
  if not found then return "No place called " .. city .. " is known to the geocoder." end
  local r = orbiter.http.get((base or FORECAST) .. "/v1/forecast", {
    query = { latitude = found.latitude, longitude = found.longitude,
              current = "temperature_2m,wind_speed_10m,weather_code" },
    timeout = 10,
  })
  if r.status ~= 200 then error(("the forecast API answered HTTP %d"):format(r.status)) end
  local now, units = r:json().current, r:json().current_units or {}
  return ("%s, %s: %s, %s %s, wind %s %s"):format(found.name, found.country or "?",
    CODES[now.weather_code] or ("weather code " .. tostring(now.weather_code)),
    now.temperature_2m, units.temperature_2m or "°C", now.wind_speed_10m, units.wind_speed_10m or "km/h")
end

return M
