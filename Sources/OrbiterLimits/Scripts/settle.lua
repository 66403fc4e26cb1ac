-- settle.lua: corrects a booking once the call's real use is known (refund or extra charge).
-- KEYS[1] the limit hash the booking was made in ({orbiter:limits}:m:<name>)
-- ARGV[1] requests, ARGV[2] input tokens, ARGV[3] output tokens: booked minus used, per kind
--         (positive gives room back, negative takes more)
-- Returns the number of dimensions changed; 0 when the limit was removed meanwhile.
local now = now_ms()
local h = read_limit(KEYS[1])
if h == nil then return 0 end
local number = finite
local period = period_of(h)
local dr, di, dout = number(ARGV[1]) or 0, number(ARGV[2]) or 0, number(ARGV[3]) or 0
local delta = {rpm = dr, itpm = di, otpm = dout, tpm = di + dout}
local changed = 0
for d, amount in pairs(delta) do
  local limit = number(h[d])
  if limit and limit > 0 and amount ~= 0 then
    local tat = number(h['tat_' .. d])
    if tat == nil or tat < now or tat > now + period + 7200000 then tat = now end
    tat = tat - amount * period / limit
    if tat < now then tat = now end
    redis.call('HSET', KEYS[1], 'tat_' .. d, string.format('%.3f', tat))
    changed = changed + 1
  end
end
return changed
