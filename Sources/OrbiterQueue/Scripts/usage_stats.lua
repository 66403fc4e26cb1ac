-- usage_stats: tokens and cost per model over the last hour, summed from the per-minute usage
-- hashes finish.lua writes (`orbiter queue stats`).
--
-- KEYS[1] this minute's usage hash {orbiter:Q}:usage:<minute> (routes the call to the queue's
--         slot); the other 59 are built from the prefix ARGV[2] (same hash tag, as in stats.lua)
-- ARGV[1] now, milliseconds since 1970
-- ARGV[2] key prefix {orbiter:Q}:
-- Returns a flat list field, value, ... of the sums (in:<model>, out:<model>, cost:<model>,
-- tasks:<model>, unpriced:<model>); costs as strings.
local now_minute = math.floor(tonumber(ARGV[1]) / 60000)
local sums, order = {}, {}
for m = now_minute - 59, now_minute do
  local h = redis.call('HGETALL', ARGV[2] .. 'usage:' .. m)
  for i = 1, #h, 2 do
    if sums[h[i]] == nil then
      sums[h[i]] = 0
      order[#order + 1] = h[i]
    end
    sums[h[i]] = sums[h[i]] + tonumber(h[i + 1])
  end
end
local out = {}
for _, field in ipairs(order) do
  out[#out + 1] = field
  out[#out + 1] = string.format('%.17g', sums[field])
end
return out
