-- tenant_remove: removes a tenant's daily budget (`orbiter budget remove`); its spend counters
-- stay until they expire.
--
-- KEYS[1] tenant names set   {orbiter:tenants}:names
-- KEYS[2] budget hash        {orbiter:tenants}:budget:<tenant>
-- ARGV[1] tenant name
-- Returns 1 when a budget was removed, 0 when the tenant had none.
local removed = redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[1], ARGV[1])
return removed
