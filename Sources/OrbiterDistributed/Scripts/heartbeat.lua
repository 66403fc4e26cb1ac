-- heartbeat: a worker says it is alive, with what it is doing.
--
-- KEYS[1] worker hash   {orbiter:Q}:worker:<id>
-- KEYS[2] workers zset  {orbiter:Q}:workers   (worker id scored by last heartbeat, ms)
-- ARGV[1] worker id
-- ARGV[2] now, milliseconds since 1970
-- ARGV[3] heartbeat TTL seconds
-- ARGV[4..] field, value pairs (status, tasks_processed, tasks_failed, current_tasks, ...)
-- Forgets workers silent for a day, so the set does not grow without bound. Returns 1.
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], 'last_heartbeat', ARGV[2], 'heartbeat_ttl', ARGV[3], unpack(fields))
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[2]) - 86400000)
return 1
