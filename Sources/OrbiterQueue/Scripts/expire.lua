-- expire: a parked task whose wait deadline passed without a reply fails (`InputTimeout`).
--
-- Called by a worker's sweep for each task of the waiting set whose deadline has come; with
-- several workers sweeping, the first call does it and the others find nothing to do. Like any
-- failure it gets an `error` event and its one terminal event (with the outcome), is
-- dead-lettered, counted and given its TTLs.
-- KEYS[1] task hash      {orbiter:Q}:task:<id>
-- KEYS[2] events stream  {orbiter:Q}:events:<id>
-- KEYS[3] waiting zset   {orbiter:Q}:waiting
-- KEYS[4] dead letters   {orbiter:Q}:dead
-- KEYS[5] per-minute counter of failures {orbiter:Q}:count:failed:<minute>, kept 2 h
-- ARGV[1] task id
-- ARGV[2] now, milliseconds since 1970
-- ARGV[3] error message
-- ARGV[4] `error` event JSON (error_type InputTimeout)
-- ARGV[5] terminal `status error` event JSON
-- ARGV[6] task TTL seconds
-- ARGV[7] events TTL seconds
-- Returns 1 when the task failed now, 0 when there was nothing to do (answered, cancelled, not due).
local deadline = redis.call('ZSCORE', KEYS[3], ARGV[1])
if not deadline or tonumber(deadline) > tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[3], ARGV[1])
local state = redis.call('HMGET', KEYS[1], 'status', 'attempts')
if state[1] ~= 'waiting' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'failed', 'completed_at', ARGV[2], 'error', ARGV[3])
redis.call('HDEL', KEYS[1], 'pending')
redis.call('XADD', KEYS[2], '*', 'event', ARGV[4])
redis.call('XADD', KEYS[2], '*', 'event', ARGV[5], 'outcome', 'failed', 'error', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[7])
if redis.call('INCR', KEYS[5]) == 1 then
  redis.call('EXPIRE', KEYS[5], 7200)
end
redis.call('XADD', KEYS[4], 'MAXLEN', '~', 10000, '*', 'task', ARGV[1], 'reason', ARGV[3],
  'attempts', state[2] or '0', 'at', ARGV[2])
return 1
