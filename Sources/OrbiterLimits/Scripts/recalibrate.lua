-- recalibrate.lua: tightens the buckets to what the provider says is left (rate-limit headers).
-- Only ever tightens: other workers' calls in flight may not be counted by the provider yet.
-- Left R of limit L means room for at most R units now: tat >= now + B - R*T (B = 0.9 P, reserve.lua).
-- KEYS[1] the limit hash ({orbiter:limits}:m:<name>)
-- ARGV triples: dim (rpm|itpm|otpm|tpm), remaining (units left now), reset_ms (-1 unknown)
-- A dimension left at 0 with a reset also holds calls back until min(reset, one unit's spacing).
-- Returns the number of dimensions tightened.
local now = now_ms()
local h = read_limit(KEYS[1])
if h == nil then return 0 end
local number = finite
local period = period_of(h)
local tightened = 0
for i = 1, #ARGV - 2, 3 do
  local d, remaining, reset = ARGV[i], number(ARGV[i + 1]), number(ARGV[i + 2]) or -1
  local limit = number(h[d])
  if limit and limit > 0 and remaining and (d == 'rpm' or d == 'itpm' or d == 'otpm' or d == 'tpm') then
    if remaining < 0 then remaining = 0 end
    if remaining < limit then
      local spacing = period / limit
      local floor = now + period * 0.9 - remaining * spacing
      local tat = number(h['tat_' .. d])
      if tat == nil or tat < now or tat > now + period + 7200000 then tat = now end
      if floor > tat then
        redis.call('HSET', KEYS[1], 'tat_' .. d, string.format('%.3f', floor))
        tightened = tightened + 1
      end
      if remaining < 1 and reset > 0 then
        local hold = now + math.min(reset, spacing, 3600000)
        local blocked = number(h.blocked_until)
        if blocked == nil or blocked > now + 3600000 or hold > blocked then
          redis.call('HSET', KEYS[1], 'blocked_until', string.format('%.3f', hold))
        end
      end
    end
  end
end
return tightened
