-- schedule_remove: deletes a schedule; no worker fires it afterwards.
--
-- KEYS[1] schedules zset   {orbiter:Q}:schedules
-- KEYS[2] schedule hash    {orbiter:Q}:schedule:<name>
-- ARGV[1] name
-- Returns 1 when there was such a schedule, else 0.
local removed = redis.call('ZREM', KEYS[1], ARGV[1]) + redis.call('DEL', KEYS[2])
if removed > 0 then return 1 end
return 0
