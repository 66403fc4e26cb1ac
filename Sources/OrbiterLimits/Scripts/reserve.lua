-- reserve.lua: books room for one model call under a shared limit, or says how long until it fits.
-- GCRA, one theoretical arrival time (tat_<dim>, ms of server time) per limited dimension:
-- rpm (1 per call), itpm (input tokens), otpm (output tokens), tpm (input + output). A limit L
-- per period P spaces units T = P / L apart and lets 90 % of a period's worth go at once (the
-- burst tolerance B = 0.9 P: the 10 % kept back absorbs calls that reach the provider later than
-- booked while its bucket was full). A call of cost c may start at max(now, tat + c*T - B) for
-- every dimension, and not before blocked_until
-- (a 429's retry-after, penalize.lua). The booking is made at once for that start time, so callers
-- queue in time (fair, one round trip each) and sleep outside Redis until their start.
-- KEYS[1] the limit of the model with its key name ({orbiter:limits}:m:<provider:model#KEY>)
-- KEYS[2] the model's own limit ({orbiter:limits}:m:<provider:model>); may equal KEYS[1]
-- ARGV[1] input tokens (an estimate; settle.lua corrects it)
-- ARGV[2] output tokens (max_tokens; 0 = the limit's out_est, else 1024)
-- ARGV[3] the longest wait the caller accepts, ms: a call that would start later is not booked
-- Returns {0} no limit for this model; {1, wait_ms, which key (1|2), input, output, dim} booked;
-- {2, wait_ms, dim} not booked (wait too long); {3, dim, cost, limit} never fits (cost > 0.9 limit).
-- An error reply names a limit field that is not a positive number.
local now = now_ms()
local key, chosen = KEYS[1], 1
local raw = redis.call('HGETALL', key)
if #raw == 0 and KEYS[2] ~= KEYS[1] then
  key, chosen = KEYS[2], 2
  raw = redis.call('HGETALL', key)
end
if #raw == 0 then return {0} end
local h = {}
for i = 1, #raw, 2 do h[raw[i]] = raw[i + 1] end

local function positive(field, max)
  local v = h[field]
  if v == nil or v == '' then return nil end
  local n = tonumber(v)
  if n == nil or n ~= n or n < 1 or n > max then
    return nil, 'limit ' .. key .. ': field ' .. field .. ' holds "' .. string.sub(v, 1, 40) ..
      '", not a number from 1 to ' .. string.format('%.0f', max) .. '; fix it with orbiter limits set'
  end
  return n
end
-- A stored time that is not a number, or absurdly far ahead, counts as now (an empty bucket
-- would be the safe reading too, but a corrupt value must not stop a model for days).
local function stamp(v, horizon)
  local n = tonumber(v)
  if n == nil or n ~= n or n < now or n > now + horizon then return now end
  return n
end

local period, err = positive('period_ms', 86400000)
if err then return redis.error_reply(err) end
period = period or 60000
local estimate
estimate, err = positive('out_est', 1e9)
if err then return redis.error_reply(err) end

local input = math.max(0, tonumber(ARGV[1]) or 0)
local output = math.max(0, tonumber(ARGV[2]) or 0)
if output == 0 then output = estimate or 1024 end
local maxwait = tonumber(ARGV[3]) or 0
local cost = {rpm = 1, itpm = input, otpm = output, tpm = input + output}

local burst = period * 0.9
local start, why = now, 'none'
local blocked = stamp(h.blocked_until, 3600000)
if blocked > start then start, why = blocked, 'retry_after' end
local spacing, tat = {}, {}
for _, d in ipairs({'rpm', 'itpm', 'otpm', 'tpm'}) do
  local limit
  limit, err = positive(d, 1e12)
  if err then return redis.error_reply(err) end
  if limit then
    spacing[d] = period / limit
    if cost[d] * spacing[d] > burst then return {3, d, cost[d], limit} end
    tat[d] = stamp(h['tat_' .. d], period + 7200000)
    local s = tat[d] + cost[d] * spacing[d] - burst
    if s > start then start, why = s, d end
  end
end
if next(spacing) == nil then return {0} end
local wait = start - now
if wait > maxwait then return {2, math.ceil(wait), why} end
for d, step in pairs(spacing) do
  local base = tat[d]
  if start > base then base = start end
  redis.call('HSET', key, 'tat_' .. d, string.format('%.3f', base + cost[d] * step))
end
return {1, math.ceil(wait), chosen, input, output, why}
