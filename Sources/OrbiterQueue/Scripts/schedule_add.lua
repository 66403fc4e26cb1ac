-- schedule_add: stores a schedule's definition and its first tick, in one step.
--
-- KEYS[1] schedules zset   {orbiter:Q}:schedules   (member: name, score: next tick, ms since 1970)
-- KEYS[2] schedule hash    {orbiter:Q}:schedule:<name>
-- ARGV[1] name
-- ARGV[2] "1" to replace a schedule of that name, "0" to refuse it
-- ARGV[3] first tick, ms since 1970
-- ARGV[4..] field, value pairs of the definition (the hash is replaced whole, so no runtime
--           field of an earlier schedule of that name survives)
-- Returns "added" or "replaced"; or the error "EXISTS <name>" (nothing changed).
local existed = redis.call('EXISTS', KEYS[2]) == 1 or redis.call('ZSCORE', KEYS[1], ARGV[1]) ~= false
if existed and ARGV[2] ~= '1' then return redis.error_reply('EXISTS ' .. ARGV[1]) end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], unpack(ARGV, 4))
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
if existed then return 'replaced' end
return 'added'
