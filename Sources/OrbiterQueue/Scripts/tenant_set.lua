-- tenant_set: sets (or replaces) a tenant's daily budget (`orbiter budget set`).
--
-- KEYS[1] tenant names set   {orbiter:tenants}:names
-- KEYS[2] budget hash        {orbiter:tenants}:budget:<tenant>
-- ARGV[1] tenant name
-- ARGV[2] cost_per_day in USD, or "" for no cost limit
-- ARGV[3] tokens_per_day, or "" for no token limit
-- Returns 1 when the tenant had no budget before, 0 when one was replaced.
local existed = redis.call('EXISTS', KEYS[2])
redis.call('DEL', KEYS[2])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[2], 'cost_per_day', ARGV[2]) end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[2], 'tokens_per_day', ARGV[3]) end
redis.call('SADD', KEYS[1], ARGV[1])
return 1 - existed
