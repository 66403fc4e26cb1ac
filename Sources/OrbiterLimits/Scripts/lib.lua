-- lib.lua: functions every limiter script starts with (LimitScripts puts this file in front of
-- each one; Redis scripts have no includes).

-- Now in milliseconds of the Redis server's clock (workers' clocks never count).
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end

-- A finite number, or nil for anything else (text, NaN, infinities).
local function finite(v)
  local n = tonumber(v)
  if n == nil or n ~= n or n == math.huge or n == -math.huge then return nil end
  return n
end

-- The limit hash as a table, or nil when the limit does not exist (removed meanwhile).
local function read_limit(key)
  local raw = redis.call('HGETALL', key)
  if #raw == 0 then return nil end
  local h = {}
  for i = 1, #raw, 2 do h[raw[i]] = raw[i + 1] end
  return h
end

-- The limit's period in ms; a stored value out of range reads as the default minute.
local function period_of(h)
  local period = finite(h.period_ms)
  if period == nil or period <= 0 or period > 86400000 then return 60000 end
  return period
end
