-- tenant_check: a tenant's daily limits and what it spent today, read in one step (before each
-- model call of a task that names the tenant).
--
-- Tenant keys live under their own hash tag {orbiter:tenants} (a tenant's budget spans queues).
-- KEYS[1] budget hash   {orbiter:tenants}:budget:<tenant>   (cost_per_day, tokens_per_day)
-- KEYS[2] spend hash    {orbiter:tenants}:spend:<tenant>:<yyyymmdd UTC>   (cost, tokens)
-- Returns {cost_per_day or "", tokens_per_day or "", spent cost or "0", spent tokens or "0"}.
local limits = redis.call('HMGET', KEYS[1], 'cost_per_day', 'tokens_per_day')
local spent = redis.call('HMGET', KEYS[2], 'cost', 'tokens')
return {limits[1] or '', limits[2] or '', spent[1] or '0', spent[2] or '0'}
