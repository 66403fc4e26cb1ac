-- tenant_charge: adds one model call's spend to the tenant's counter for the day (UTC).
--
-- KEYS[1] spend hash   {orbiter:tenants}:spend:<tenant>:<yyyymmdd UTC>
-- ARGV[1] tokens of the call (integer, 0 or more)
-- ARGV[2] cost of the call in USD, or "" when the model has no price (counted in `unpriced_calls`)
-- ARGV[3] TTL seconds of the day's counter (kept a little past the day, for `budget list`)
-- Returns {spent cost, spent tokens} after the charge.
local tokens = redis.call('HINCRBY', KEYS[1], 'tokens', ARGV[1])
local cost
if ARGV[2] == '' then
  redis.call('HINCRBY', KEYS[1], 'unpriced_calls', 1)
  cost = redis.call('HGET', KEYS[1], 'cost') or '0'
else
  cost = redis.call('HINCRBYFLOAT', KEYS[1], 'cost', ARGV[2])
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {cost, tokens}
